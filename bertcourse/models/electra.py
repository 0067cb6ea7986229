"""ELECTRA: a small generator fills masked positions, a discriminator spots the replaced tokens.

Clark et al. (2020), "ELECTRA: Pre-training Text Encoders as Discriminators
Rather Than Generators". The discriminator learns from every position (was
this token replaced?), not only from the ~15% that were masked, which is where
its sample efficiency comes from. Both networks are BERT encoders with
factorised (E-sized) embeddings; the generator is smaller and shares the
discriminator's embeddings.

Shape letters: B batch, T sequence, V vocabulary, E embedding size, H hidden size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .albert import AlbertMLMHead, embedding_config
from .bert import BertConfig, BertEmbeddings, BertEncoder, check_inputs, init_weights
from .convert import _TRANSFORMERS_NAMES as BERT_NAMES
from .renaming import load_renamed


def electra_corrupt(
    input_ids, labels, generator_logits, temperature: float = 1.0, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Replace the masked tokens by samples from the generator: ELECTRA's corrupted input.

    Args:
        input_ids: (B, T) integer ids the generator read (``[MASK]`` at the masked positions).
        labels: (B, T) the original id at the masked positions, -100 everywhere else.
        generator_logits: (B, T, V) the generator's logits.
        temperature: > 0; tokens are sampled from ``softmax(generator_logits / temperature)``.
        generator: the ``torch.Generator`` every random number is drawn from (the global one when None).

    Returns:
        ``(corrupted_ids, is_replaced)``, both (B, T). ``corrupted_ids`` (the dtype of
        ``input_ids``) holds, at each position with ``labels != -100``, a token **sampled**
        (not the argmax) from that position's distribution, and ``input_ids`` elsewhere.
        ``is_replaced`` (bool) is True only where the corrupted token differs from the
        original token, which at a masked position is ``labels``: a sample equal to the
        original counts as original. The inputs are not modified; no gradient flows
        through the sample. Any correct way of sampling is accepted.

    Taught in book/ch3_variants/electra.md.
    """
    masked = labels != -100  # (B, T)
    corrupted = input_ids.clone()
    if masked.any():
        probs = torch.softmax(generator_logits.detach()[masked].float() / temperature, dim=-1)  # (N, V)
        sampled = torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # (N,)
        corrupted[masked] = sampled.to(corrupted.dtype)
    is_replaced = masked & (corrupted != labels)
    return corrupted, is_replaced


def electra_discriminator_loss(disc_logits, is_replaced, attention_mask) -> Tensor:
    """Replaced-token detection: binary cross-entropy with logits over the real tokens.

    Args:
        disc_logits: (B, T) float, one logit per token ("this token was replaced").
        is_replaced: (B, T) bool targets.
        attention_mask: (B, T), 1/True for a real token, 0/False for padding.

    Returns:
        A scalar tensor (dtype of ``disc_logits``): the binary cross-entropy with logits,
        averaged over the real (non-padding) tokens only; it back-propagates into
        ``disc_logits`` and stays finite for logits as large as ±100 (compute it from the
        logits, not from a sigmoid that rounds to 0 or 1). Callers pass at least one real token.

    Taught in book/ch3_variants/electra.md.
    """
    real = attention_mask.bool()  # (B, T)
    targets = is_replaced[real].to(disc_logits.dtype)  # (N,)
    return F.binary_cross_entropy_with_logits(disc_logits[real], targets)


# --- the networks: BERT encoders with E-wide embeddings, and their two heads --------------------------------

@dataclass(frozen=True)
class ElectraConfig(BertConfig):
    """BERT's fields plus ``embedding_size`` (E), with electra-small-discriminator's defaults."""

    embedding_size: int = 128
    hidden_size: int = 256
    num_attention_heads: int = 4
    intermediate_size: int = 1024

    @classmethod
    def from_transformers(cls, hf_config) -> ElectraConfig:
        """The same hyper-parameters as a ``transformers.ElectraConfig``."""
        return cls(**{f.name: getattr(hf_config, f.name) for f in fields(cls)})

    def to_transformers(self):
        """A ``transformers.ElectraConfig`` with the same hyper-parameters."""
        from transformers import ElectraConfig as HFElectraConfig

        return HFElectraConfig(**asdict(self), hidden_act="gelu")


class ElectraModel(nn.Module):
    """``transformers.ElectraModel``: E-wide BertEmbeddings, a projection when E != H, a BertEncoder; no pooler.

    ``embeddings`` may be given: the generator is built on the discriminator's embeddings.
    """

    def __init__(self, config: ElectraConfig, embeddings: nn.Module | None = None):
        super().__init__()
        self.config = config
        self.embeddings = embeddings or BertEmbeddings(embedding_config(config, config.embedding_size))
        self.projection = (nn.Linear(config.embedding_size, config.hidden_size)
                           if config.embedding_size != config.hidden_size else nn.Identity())
        self.encoder = BertEncoder(config)
        if embeddings is None:
            self.apply(lambda module: init_weights(module, config.initializer_range))
        else:  # leave the shared embeddings as they are
            for module in (self.projection, self.encoder):
                module.apply(lambda m: init_weights(m, config.initializer_range))

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None) -> Tensor:
        """(B, T) ids, mask and token types -> last hidden state (B, T, H)."""
        check_inputs(self.config, input_ids, attention_mask, token_type_ids)
        hidden = self.projection(self.embeddings(input_ids, token_type_ids))  # (B, T, E) -> (B, T, H)
        return self.encoder(hidden, attention_mask)[-1]


