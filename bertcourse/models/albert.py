"""ALBERT: factorised embeddings (V x E + E x H) and one layer shared across the depth.

Lan et al. (2020), "ALBERT: A Lite BERT for Self-supervised Learning of
Language Representations". Two parameter cuts and one new objective: the
token table is V x E with a small E, projected to H; a single BertLayer is
applied num_hidden_layers times; sentence-order prediction (SOP) replaces NSP.

Shape letters: B batch, T sequence, V vocabulary, E embedding size, H hidden size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .bert import BertConfig, BertEmbeddings, BertLayer, BertPooler, check_inputs, init_weights
from .counting import bert_parameter_count
from .heads import BertNSPHead
from .renaming import load_renamed


class FactorizedEmbedding(nn.Module):
    """Token embeddings factorised as a V x E table followed by an E -> H projection.

    Submodules: ``word_embeddings`` (``nn.Embedding(vocab_size, embedding_size)``) and
    ``projection`` (``nn.Linear(embedding_size, hidden_size)``, with bias).
    ``forward(input_ids)`` maps (B, T) integer ids to (B, T, hidden_size):
    ``projection(word_embeddings(input_ids))``. Parameters: V·E + E·H + H instead of V·H.

    Taught in book/ch3_variants/albert.md.
    """

    def __init__(self, vocab_size: int, embedding_size: int, hidden_size: int):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, embedding_size)
        self.projection = nn.Linear(embedding_size, hidden_size)

    def forward(self, input_ids):
        """input_ids (B, T) -> (B, T, H)."""
        return self.projection(self.word_embeddings(input_ids))  # (B, T, E) -> (B, T, H)


class SharedLayerEncoder(nn.Module):
    """One layer applied ``num_layers`` times: ALBERT's cross-layer parameter sharing.

    ``forward(hidden_states, attention_mask=None)`` calls the given ``layer`` as
    ``layer(hidden_states, attention_mask)`` ``num_layers`` times, feeding each
    output into the next call, and returns the last output (the input itself when
    ``num_layers`` is 0). The encoder holds that one layer, not copies: its
    parameters are the layer's parameters (the same tensors, so the count is the
    layer's), and changing the layer's weights changes the encoder.

    Taught in book/ch3_variants/albert.md.
    """

    def __init__(self, layer: nn.Module, num_layers: int):
        super().__init__()
        self.layer = layer
        self.num_layers = num_layers

    def forward(self, hidden_states, attention_mask=None):
        """hidden_states (B, T, H), attention_mask (B, T) or None -> (B, T, H)."""
        for _ in range(self.num_layers):
            hidden_states = self.layer(hidden_states, attention_mask)
        return hidden_states


# --- the whole model: BERT's embeddings at size E, a projection, one shared BertLayer ---------------------------

@dataclass(frozen=True)
class AlbertConfig(BertConfig):
    """BERT's fields plus ``embedding_size`` (E), with albert-base-v2's defaults.

    One layer group holding one layer (``num_hidden_groups = inner_group_num = 1``),
    which is every released ALBERT. The course's layers use the exact GELU; the
    released checkpoints use the tanh approximation (``gelu_new``).
    """

    vocab_size: int = 30000
    embedding_size: int = 128
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0

    @classmethod
    def from_transformers(cls, hf_config) -> AlbertConfig:
        """The same hyper-parameters as a ``transformers.AlbertConfig``."""
        if hf_config.num_hidden_groups != 1 or hf_config.inner_group_num != 1:
            raise ValueError("only one shared layer is supported: num_hidden_groups = inner_group_num = 1")
        return cls(**{f.name: getattr(hf_config, f.name) for f in fields(cls)})

    def to_transformers(self):
        """A ``transformers.AlbertConfig`` with the same hyper-parameters and the exact GELU."""
        from transformers import AlbertConfig as HFAlbertConfig

        return HFAlbertConfig(**asdict(self), hidden_act="gelu", num_hidden_groups=1, inner_group_num=1)


def embedding_config(config: BertConfig, embedding_size: int) -> BertConfig:
    """``config`` with hidden_size = E, so BertEmbeddings builds E-wide tables and LayerNorm."""
    return replace(BertConfig(**{f.name: getattr(config, f.name) for f in fields(BertConfig)}),
                   hidden_size=embedding_size, num_attention_heads=1)


class AlbertModel(nn.Module):
    """``transformers.AlbertModel``: E-sized embeddings, E -> H projection, one BertLayer applied L times, pooler.

    Taught in book/ch3_variants/albert.md.
    """

    def __init__(self, config: AlbertConfig):
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(embedding_config(config, config.embedding_size))  # (B, T, E)
        self.projection = nn.Linear(config.embedding_size, config.hidden_size)
        self.encoder = SharedLayerEncoder(BertLayer(config), config.num_hidden_layers)
        self.pooler = BertPooler(config)
        self.apply(lambda module: init_weights(module, config.initializer_range))

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(B, T) ids, mask and token types -> (last hidden state (B, T, H), pooled (B, H))."""
        check_inputs(self.config, input_ids, attention_mask, token_type_ids)
        hidden = self.projection(self.embeddings(input_ids, token_type_ids))  # (B, T, E) -> (B, T, H)
        hidden = self.encoder(hidden, attention_mask)
        return hidden, self.pooler(hidden)


