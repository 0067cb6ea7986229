"""The released shapes of BERT and its variants, and their parameter counts computed from those configs.

Each entry is the config of a public checkpoint, written with the course's
config classes, and the course model class that has exactly that checkpoint's
parameters (the parity tests show the classes match transformers). Taught in
book/ch3_variants/index.md.
"""

from __future__ import annotations

import torch
from torch import nn

from .albert import AlbertConfig, AlbertModel
from .bert import BertConfig, BertModel
from .deberta import DebertaConfig, DebertaModel
from .distilbert import DistilBertConfig, DistilBertModel
from .electra import ElectraConfig, ElectraModel
from .roberta import RobertaConfig, RobertaModel

# name -> (config, the course class whose parameters are the checkpoint's encoder)
CHECKPOINTS: dict[str, tuple[BertConfig, type[nn.Module]]] = {
    "bert-base-uncased": (BertConfig(), BertModel),
    "roberta-base": (RobertaConfig(), RobertaModel),
    "albert-base-v2": (AlbertConfig(hidden_size=768, num_attention_heads=12, intermediate_size=3072), AlbertModel),
    "albert-xxlarge-v2": (AlbertConfig(hidden_size=4096, num_attention_heads=64, intermediate_size=16384),
                          AlbertModel),
    "electra-small-discriminator": (ElectraConfig(), ElectraModel),
    "electra-base-discriminator": (ElectraConfig(embedding_size=768, hidden_size=768, num_attention_heads=12,
                                                 intermediate_size=3072), ElectraModel),
    "distilbert-base-uncased": (DistilBertConfig(), DistilBertModel),
    "deberta-v3-base": (DebertaConfig(), DebertaModel),
}


def parameter_count(name: str) -> int:
    """Parameters of checkpoint ``name``'s encoder, counted on the course model built from its config.

    The model is built on the meta device: shapes only, no memory, no initialisation cost.
    """
    if name not in CHECKPOINTS:
        raise ValueError(f"unknown checkpoint {name!r}; expected one of {sorted(CHECKPOINTS)}")
    config, model_cls = CHECKPOINTS[name]
    with torch.device("meta"):
        model = model_cls(config)
    return sum(p.numel() for p in model.parameters())


