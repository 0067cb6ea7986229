"""The reference BERT encoder (Chapter 1), one class per box of the paper's figure.

Devlin et al. (2019), "BERT: Pre-training of Deep Bidirectional Transformers for
Language Understanding". The module boundaries and parameter names follow
Figure 1 of the paper and map one-to-one onto ``transformers.BertModel``
(:func:`bertcourse.models.convert.load_transformers_weights` does that mapping
in one place). The pre-training heads are in :mod:`bertcourse.models.heads`.
Taught in book/ch1_architecture (attention.md, layer.md, parameters.md).

Shape letters used in comments:
    B batch, T sequence length, H hidden size, nh attention heads,
    hd head size (H / nh), I intermediate (FFN) size, V vocabulary size.

Every class here is also a graded item or the assembly of graded items: the
Chapter 1 notebook asks students to write ``scaled_dot_product_attention``,
``BertSelfAttention``, ``BertEmbeddings`` and ``BertLayer``, and
``BertModel(config, embeddings_cls=..., layer_cls=...)`` runs their classes in
place of these ("bring your own component").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .dropout import attention_with_dropout, use_cheap_dropout


@dataclass(frozen=True)
class BertConfig:
    """Hyper-parameters of a BERT encoder; field names and defaults are transformers' (BERT-base).

    Taught in book/ch1_architecture/index.md.
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    initializer_range: float = 0.02

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({self.num_attention_heads})"
            )

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def preset(cls, name: str, **overrides) -> BertConfig:
        """A named configuration: one of :data:`PRESETS`, with optional field overrides."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}")
        return replace(PRESETS[name], **overrides)

    @classmethod
    def from_transformers(cls, hf_config) -> BertConfig:
        """The same hyper-parameters as a ``transformers.BertConfig``."""
        if getattr(hf_config, "hidden_act", "gelu") != "gelu":
            raise ValueError(f"only the exact (erf) GELU is supported; got hidden_act={hf_config.hidden_act!r}")
        return cls(**{f.name: getattr(hf_config, f.name) for f in fields(cls)})

    def to_transformers(self):
        """A ``transformers.BertConfig`` with the same hyper-parameters."""
        # Imported here: transformers is needed only to convert a config (the model itself does not depend on it).
        from transformers import BertConfig as HFBertConfig

        return HFBertConfig(**asdict(self), hidden_act="gelu")


PRESETS: dict[str, BertConfig] = {
    "bert-base": BertConfig(),
    "bert-large": BertConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096),
    "minilm-l6": BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
    "tiny": BertConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512),
}


def scaled_dot_product_attention(query, key, value, attention_mask=None) -> tuple[Tensor, Tensor]:
    """softmax(Q K^T / sqrt(d)) V, written out so every step can be inspected.

    Args:
        query: (..., Lq, d)
        key: (..., Lk, d)
        value: (..., Lk, dv)
        attention_mask: optional bool, or 0/1 integer or float, tensor broadcastable to
            (..., Lq, Lk), e.g. (Lk,) for a key mask; True/1 means "may attend", False/0
            means "must not". It hides scores before the softmax, so masked keys get weight
            exactly 0 and each row still sums to 1; a row whose keys are all masked gets
            uniform weights (the most negative finite number, not -inf: no NaN).

    Returns:
        context (..., Lq, dv) and the attention weights (..., Lq, Lk), each row summing to 1,
        in the inputs' dtype (float32 or float64). The inputs are not modified, and the
        result is differentiable with respect to query, key and value.

    Example: for q (2, 3, 4), k (2, 5, 4), v (2, 5, 6), context is (2, 3, 6) and weights (2, 3, 5).

    Taught in book/ch1_architecture/attention.md.
    """
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.size(-1))  # (..., Lq, Lk)
    if attention_mask is not None:
        # The most negative finite value rather than -inf: a row whose keys are all
        # masked then gets uniform weights instead of NaN, as in transformers.
        scores = scores.masked_fill(~attention_mask.bool(), torch.finfo(scores.dtype).min)
    weights = scores.softmax(dim=-1)
    return weights @ value, weights


def split_heads(x: Tensor, num_heads: int) -> Tensor:
    """(B, T, H) -> (B, nh, T, hd): one slice of the hidden size per head.

    :class:`BertSelfAttention` spells the same reshape out in its forward: it is a graded
    item, and its source becomes an answer cell, which can call only what the student wrote.
    """
    batch, seq, hidden = x.shape
    return x.view(batch, seq, num_heads, hidden // num_heads).transpose(1, 2)


class BertSelfAttention(nn.Module):
    """Multi-head self-attention: project to queries, keys and values, attend per head, project back.

    Submodules: ``query``, ``key``, ``value`` and ``output``, each an
    ``nn.Linear(hidden_size, hidden_size)``; ``num_heads`` heads of size
    hidden_size / num_heads. In training, ``dropout`` (an ``nn.Dropout`` with
    ``config.attention_probs_dropout_prob``) drops attention weights after the softmax,
    scaling kept weights by 1/(1-p); in eval mode it does nothing. Returns the block's
    output before the residual and LayerNorm, which :class:`BertLayer` adds. The mask
    may be bool or 0/1 ints or floats; outputs at padding positions are not checked. The
    input is not modified, and gradients reach every projection.

    Taught in book/ch1_architecture/attention.md.
    """

    def __init__(self, config):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.output = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def forward(self, hidden_states, attention_mask=None):
        """hidden_states (B, T, H); attention_mask (B, T) with 1 = token, 0 = padding -> (B, T, H)."""
        batch, seq, hidden = hidden_states.shape

        def split_heads(x):  # (B, T, H) -> (B, nh, T, hd)
            return x.view(batch, seq, self.num_heads, hidden // self.num_heads).transpose(1, 2)

        query = split_heads(self.query(hidden_states))
        key = split_heads(self.key(hidden_states))
        value = split_heads(self.value(hidden_states))
        # Padding is masked as a key for every query: (B, T) -> (B, 1, 1, T).
        mask = None if attention_mask is None else attention_mask.bool()[:, None, None, :]
        if self.training and self.dropout.p > 0:
            context = attention_with_dropout(query, key, value, mask, self.dropout)  # (B, nh, T, hd)
        else:  # the fused kernel: it never builds the (B, nh, T, T) weights
            context = F.scaled_dot_product_attention(query, key, value, attn_mask=mask)
        context = context.transpose(1, 2).reshape(batch, seq, hidden)  # (B, T, H)
        return self.output(context)


class BertEmbeddings(nn.Module):
    """Token + position + segment embeddings, summed, then LayerNorm and dropout.

    Submodules: ``word_embeddings`` (vocab_size x H), ``position_embeddings``
    (max_position_embeddings x H, positions 0..T-1), ``token_type_embeddings``
    (type_vocab_size x H), ``norm`` (LayerNorm with ``config.layer_norm_eps``)
    and ``dropout`` (``config.hidden_dropout_prob``), applied last, after the norm.
    ``word_embeddings`` has ``padding_idx=config.pad_token_id`` (its row gets no gradient).
    The inputs are not modified.

    Taught in book/ch1_architecture/tokenization.md.
    """

    def __init__(self, config):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids, token_type_ids=None):
        """input_ids (B, T); token_type_ids (B, T), all segment A when None -> (B, T, H)."""
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        positions = torch.arange(input_ids.size(1), device=input_ids.device)  # (T,), broadcast over B
        embeddings = (
            self.word_embeddings(input_ids)
            + self.token_type_embeddings(token_type_ids)
            + self.position_embeddings(positions)
        )
        return self.dropout(self.norm(embeddings))


class BertLayer(nn.Module):
    """One encoder block, post-LN: x = norm(x + dropout(sublayer(x))) for attention, then the FFN.

    Submodules: ``attention`` (a BertSelfAttention), ``attention_norm``,
    ``intermediate`` (Linear H -> I), ``output`` (Linear I -> H), ``output_norm``
    (LayerNorms with ``config.layer_norm_eps``) and ``dropout``
    (``config.hidden_dropout_prob``). The FFN is output(GELU(intermediate(x)))
    with the exact, erf-based GELU (not the tanh approximation). Dropout applies to each
    sublayer's output, before it is added to the residual. The attention mask goes to
    ``attention`` only; outputs at padding positions are not checked; the input is not modified.

    Taught in book/ch1_architecture/layer.md.
    """

    def __init__(self, config):
        super().__init__()
        self.attention = BertSelfAttention(config)
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.intermediate = nn.Linear(config.hidden_size, config.intermediate_size)
        self.output = nn.Linear(config.intermediate_size, config.hidden_size)
        self.output_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, attention_mask=None):
        """hidden_states (B, T, H); attention_mask (B, T), 1 = token -> (B, T, H)."""
        residual = hidden_states
        attended = self.attention(hidden_states, attention_mask)
        hidden_states = self.attention_norm(residual + self.dropout(attended))
        residual = hidden_states
        feed_forward = self.output(F.gelu(self.intermediate(hidden_states)))  # exact (erf) GELU, (B, T, I) inside
        return self.output_norm(residual + self.dropout(feed_forward))


class PreLNBertLayer(BertLayer):
    """A BertLayer with the pre-LN order: x = x + dropout(sublayer(norm(x))), for attention, then the FFN.

    The same submodules and parameter names as :class:`BertLayer`; only the place of the two
    LayerNorms changes. The residual stream is never normalised, so the gradient reaches the
    lower layers undamped and no warm-up is needed to keep a high learning rate stable
    (Xiong et al., 2020); cramming (Geiping & Goldstein, 2023) trains this way. transformers'
    BERT is post-LN, so a model of these layers has no transformers twin.
    ``BertModel(config, layer_cls=PreLNBertLayer)`` builds one. No LayerNorm is added after the
    last layer (pre-LN Transformers often add one): the MLM head normalises what it reads.

    Taught in book/ch4_training/recipe.md.
    """

    def forward(self, hidden_states, attention_mask=None):
        """hidden_states (B, T, H); attention_mask (B, T), 1 = token -> (B, T, H)."""
        hidden_states = hidden_states + self.dropout(self.attention(self.attention_norm(hidden_states), attention_mask))
        feed_forward = self.output(F.gelu(self.intermediate(self.output_norm(hidden_states))))  # (B, T, I) inside
        return hidden_states + self.dropout(feed_forward)


class BertEncoder(nn.Module):
    """A stack of ``num_hidden_layers`` identical layers.

    Taught in book/ch1_architecture/layer.md.
    """

    def __init__(self, config: BertConfig, layer_cls: type[nn.Module] = BertLayer):
        super().__init__()
        self.layers = nn.ModuleList(layer_cls(config) for _ in range(config.num_hidden_layers))

    def forward(self, hidden_states: Tensor, attention_mask: Tensor | None = None) -> list[Tensor]:
        """(B, T, H) -> the input and every layer's output, num_hidden_layers + 1 tensors of (B, T, H)."""
        states = [hidden_states]
        for layer in self.layers:
            hidden_states = layer(hidden_states, attention_mask)
            states.append(hidden_states)
        return states


