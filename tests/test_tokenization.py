"""Tests of bertcourse.tokenization against the MiniLM (BERT uncased) tokenizer."""

from __future__ import annotations

import random

import pytest
from tokenizers.models import WordPiece

from bertcourse.tokenization import build_inputs, wordpiece_tokenize


@pytest.fixture(scope="module")
def vocab(tokenizer) -> dict[str, int]:
    return tokenizer.get_vocab()


@pytest.fixture(scope="module")
def hf_wordpiece(tokenizer):
    model = tokenizer.backend_tokenizer.model
    assert isinstance(model, WordPiece)
    assert (model.unk_token, model.continuing_subword_prefix, model.max_input_chars_per_word) == ("[UNK]", "##", 100)
    return lambda word: [token.value for token in model.tokenize(word)]


def _words(vocab: dict[str, int]) -> list[str]:
    """Several thousand vocabulary words and words derived from them, plus hard cases."""
    rng = random.Random(0)
    entries = sorted(vocab)
    whole = [w for w in entries if not w.startswith(("##", "[")) and w]
    pieces = [w[2:] for w in entries if w.startswith("##")]
    words = rng.sample(whole, 3000)
    suffixes = ["s", "ing", "ed", "ly", "ness", "able", "ization", "est", "ful", "'s"]
    words += [w + rng.choice(suffixes) for w in rng.sample(whole, 800)]
    words += ["".join(rng.sample(whole, rng.randint(2, 4))) for _ in range(800)]
    words += [rng.choice(whole) + "".join(rng.sample(pieces, rng.randint(1, 3))) for _ in range(400)]
    words += ["".join(rng.choices(whole, k=30))[: rng.randint(90, 130)] for _ in range(40)]
    words += ["a" * 99, "a" * 100, "a" * 101, "é" * 100, "é" * 101, "", "a", "##", "##ing", "[UNK]", "[CLS]"]
    words += ["naïve", "café", "straße", "москва", "東京", "😀", "hello😀", "x\u0301", "ǆ", "☃snow", "snow☃", "ﬁne",
              "unaffable", "tokenization", "supercalifragilisticexpialidocious", "12345", "3.14", "!", "?!"]
    return words


def test_wordpiece_matches_the_minilm_tokenizer(vocab, hf_wordpiece):
    words = _words(vocab)
    assert len(words) > 5000
    mismatches = [(w, wordpiece_tokenize(w, vocab), hf_wordpiece(w)) for w in words
                  if wordpiece_tokenize(w, vocab) != hf_wordpiece(w)]
    assert not mismatches, f"{len(mismatches)} mismatches, e.g. {mismatches[:5]}"
    # The sample exercises every kind of answer.
    results = [wordpiece_tokenize(w, vocab) for w in words]
    assert any(r == ["[UNK]"] for r in results)
    assert any(len(r) >= 3 for r in results)
    assert any(len(r) == 1 and r != ["[UNK]"] for r in results)


def test_wordpiece_known_examples(vocab):
    assert wordpiece_tokenize("", vocab) == []
    assert wordpiece_tokenize("whale", vocab) == ["whale"]
    assert wordpiece_tokenize("a" * 101, vocab) == ["[UNK]"]
    assert wordpiece_tokenize("a" * 101, vocab, max_input_chars_per_word=200) != ["[UNK]"]
    assert wordpiece_tokenize("☃", vocab, unk_token="<unk>") == ["<unk>"]


TINY = ["[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn", "##ing", ",", "a", "##a", "##b"]
TINY_CASES = {
    "unwanted": ["un", "##want", "##ed"],
    "running": ["runn", "##ing"],
    "wanted": ["want", "##ed"],
    "unwantedx": ["[UNK]"],
    "aaab": ["a", "##a", "##a", "##b"],
    "b": ["[UNK]"],
    "": [],
    ",": [","],
}


@pytest.mark.parametrize("container", [list, set, dict.fromkeys], ids=["list", "set", "dict"])
def test_wordpiece_with_a_tiny_vocabulary(container):
    vocab = container(TINY)
    hf = WordPiece({token: i for i, token in enumerate(TINY)}, unk_token="[UNK]")
    for word, expected in TINY_CASES.items():
        assert wordpiece_tokenize(word, vocab) == expected, word
        assert [t.value for t in hf.tokenize(word)] == expected, word  # the table agrees with the ground truth
    assert wordpiece_tokenize("aaaaa", vocab, max_input_chars_per_word=4) == ["[UNK]"]
    assert wordpiece_tokenize("aaaa", vocab, max_input_chars_per_word=4) == ["a", "##a", "##a", "##a"]


# --------------------------------------------------------------------------- build_inputs

@pytest.fixture(scope="module")
def single_token_words(tokenizer, vocab) -> list[str]:
    """Lower-case words that the tokenizer keeps as exactly one token."""
    rng = random.Random(1)
    candidates = [w for w in sorted(vocab) if w.isascii() and w.isalpha() and len(w) > 2]
    words = [w for w in rng.sample(candidates, 200) if tokenizer.tokenize(w) == [w]]
    assert len(words) > 100
    return words


