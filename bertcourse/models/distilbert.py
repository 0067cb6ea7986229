"""DistilBERT: half of BERT's layers, no token types, no pooler, taught by the full model.

Sanh et al. (2019), "DistilBERT, a distilled version of BERT: smaller, faster,
cheaper and lighter". The student starts from every other layer of its
teacher and learns from the teacher's softened output distribution
(Hinton et al., 2015) plus a cosine term that aligns the hidden states.

Shape letters: B batch, T sequence, C classes (the vocabulary for MLM), H hidden size.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .bert import BertConfig, BertEmbeddings, BertEncoder, BertModel, check_inputs, init_weights
from .renaming import load_renamed


def distillation_loss(student_logits, teacher_logits, labels, temperature: float = 2.0,
                      alpha: float = 0.5) -> Tensor:
    """Knowledge distillation: soft targets at a temperature plus the hard-label cross-entropy.

    Args:
        student_logits: (N, C) or (B, T, C); every row is one distribution over C classes.
        teacher_logits: the same shape; a fixed target (no gradient is needed through it).
        labels: (N,) or (B, T) class ids; -100 marks a row left out of **both** terms.
        temperature: T > 0, the softening of both distributions in the soft term.
        alpha: the weight of the soft term; ``1 - alpha`` weighs the hard term.

    Returns:
        A scalar tensor: ``alpha * T**2 * KL(softmax(teacher / T) || softmax(student / T))``,
        the KL divergence summed over the classes and averaged over the kept rows, plus
        ``(1 - alpha) * CE(student_logits, labels)`` at temperature 1, averaged over the
        kept rows. The T² keeps the soft term's gradients the size of the hard term's as T
        grows. What is checked is the value and its gradient with respect to
        ``student_logits``. Callers pass at least one labelled row.

    Taught in book/ch3_variants/distilbert.md.
    """
    classes = student_logits.size(-1)
    student = student_logits.reshape(-1, classes)  # (N, C)
    teacher = teacher_logits.detach().reshape(-1, classes)  # (N, C): a target, not a path for gradients
    labels = labels.reshape(-1)  # (N,)
    kept = labels != -100
    student, teacher, labels = student[kept], teacher[kept], labels[kept]
    T = temperature
    soft = F.kl_div(F.log_softmax(student / T, dim=-1), F.log_softmax(teacher / T, dim=-1),
                    reduction="batchmean", log_target=True)  # KL(teacher || student), mean over rows
    hard = F.cross_entropy(student, labels)
    return alpha * T**2 * soft + (1 - alpha) * hard


# --- the network: BERT without token types and pooler, half the layers ------------------------------------

@dataclass(frozen=True)
class DistilBertConfig(BertConfig):
    """BERT's field names with distilbert-base's defaults (6 layers; no token types, so ``type_vocab_size`` = 1 is unused)."""

    num_hidden_layers: int = 6
    type_vocab_size: int = 1

    @classmethod
    def from_transformers(cls, hf_config) -> DistilBertConfig:
        """The same hyper-parameters as a ``transformers.DistilBertConfig`` (its names: dim, n_layers, ...)."""
        return cls(vocab_size=hf_config.vocab_size, hidden_size=hf_config.dim, num_hidden_layers=hf_config.n_layers,
                   num_attention_heads=hf_config.n_heads, intermediate_size=hf_config.hidden_dim,
                   hidden_dropout_prob=hf_config.dropout, attention_probs_dropout_prob=hf_config.attention_dropout,
                   max_position_embeddings=hf_config.max_position_embeddings, pad_token_id=hf_config.pad_token_id,
                   initializer_range=hf_config.initializer_range)

    def to_transformers(self):
        """A ``transformers.DistilBertConfig`` (LayerNorm eps is fixed at 1e-12 there)."""
        from transformers import DistilBertConfig as HFDistilBertConfig

        if self.layer_norm_eps != 1e-12:
            raise ValueError(f"transformers' DistilBERT fixes layer_norm_eps at 1e-12; got {self.layer_norm_eps}")
        return HFDistilBertConfig(vocab_size=self.vocab_size, dim=self.hidden_size, n_layers=self.num_hidden_layers,
                                  n_heads=self.num_attention_heads, hidden_dim=self.intermediate_size,
                                  dropout=self.hidden_dropout_prob, attention_dropout=self.attention_probs_dropout_prob,
                                  max_position_embeddings=self.max_position_embeddings, pad_token_id=self.pad_token_id,
                                  initializer_range=self.initializer_range, activation="gelu")


class DistilBertEmbeddings(BertEmbeddings):
    """BertEmbeddings without the token-type table: word + position, LayerNorm, dropout."""

    def __init__(self, config: DistilBertConfig):
        super().__init__(config)
        del self.token_type_embeddings

    def forward(self, input_ids, token_type_ids=None):
        """input_ids (B, T) -> (B, T, H); there are no token types."""
        positions = torch.arange(input_ids.size(1), device=input_ids.device)  # (T,)
        return self.dropout(self.norm(self.word_embeddings(input_ids) + self.position_embeddings(positions)))


class DistilBertOutput(NamedTuple):
    last_hidden_state: Tensor  # (B, T, H)
    hidden_states: tuple[Tensor, ...]  # num_hidden_layers + 1 tensors of (B, T, H), embeddings first


class DistilBertModel(nn.Module):
    """``transformers.DistilBertModel``: DistilBertEmbeddings and a BertEncoder; no pooler.

    Taught in book/ch3_variants/distilbert.md.
    """

    def __init__(self, config: DistilBertConfig):
        super().__init__()
        self.config = config
        self.embeddings = DistilBertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.apply(lambda module: init_weights(module, config.initializer_range))

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> DistilBertOutput:
        """input_ids and attention_mask (1 = token, 0 = padding), both (B, T)."""
        check_inputs(self.config, input_ids, attention_mask)
        states = self.encoder(self.embeddings(input_ids), attention_mask)
        return DistilBertOutput(states[-1], tuple(states))


def student_from_teacher(teacher: BertModel, layers: list[int] | None = None) -> DistilBertModel:
    """A DistilBERT initialised from a BERT teacher: its embeddings and every other layer.

    ``layers`` are the teacher layers to copy, by default every other one ending at
    the last (1, 3, 5 of six), so the student starts close to the teacher's output. The
    teacher's type-0 token-type vector is folded into the position table, which is
    exact for single-segment input (the only input DistilBERT takes).

    Taught in book/ch3_variants/distilbert.md.
    """
    depth = teacher.config.num_hidden_layers
    layers = list(range(depth - 1, -1, -2))[::-1] if layers is None else list(layers)
    fields_of_bert = {f.name: getattr(teacher.config, f.name) for f in fields(BertConfig)}
    student = DistilBertModel(DistilBertConfig(**{**fields_of_bert, "num_hidden_layers": len(layers),
                                                  "type_vocab_size": 1}))
    source, target = teacher.embeddings, student.embeddings
    with torch.no_grad():
        target.word_embeddings.weight.copy_(source.word_embeddings.weight)
        target.position_embeddings.weight.copy_(source.position_embeddings.weight
                                                + source.token_type_embeddings.weight[0])
        target.norm.load_state_dict(source.norm.state_dict())
        for mine, theirs in zip(student.encoder.layers, layers):
            mine.load_state_dict(teacher.encoder.layers[theirs].state_dict())
    return student


TRANSFORMERS_NAMES = [
    (r"^distilbert\.", ""),
    (r"^embeddings\.LayerNorm\.", "embeddings.norm."),
    (r"^transformer\.layer\.(\d+)\.attention\.q_lin\.", r"encoder.layers.\1.attention.query."),
    (r"^transformer\.layer\.(\d+)\.attention\.k_lin\.", r"encoder.layers.\1.attention.key."),
    (r"^transformer\.layer\.(\d+)\.attention\.v_lin\.", r"encoder.layers.\1.attention.value."),
    (r"^transformer\.layer\.(\d+)\.attention\.out_lin\.", r"encoder.layers.\1.attention.output."),
    (r"^transformer\.layer\.(\d+)\.sa_layer_norm\.", r"encoder.layers.\1.attention_norm."),
    (r"^transformer\.layer\.(\d+)\.ffn\.lin1\.", r"encoder.layers.\1.intermediate."),
    (r"^transformer\.layer\.(\d+)\.ffn\.lin2\.", r"encoder.layers.\1.output."),
    (r"^transformer\.layer\.(\d+)\.output_layer_norm\.", r"encoder.layers.\1.output_norm."),
]


def load_transformers_weights(model: DistilBertModel, state_dict: dict[str, Tensor]) -> DistilBertModel:
    """Copy a ``transformers.DistilBertModel`` state dict into ``model``."""
    return load_renamed(model, state_dict, TRANSFORMERS_NAMES)