class AlbertMLMHead(nn.Module):
    """Dense H -> E, GELU, LayerNorm(E), then a decoder tied to the E-wide word embeddings."""

    def __init__(self, config: AlbertConfig, word_embeddings: nn.Embedding):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.embedding_size)
        self.norm = nn.LayerNorm(config.embedding_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.embedding_size, config.vocab_size, bias=False)
        self.decoder.weight = word_embeddings.weight
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden_states: Tensor) -> Tensor:
        """(..., H) -> (..., V)."""
        return self.decoder(self.norm(F.gelu(self.dense(hidden_states)))) + self.bias


class AlbertForPreTraining(nn.Module):
    """ALBERT with its MLM head and the sentence-order head (BERT's NSP head, read as SOP: 0 = in order)."""

    def __init__(self, config: AlbertConfig):
        super().__init__()
        self.config = config
        self.albert = AlbertModel(config)
        self.mlm_head = AlbertMLMHead(config, self.albert.embeddings.word_embeddings)
        self.sop_head = BertNSPHead(config)
        for module in (self.mlm_head.dense, self.mlm_head.norm, self.sop_head):
            module.apply(lambda m: init_weights(m, config.initializer_range))

    def forward(self, input_ids, attention_mask=None, token_type_ids=None) -> tuple[Tensor, Tensor]:
        """-> (MLM logits (B, T, V), SOP logits (B, 2))."""
        hidden, pooled = self.albert(input_ids, attention_mask, token_type_ids)
        return self.mlm_head(hidden), self.sop_head(pooled)


def albert_parameter_count(config: AlbertConfig, with_pooler: bool = True) -> int:
    """Parameters of :class:`AlbertModel` from the config alone: BERT's count for one layer, E-wide tables."""
    E, H = config.embedding_size, config.hidden_size
    one_layer_bert = bert_parameter_count(config.vocab_size, H, 1, config.intermediate_size,
                                          config.max_position_embeddings, config.type_vocab_size, with_pooler)
    bert_embeddings = (config.vocab_size + config.max_position_embeddings + config.type_vocab_size + 2) * H
    albert_embeddings = (config.vocab_size + config.max_position_embeddings + config.type_vocab_size + 2) * E
    return one_layer_bert - bert_embeddings + albert_embeddings + (E * H + H)


TRANSFORMERS_NAMES = [
    (r"^albert\.", ""),
    (r"^embeddings\.LayerNorm\.", "embeddings.norm."),
    (r"^encoder\.embedding_hidden_mapping_in\.", "projection."),
    (r"^encoder\.albert_layer_groups\.0\.albert_layers\.0\.", "encoder.layer."),
    (r"^encoder\.layer\.attention\.(query|key|value)\.", r"encoder.layer.attention.\1."),
    (r"^encoder\.layer\.attention\.dense\.", "encoder.layer.attention.output."),
    (r"^encoder\.layer\.attention\.LayerNorm\.", "encoder.layer.attention_norm."),
    (r"^encoder\.layer\.ffn\.", "encoder.layer.intermediate."),
    (r"^encoder\.layer\.ffn_output\.", "encoder.layer.output."),
    (r"^encoder\.layer\.full_layer_layer_norm\.", "encoder.layer.output_norm."),
    (r"^pooler\.", "pooler.dense."),
    (r"^predictions\.dense\.", "mlm_head.dense."),
    (r"^predictions\.LayerNorm\.", "mlm_head.norm."),
    (r"^predictions\.bias$", "mlm_head.bias"),
    (r"^predictions\.decoder\.weight$", "mlm_head.decoder.weight"),
    (r"^sop_classifier\.classifier\.", "sop_head.classifier."),
]


