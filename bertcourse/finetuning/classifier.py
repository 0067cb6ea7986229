"""A sequence classifier: a pretrained encoder with a linear head on the [CLS] token.

Shapes: B batch, T sequence length, H hidden size, C classes (num_labels).
"""

from __future__ import annotations

from torch import Tensor, nn


class SequenceClassifier(nn.Module):
    """Any BERT-like encoder plus dropout and a linear layer on the final [CLS] vector.

    Taught in book/ch5_finetuning/spam.md.

    Args:
        encoder: a module called as ``encoder(input_ids, attention_mask=..., token_type_ids=...)``
            that returns an object with a ``last_hidden_state`` (B, T, H): a transformers
            ``BertModel`` or the course's ``BertModel``. Kept as the attribute ``encoder`` and
            trained with the head (its parameters are the classifier's parameters).
        hidden_size: H.
        num_labels: C.
        dropout: the dropout probability before the linear layer (attribute ``dropout``, an
            ``nn.Dropout``); active in train mode only.

    The head is the attribute ``classifier``, an ``nn.Linear(hidden_size, num_labels)`` with a bias.
    ``forward`` returns ``classifier(dropout(h))``, where ``h`` is the encoder's final hidden state
    at position 0 (the [CLS] token): not the pooler output and not the last token.
    """

    def __init__(self, encoder: nn.Module, hidden_size: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size, num_labels)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None) -> Tensor:
        """input_ids, attention_mask (1 = token, 0 = padding), token_type_ids, all (B, T) -> logits (B, C)."""
        states = self.encoder(input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state  # (B, T, H)
        return self.classifier(self.dropout(states[:, 0]))  # (B, C): the [CLS] vector of each row
