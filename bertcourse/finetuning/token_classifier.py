"""A token classifier: a pretrained encoder with a linear head on every token.

The same head serves two tasks: C tags per token for token classification
(named entities), and C = 2 for extractive QA, where the two scores of a token
are its start and end logits (Devlin et al., 2019). It differs from
:class:`~bertcourse.finetuning.classifier.SequenceClassifier` only in reading every
final vector instead of the [CLS] one.

Shapes: B batch, T sequence length, H hidden size, C labels per token (num_labels).
"""

from __future__ import annotations

from torch import Tensor

from .classifier import SequenceClassifier


class TokenClassifier(SequenceClassifier):
    """Any BERT-like encoder plus dropout and ``nn.Linear(hidden_size, num_labels)`` on every final token vector.

    Taught in book/ch5_finetuning/token_classification.md and question_answering.md. Attributes
    and arguments are :class:`~bertcourse.finetuning.classifier.SequenceClassifier`'s.
    """

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None) -> Tensor:
        """input_ids, attention_mask (1 = token, 0 = padding), token_type_ids, all (B, T) -> logits (B, T, C)."""
        states = self.encoder(input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state  # (B, T, H)
        return self.classifier(self.dropout(states))  # (B, T, C): one score vector per token