def load_transformers_weights(model: nn.Module, state_dict: dict[str, Tensor]) -> nn.Module:
    """Copy a ``transformers.AlbertModel`` (into AlbertModel) or AlbertForPreTraining state dict."""
    renames = TRANSFORMERS_NAMES
    if isinstance(model, AlbertForPreTraining):  # the encoder's names go under "albert.", the heads' do not
        renames = [*TRANSFORMERS_NAMES, (r"^(?!mlm_head\.|sop_head\.)", "albert.")]
    return load_renamed(model, state_dict, renames, skip=r"(position_ids|token_type_ids|predictions\.decoder\.bias)$",
                        tied=("mlm_head.decoder.weight",))


# --- a short ALBERT-style masked-LM run, with a student's parts in place of the reference ones -------------

class AlbertForMaskedLM(nn.Module):
    """An ALBERT-style masked LM built from the two graded parts.

    ``tokens`` (an ``embedding_cls(V, E, H)``) plus learned positions and a LayerNorm,
    ``encoder`` (an ``encoder_cls(BertLayer(config), L)``) and the E-wide tied MLM head.
    Positions are added at width H, after the projection, so the student's
    FactorizedEmbedding is used exactly as its contract says.
    """

    def __init__(self, config: AlbertConfig, embedding_cls: type[nn.Module] = FactorizedEmbedding,
                 encoder_cls: type[nn.Module] = SharedLayerEncoder):
        super().__init__()
        self.config = config
        self.tokens = embedding_cls(config.vocab_size, config.embedding_size, config.hidden_size)
        self.positions = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.encoder = encoder_cls(BertLayer(config), config.num_hidden_layers)
        self.mlm_head = AlbertMLMHead(config, self.tokens.word_embeddings)
        self.apply(lambda module: init_weights(module, config.initializer_range))

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                mlm_positions: Tensor | None = None) -> Tensor:
        """(B, T) ids and mask -> MLM logits (B, T, V), or (N, V) at the ``mlm_positions`` (B, T) bool."""
        positions = torch.arange(input_ids.size(1), device=input_ids.device)  # (T,)
        hidden = self.norm(self.tokens(input_ids) + self.positions(positions))  # (B, T, H)
        hidden = self.encoder(hidden, attention_mask)
        if mlm_positions is not None:
            hidden = hidden[mlm_positions]  # (N, H)
        return self.mlm_head(hidden)


def pretrain_albert(config, embedding_size: int = 32, *, embedding_cls: type[nn.Module] = FactorizedEmbedding,
                    encoder_cls: type[nn.Module] = SharedLayerEncoder, data=None, progress: bool = False):
    """Train an :class:`AlbertForMaskedLM` as the pre-training ``config`` (a PretrainConfig) says; MLM only.

    Same data, masking, schedule and held-out batches as Chapter 2's ``pretrain``;
    returns ``(model, history)`` with ``loss`` and ``mlm_accuracy`` under "train"
    and "validation". Taught in book/ch3_variants/albert.md.
    """
    from .. import runtime
    from ..pretraining.data import MaskedBatches, prepare_data, validation_batches
    from ..pretraining.masking import mask_tokens
    from ..training.loop import evaluate_loss, train

    runtime.set_seed(config.train.seed)
    data = data or prepare_data(config)
    bert = config.model_config(len(data.tokenizer), data.tokenizer.pad_token_id)
    albert = AlbertConfig(**{f.name: getattr(bert, f.name) for f in fields(BertConfig)}, embedding_size=embedding_size)
    model = AlbertForMaskedLM(albert, embedding_cls, encoder_cls)

    def loss_fn(model, batch):
        labelled = batch["labels"] != -100  # (B, T)
        logits = model(batch["input_ids"], batch["attention_mask"], labelled).float()  # (N, V)
        targets = batch["labels"][labelled]
        accuracy = (logits.argmax(-1) == targets).float().mean()
        return F.cross_entropy(logits, targets), {"mlm_accuracy": accuracy.detach()}

    held_out = validation_batches(data.validation, data.tokenizer, config, mask_tokens)
    stream = MaskedBatches(data.train, data.tokenizer, mask_tokens, config)
    history = train(model, stream, loss_fn, replace(config.train, progress=progress), device=runtime.pick_device(config.device),
                    evaluate=lambda m: evaluate_loss(m, held_out, loss_fn))
    return model.eval(), history