class ElectraDiscriminatorHead(nn.Module):
    """Dense H -> H, GELU, then one logit per token: "this token was replaced"."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.prediction = nn.Linear(config.hidden_size, 1)

    def forward(self, hidden_states: Tensor) -> Tensor:
        """(B, T, H) -> (B, T)."""
        return self.prediction(F.gelu(self.dense(hidden_states))).squeeze(-1)


class ElectraForPreTraining(nn.Module):
    """The discriminator: ``transformers.ElectraForPreTraining``. Taught in book/ch3_variants/electra.md."""

    def __init__(self, config: ElectraConfig):
        super().__init__()
        self.config = config
        self.electra = ElectraModel(config)
        self.head = ElectraDiscriminatorHead(config)
        self.head.apply(lambda m: init_weights(m, config.initializer_range))

    def forward(self, input_ids, attention_mask=None, token_type_ids=None) -> Tensor:
        """-> replaced-token logits (B, T)."""
        return self.head(self.electra(input_ids, attention_mask, token_type_ids))


class ElectraForMaskedLM(nn.Module):
    """The generator: ``transformers.ElectraForMaskedLM`` (dense H -> E, GELU, LayerNorm, tied decoder).

    Pass ``embeddings`` (the discriminator's) to share them, as ELECTRA does.
    """

    def __init__(self, config: ElectraConfig, embeddings: nn.Module | None = None):
        super().__init__()
        self.config = config
        self.electra = ElectraModel(config, embeddings)
        self.mlm_head = AlbertMLMHead(config, self.electra.embeddings.word_embeddings)
        for module in (self.mlm_head.dense, self.mlm_head.norm):
            module.apply(lambda m: init_weights(m, config.initializer_range))

    def forward(self, input_ids, attention_mask=None, token_type_ids=None) -> Tensor:
        """-> MLM logits (B, T, V)."""
        return self.mlm_head(self.electra(input_ids, attention_mask, token_type_ids))


class ElectraPair(nn.Module):
    """A generator and a discriminator sharing one set of embeddings (token, position, type, LayerNorm).

    Taught in book/ch3_variants/electra.md.
    """

    def __init__(self, generator_config: ElectraConfig, discriminator_config: ElectraConfig):
        super().__init__()
        if generator_config.embedding_size != discriminator_config.embedding_size:
            raise ValueError(f"the generator and discriminator share embeddings: embedding_size must agree, got "
                             f"{generator_config.embedding_size} and {discriminator_config.embedding_size}")
        self.discriminator = ElectraForPreTraining(discriminator_config)
        self.generator = ElectraForMaskedLM(generator_config, self.discriminator.electra.embeddings)

    def losses(self, input_ids, labels, attention_mask, generator: torch.Generator | None = None,
               temperature: float = 1.0) -> tuple[Tensor, Tensor, Tensor]:
        """(generator MLM loss, discriminator loss, is_replaced) for one masked batch.

        ``input_ids`` (B, T) is already masked, ``labels`` holds the original ids at the
        masked positions (-100 elsewhere). The corrupted batch is sampled without
        gradient, so the discriminator's loss does not reach the generator except
        through the shared embeddings' own use by the discriminator.
        """
        generator_logits = self.generator(input_ids, attention_mask)  # (B, T, V)
        labelled = labels != -100
        mlm_loss = F.cross_entropy(generator_logits[labelled], labels[labelled])
        corrupted, is_replaced = electra_corrupt(input_ids, labels, generator_logits, temperature, generator)
        disc_logits = self.discriminator(corrupted, attention_mask)  # (B, T)
        return mlm_loss, electra_discriminator_loss(disc_logits, is_replaced, attention_mask), is_replaced


_ENCODER_NAMES = [(p.replace(r"^encoder", r"^electra\.encoder"), r.replace("encoder.", "electra.encoder.", 1))
                  for p, r in BERT_NAMES if p.startswith(r"^encoder")]
TRANSFORMERS_NAMES = [
    (r"^electra\.embeddings\.LayerNorm\.", "electra.embeddings.norm."),
    (r"^electra\.embeddings_project\.", "electra.projection."),
    *_ENCODER_NAMES,
    (r"^discriminator_predictions\.dense\.", "head.dense."),
    (r"^discriminator_predictions\.dense_prediction\.", "head.prediction."),
    (r"^generator_predictions\.dense\.", "mlm_head.dense."),
    (r"^generator_predictions\.LayerNorm\.", "mlm_head.norm."),
    (r"^generator_lm_head\.weight$", "mlm_head.decoder.weight"),
    (r"^generator_lm_head\.bias$", "mlm_head.bias"),
]


def load_transformers_weights(model: nn.Module, state_dict: dict[str, Tensor]) -> nn.Module:
    """Copy an ``ElectraForPreTraining`` or ``ElectraForMaskedLM`` state dict into its twin here."""
    return load_renamed(model, state_dict, TRANSFORMERS_NAMES, skip=r"(position_ids|token_type_ids)$",
                        tied=("mlm_head.decoder.weight",))