def bert_truncate(tokens_a: list[str], tokens_b: list[str], budget: int) -> None:
    """``_truncate_seq_pair`` from google-research/bert ``run_classifier.py``: pop from the longer, B on ties."""
    while len(tokens_a) + len(tokens_b) > budget:
        (tokens_a if len(tokens_a) > len(tokens_b) else tokens_b).pop()


def hf_frame(tokenizer, tokens_a, tokens_b=None, max_length=None):
    encoded = tokenizer(" ".join(tokens_a), None if tokens_b is None else " ".join(tokens_b),
                        truncation=max_length is not None, max_length=max_length)
    return tokenizer.convert_ids_to_tokens(encoded["input_ids"]), encoded["token_type_ids"]


def test_build_inputs_matches_the_tokenizer_for_single_sequences(tokenizer, single_token_words):
    rng = random.Random(2)
    for _ in range(60):
        tokens = rng.sample(single_token_words, rng.randint(1, 12))
        max_length = rng.choice([None, 2, 3, 5, 8, 20])
        assert build_inputs(tokens, max_length=max_length) == hf_frame(tokenizer, tokens, None, max_length)


def test_build_inputs_matches_the_tokenizer_for_pairs(tokenizer, single_token_words):
    rng = random.Random(3)
    compared = 0
    for _ in range(300):
        tokens_a = rng.sample(single_token_words, rng.randint(1, 10))
        tokens_b = rng.sample(single_token_words, rng.randint(1, 10))
        max_length = rng.choice([None, None, *range(3, 24)])
        got = build_inputs(tokens_a, tokens_b, max_length)
        budget = None if max_length is None else max_length - 3
        both_cut = budget is not None and len(tokens_a) + len(tokens_b) > budget and min(
            len(tokens_a), len(tokens_b)) > budget // 2
        if both_cut and budget % 2:
            # An odd budget split between two cut sequences: transformers gives the spare
            # token to B, BERT's code to A (see the tie test below).
            continue
        assert got == hf_frame(tokenizer, tokens_a, tokens_b, max_length), (tokens_a, tokens_b, max_length)
        compared += 1
    assert compared > 200


def test_build_inputs_frame_and_segments():
    tokens, types = build_inputs(["a", "b"], ["c"])
    assert tokens == ["[CLS]", "a", "b", "[SEP]", "c", "[SEP]"]
    assert types == [0, 0, 0, 0, 1, 1]
    assert build_inputs(["a"]) == (["[CLS]", "a", "[SEP]"], [0, 0, 0])
    assert build_inputs([], []) == (["[CLS]", "[SEP]", "[SEP]"], [0, 0, 1])
    assert build_inputs(["a", "b"], [], max_length=3) == (["[CLS]", "[SEP]", "[SEP]"], [0, 0, 1])


def test_build_inputs_truncates_like_bert_on_ties():
    # Equal lengths: B loses the first token, then they alternate A, B, ...
    tokens, types = build_inputs(["a1", "a2", "a3", "a4"], ["b1", "b2", "b3", "b4"], max_length=3 + 7)
    assert tokens == ["[CLS]", "a1", "a2", "a3", "a4", "[SEP]", "b1", "b2", "b3", "[SEP]"]
    assert types == [0] * 6 + [1] * 4
    tokens, _ = build_inputs(["a1", "a2", "a3", "a4"], ["b1", "b2", "b3", "b4"], max_length=3 + 5)
    assert tokens == ["[CLS]", "a1", "a2", "a3", "[SEP]", "b1", "b2", "[SEP]"]
    rng = random.Random(4)
    for _ in range(400):
        tokens_a = [f"a{i}" for i in range(rng.randint(0, 12))]
        tokens_b = [f"b{i}" for i in range(rng.randint(0, 12))]
        max_length = rng.randint(3, 28)
        expected_a, expected_b = list(tokens_a), list(tokens_b)
        bert_truncate(expected_a, expected_b, max_length - 3)
        tokens, types = build_inputs(tokens_a, tokens_b, max_length)
        assert tokens == ["[CLS]", *expected_a, "[SEP]", *expected_b, "[SEP]"]
        assert types == [0] * (len(expected_a) + 2) + [1] * (len(expected_b) + 1)
        assert len(tokens) <= max_length


def test_build_inputs_never_mutates_its_inputs():
    tokens_a, tokens_b = ["a", "b", "c", "d", "e"], ["x", "y", "z"]
    build_inputs(tokens_a, tokens_b, max_length=5)
    build_inputs(tokens_a, max_length=3)
    assert tokens_a == ["a", "b", "c", "d", "e"] and tokens_b == ["x", "y", "z"]
    # Tuples work too (nothing is popped from them).
    assert build_inputs(("a", "b"), ("c",), max_length=5)[0] == ["[CLS]", "a", "[SEP]", "c", "[SEP]"]


@pytest.mark.parametrize("tokens_b,max_length,needed", [(None, 1, 2), (None, 0, 2), (["b"], 2, 3)])
def test_build_inputs_rejects_a_max_length_below_the_special_tokens(tokens_b, max_length, needed):
    with pytest.raises(ValueError, match=rf"max_length must be at least {needed}.*got {max_length}"):
        build_inputs(["a"], tokens_b, max_length=max_length)
