"""State-dict maps between transformers' BERT checkpoints and the course's models, in one place.

transformers names a parameter by its module path (``encoder.layer.0.attention.self.query.weight``);
the course's modules have names of their own (``encoder.layers.0.attention.query.weight``).
:func:`rename_transformers_key` maps one name, :func:`load_transformers_weights` a whole checkpoint.
Taught in book/ch1_architecture/minilm.md.
"""

from __future__ import annotations

import re

from torch import Tensor, nn

from .heads import BertForPreTraining
from .renaming import copy_checked, rename

# transformers' state-dict names -> ours. Applied in order, each a full-name regex.
_TRANSFORMERS_NAMES = [
    (r"^bert\.", ""),
    (r"^embeddings\.LayerNorm\.", "embeddings.norm."),
    (r"^encoder\.layer\.(\d+)\.attention\.self\.(query|key|value)\.", r"encoder.layers.\1.attention.\2."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"encoder.layers.\1.attention.output."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.", r"encoder.layers.\1.attention_norm."),
    (r"^encoder\.layer\.(\d+)\.intermediate\.dense\.", r"encoder.layers.\1.intermediate."),
    (r"^encoder\.layer\.(\d+)\.output\.dense\.", r"encoder.layers.\1.output."),
    (r"^encoder\.layer\.(\d+)\.output\.LayerNorm\.", r"encoder.layers.\1.output_norm."),
    (r"^cls\.predictions\.transform\.dense\.", "mlm_head.dense."),
    (r"^cls\.predictions\.transform\.LayerNorm\.", "mlm_head.norm."),
    (r"^cls\.predictions\.bias$", "mlm_head.bias"),
    (r"^cls\.predictions\.decoder\.weight$", "mlm_head.decoder.weight"),
    (r"^cls\.seq_relationship\.", "nsp_head.classifier."),
    (r"\.gamma$", ".weight"),  # TF-era LayerNorm names
    (r"\.beta$", ".bias"),
]
# Buffers and duplicates that carry no weights of their own.
_TRANSFORMERS_SKIP = re.compile(r"(position_ids|cls\.predictions\.decoder\.bias)$")
# Checkpoints may omit the decoder because it is tied to the word embeddings.
_TIED_DECODER = "mlm_head.decoder.weight"


def rename_transformers_key(name: str) -> str:
    """The name of our parameter that transformers calls ``name``."""
    return rename(name, _TRANSFORMERS_NAMES)


def load_transformers_weights(model: nn.Module, state_dict: dict[str, Tensor]) -> nn.Module:
    """Copy a transformers BERT state dict into ``model`` (BertModel or BertForPreTraining).

    Every parameter of ``model`` must be found with the same shape. Source
    weights the model has no place for are allowed only for heads it lacks
    (``cls.*`` when loading a pre-training checkpoint into a BertModel).

    Taught in book/ch1_architecture/minilm.md.
    """
    prefix = "bert." if isinstance(model, BertForPreTraining) else ""
    renamed = {}
    for name, tensor in state_dict.items():
        if _TRANSFORMERS_SKIP.search(name):
            continue
        ours = rename_transformers_key(name)
        if prefix and not ours.startswith(("mlm_head.", "nsp_head.")):
            ours = prefix + ours
        renamed[ours] = tensor
    return copy_checked(model, renamed, tied=(_TIED_DECODER,), spare=("mlm_head.", "nsp_head."))