class BertPooler(nn.Module):
    """tanh(W h_[CLS] + b): the sentence vector that the NSP head (and classifiers) read.

    Taught in book/ch1_architecture/layer.md.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden_states: Tensor) -> Tensor:
        """(B, T, H) -> (B, H), from the first ([CLS]) position."""
        return torch.tanh(self.dense(hidden_states[:, 0]))


class EncoderOutput(NamedTuple):
    """What :class:`BertModel` returns (transformers' ``BaseModelOutputWithPooling``; its ``BertOutput`` is the FFN)."""

    last_hidden_state: Tensor  # (B, T, H)
    pooler_output: Tensor  # (B, H)
    hidden_states: tuple[Tensor, ...]  # num_hidden_layers + 1 tensors of (B, T, H), embeddings first


class BertModel(nn.Module):
    """Embeddings, encoder and pooler: ``transformers.BertModel`` without its generality.

    ``embeddings_cls`` and ``layer_cls`` let a student's classes stand in for
    the reference ones; they must take ``(config)`` and keep the submodule names.

    Taught in book/ch1_architecture/layer.md.
    """

    def __init__(
        self,
        config: BertConfig,
        *,
        embeddings_cls: type[nn.Module] = BertEmbeddings,
        layer_cls: type[nn.Module] = BertLayer,
    ):
        super().__init__()
        self.config = config
        self.embeddings = embeddings_cls(config)
        self.encoder = BertEncoder(config, layer_cls)
        self.pooler = BertPooler(config)
        self.apply(lambda module: init_weights(module, config.initializer_range))
        # Same dropout, cheaper masks on CPU, where nn.Dropout's random draws are a large part of a training step.
        use_cheap_dropout(self)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
    ) -> EncoderOutput:
        """input_ids, attention_mask (1 = token, 0 = padding) and token_type_ids, all (B, T)."""
        check_inputs(self.config, input_ids, attention_mask, token_type_ids)
        if attention_mask is not None and bool(attention_mask.all()):
            attention_mask = None  # no padding: the unmasked attention kernel is faster
        states = self.encoder(self.embeddings(input_ids, token_type_ids), attention_mask)
        return EncoderOutput(states[-1], self.pooler(states[-1]), tuple(states))

    @torch.no_grad()
    def attention_maps(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
    ) -> list[Tensor]:
        """Every layer's attention weights, num_hidden_layers tensors of (B, nh, T, T)."""
        states = self.forward(input_ids, attention_mask, token_type_ids).hidden_states
        return [
            attention_weights(layer.attention, layer_input, attention_mask)
            for layer, layer_input in zip(self.encoder.layers, states)
        ]


