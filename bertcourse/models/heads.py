"""BERT's two pre-training heads (masked LM, next-sentence) and the model that carries them.

Taught in book/ch2_pretraining/index.md; the encoder they sit on is :mod:`bertcourse.models.bert`.

Shape letters: B batch, T sequence length, H hidden size, N masked positions, V vocabulary.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .bert import BertConfig, BertModel, EncoderOutput, init_weights


class BertMLMHead(nn.Module):
    """Masked-LM head: dense + GELU + LayerNorm, then a decoder tied to the word embeddings.

    Taught in book/ch1_architecture/layer.md.
    """

    def __init__(self, config: BertConfig, word_embeddings: nn.Embedding):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.decoder.weight = word_embeddings.weight  # tied: one (V, H) matrix reads and writes tokens
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden_states: Tensor) -> Tensor:
        """(..., H) -> (..., V). Pass only the masked positions to skip most of the V-wide projection."""
        return self.decoder(self.norm(F.gelu(self.dense(hidden_states)))) + self.bias


class BertNSPHead(nn.Module):
    """Next-sentence (or sentence-order) classifier on the pooled output.

    Label convention as in the paper's code and transformers: 0 = "B follows A", 1 = "B is random".

    Taught in book/ch2_pretraining/sentence_pairs.md.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.classifier = nn.Linear(config.hidden_size, 2)

    def forward(self, pooled_output: Tensor) -> Tensor:
        """(B, H) -> (B, 2) logits."""
        return self.classifier(pooled_output)


class PreTrainingOutput(NamedTuple):
    """What :class:`BertForPreTraining` returns: both heads' logits and the encoder's output."""

    mlm_logits: Tensor  # (B, T, V), or (N, V) at the N positions asked for
    nsp_logits: Tensor  # (B, 2)
    encoder: EncoderOutput


class BertForPreTraining(nn.Module):
    """BERT with its two pre-training heads: masked LM (tied decoder) and next-sentence prediction.

    Taught in book/ch1_architecture/layer.md.
    """

    def __init__(self, config: BertConfig, **component_classes):
        super().__init__()
        self.config = config
        self.bert = BertModel(config, **component_classes)
        self.mlm_head = BertMLMHead(config, self.bert.embeddings.word_embeddings)
        self.nsp_head = BertNSPHead(config)
        # Not the decoder: it is the word-embedding matrix, initialised already.
        for module in (self.mlm_head.dense, self.mlm_head.norm, self.nsp_head):
            module.apply(lambda m: init_weights(m, config.initializer_range))

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        mlm_positions: Tensor | None = None,
    ) -> PreTrainingOutput:
        """As :meth:`BertModel.forward`; ``mlm_positions`` (B, T) bool limits MLM logits to those N positions.

        The vocabulary projection dominates the cost of a small model, and only
        the ~15% masked positions enter the loss, so pass them whenever you train.
        """
        encoded = self.bert(input_ids, attention_mask, token_type_ids)
        sequence = encoded.last_hidden_state
        if mlm_positions is not None:
            sequence = sequence[mlm_positions]  # (N, H)
        return PreTrainingOutput(self.mlm_head(sequence), self.nsp_head(encoded.pooler_output), encoded)
