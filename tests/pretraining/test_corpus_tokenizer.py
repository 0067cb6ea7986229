"""The corpus WordPiece tokenizer: BERT's special ids and framing, and ids fixed by the pieces themselves."""

import pytest

from bertcourse.pretraining.corpus_tokenizer import SPECIAL_TOKENS, train_wordpiece

TEXTS = ["Call me Ishmael. Some years ago, never mind how long precisely, having little money in my purse.",
         "It is a way I have of driving off the spleen and regulating the circulation.",
         "Whenever I find myself growing grim about the mouth, I account it high time to get to sea."] * 20


def test_special_tokens_first_then_the_pieces_in_sorted_order():
    tokenizer = train_wordpiece(TEXTS, vocab_size=120)
    ordered = sorted(tokenizer.get_vocab(), key=tokenizer.get_vocab().get)
    assert ordered[:5] == list(SPECIAL_TOKENS) and tokenizer.pad_token_id == 0
    assert ordered[5:] == sorted(ordered[5:])
    encoded = tokenizer("call me", "some years")
    assert tokenizer.convert_ids_to_tokens(encoded["input_ids"])[0] == "[CLS]"
    assert encoded["input_ids"].count(tokenizer.sep_token_id) == 2 and encoded["token_type_ids"][-1] == 1


def test_too_small_a_vocabulary_is_refused():
    with pytest.raises(ValueError, match="vocab_size"):
        train_wordpiece(TEXTS, vocab_size=5)