def attention_weights(attention: nn.Module, hidden_states: Tensor, attention_mask: Tensor | None = None) -> Tensor:
    """The (B, nh, T, T) weights that ``attention`` (a BertSelfAttention) gives ``hidden_states`` (B, T, H).

    Recomputed with the readable :func:`scaled_dot_product_attention`, because
    the fused kernel the forward pass uses does not return them.

    Taught in book/ch1_architecture/attention.md.
    """
    heads = attention.num_heads
    mask = None if attention_mask is None else attention_mask.bool()[:, None, None, :]
    _, weights = scaled_dot_product_attention(
        split_heads(attention.query(hidden_states), heads),
        split_heads(attention.key(hidden_states), heads),
        split_heads(attention.value(hidden_states), heads),
        mask,
    )
    return weights


def init_weights(module: nn.Module, std: float) -> None:
    """BERT's initialisation: N(0, std) weights, zero biases, unit LayerNorm, zero padding row."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=std)
        if module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


@torch.no_grad()
def init_positions_sinusoidal(embeddings: nn.Embedding, std: float) -> None:
    """Start learned position embeddings from the Transformer's sinusoids, rescaled to std ``std``.

    Row t of the (P, H) table becomes sin(t / 10000^(i/H)) at even i and cos(...) at odd i
    (Vaswani et al., 2017). Any fixed offset k is then a rotation of these vectors, so one
    linear map can turn position t's query towards position t+k's key, for all t at once:
    a head that attends to a neighbour needs far less learning than from N(0, std). The
    rows stay ordinary parameters, trained as BERT trains them.

    Taught in book/ch4_training/recipe.md.
    """
    positions, hidden = embeddings.weight.shape
    angles = torch.arange(positions, dtype=torch.float32)[:, None] / 10000 ** (
        torch.arange(0, hidden, 2, dtype=torch.float32) / hidden)  # (P, ceil(H/2))
    table = torch.zeros(positions, hidden)
    table[:, 0::2] = angles.sin()
    table[:, 1::2] = angles.cos()[:, : hidden // 2]
    embeddings.weight.copy_(table * (std / table.std()))


def check_inputs(
    config: BertConfig,
    input_ids: Tensor,
    attention_mask: Tensor | None = None,
    token_type_ids: Tensor | None = None,
) -> None:
    """Raise a ValueError naming the argument, what was expected and what was given."""
    if not isinstance(input_ids, Tensor) or input_ids.dim() != 2 or input_ids.is_floating_point():
        raise ValueError(f"input_ids must be an integer tensor of shape (batch, seq); got {describe(input_ids)}")
    batch, seq = input_ids.shape
    if seq > config.max_position_embeddings:
        raise ValueError(
            f"input_ids has {seq} positions but the model has only "
            f"max_position_embeddings={config.max_position_embeddings}; truncate the input"
        )
    if input_ids.numel() and not 0 <= int(input_ids.min()) <= int(input_ids.max()) < config.vocab_size:
        raise ValueError(
            f"input_ids must lie in [0, vocab_size={config.vocab_size}); "
            f"got values in [{int(input_ids.min())}, {int(input_ids.max())}]"
        )
    for name, tensor in (("attention_mask", attention_mask), ("token_type_ids", token_type_ids)):
        if tensor is not None and (not isinstance(tensor, Tensor) or tuple(tensor.shape) != (batch, seq)):
            raise ValueError(f"{name} must have the shape of input_ids, ({batch}, {seq}); got {describe(tensor)}")
    if token_type_ids is not None and token_type_ids.numel() and not (
        0 <= int(token_type_ids.min()) <= int(token_type_ids.max()) < config.type_vocab_size
    ):
        raise ValueError(
            f"token_type_ids must lie in [0, type_vocab_size={config.type_vocab_size}); "
            f"got values in [{int(token_type_ids.min())}, {int(token_type_ids.max())}]"
        )


def describe(value) -> str:
    """'shape (2, 3) dtype torch.int64' for a tensor, the type name for anything else."""
    if isinstance(value, Tensor):
        return f"shape {tuple(value.shape)} dtype {value.dtype}"
    return f"a {type(value).__name__}"


def parameter_counts(config: BertConfig) -> dict[str, int]:
    """Parameters of :class:`BertModel` by part, computed from the config alone.

    Taught in book/ch1_architecture/parameters.md.
    """
    H, I = config.hidden_size, config.intermediate_size
    layer_norm = 2 * H
    embeddings = (config.vocab_size + config.max_position_embeddings + config.type_vocab_size) * H + layer_norm
    attention = 4 * (H * H + H)
    feed_forward = (H * I + I) + (I * H + H)
    layer = attention + feed_forward + 2 * layer_norm
    counts = {
        "embeddings": embeddings,
        "encoder": config.num_hidden_layers * layer,
        "pooler": H * H + H,
    }
    counts["total"] = sum(counts.values())
    return counts
