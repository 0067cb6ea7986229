"""RoBERTa as a delta of BERT: position ids that start after the padding id; nothing else in the encoder.

Liu et al. (2019), "RoBERTa: A Robustly Optimized BERT Pretraining Approach".
RoBERTa's changes are mostly in training (no NSP, dynamic masking, bigger
batches, 10x the data, a byte-level BPE vocabulary); the network is BERT's.
The one architectural delta is fairseq's position numbering: a real token at
index t gets position ``pad_token_id + 1 + t``, padding gets ``pad_token_id``.
The single token type (``type_vocab_size=1``) is kept because checkpoints hold it.

Shape letters: B batch, T sequence, H hidden size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import Tensor

from .bert import BertConfig, BertEmbeddings, BertModel
from .convert import _TRANSFORMERS_NAMES as BERT_NAMES
from .renaming import load_renamed


@dataclass(frozen=True)
class RobertaConfig(BertConfig):
    """BERT's fields with roberta-base's defaults (byte-level BPE vocabulary, padding id 1)."""

    vocab_size: int = 50265
    max_position_embeddings: int = 514  # 512 positions + the padding id + the offset
    type_vocab_size: int = 1
    layer_norm_eps: float = 1e-5
    pad_token_id: int = 1

    @classmethod
    def from_transformers(cls, hf_config) -> RobertaConfig:
        """The same hyper-parameters as a ``transformers.RobertaConfig``."""
        return cls(**{f.name: getattr(hf_config, f.name) for f in fields(cls)})

    def to_transformers(self):
        """A ``transformers.RobertaConfig`` with the same hyper-parameters."""
        from transformers import RobertaConfig as HFRobertaConfig

        return HFRobertaConfig(**asdict(self), hidden_act="gelu")


def roberta_position_ids(input_ids: Tensor, pad_token_id: int) -> Tensor:
    """(B, T) -> (B, T): pad_token_id + 1, + 2, ... over the real tokens; pad_token_id on padding.

    Taught in book/ch3_variants/roberta.md.
    """
    real = (input_ids != pad_token_id).long()  # (B, T)
    return torch.cumsum(real, dim=1) * real + pad_token_id


class RobertaEmbeddings(BertEmbeddings):
    """BertEmbeddings with RoBERTa's position ids; the position table's padding row stays zero."""

    def __init__(self, config: RobertaConfig):
        super().__init__(config)
        self.pad_token_id = config.pad_token_id
        self.position_embeddings.padding_idx = config.pad_token_id

    def forward(self, input_ids, token_type_ids=None):
        """input_ids (B, T); token_type_ids (B, T), all 0 when None -> (B, T, H)."""
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        positions = roberta_position_ids(input_ids, self.pad_token_id)  # (B, T), not BERT's shared arange
        embeddings = (self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
                      + self.position_embeddings(positions))
        return self.dropout(self.norm(embeddings))


class RobertaModel(BertModel):
    """``transformers.RobertaModel``: BertModel with RobertaEmbeddings.

    Taught in book/ch3_variants/roberta.md.
    """

    def __init__(self, config: RobertaConfig, **component_classes):
        component_classes.setdefault("embeddings_cls", RobertaEmbeddings)
        super().__init__(config, **component_classes)


# RobertaModel's state dict uses BERT's names (with "roberta." in front in the task models).
TRANSFORMERS_NAMES = [(r"^roberta\.", ""), *BERT_NAMES]


def load_transformers_weights(model: RobertaModel, state_dict: dict[str, Tensor]) -> RobertaModel:
    """Copy a ``transformers.RobertaModel`` state dict into ``model``."""
    return load_renamed(model, state_dict, TRANSFORMERS_NAMES)
