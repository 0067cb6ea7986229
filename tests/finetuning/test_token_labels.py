"""align_labels_with_tokens on hand-made and real (MiniLM tokenizer) word ids."""

from __future__ import annotations

from bertcourse.finetuning.token_labels import align_labels_with_tokens


def test_first_subtoken_only_by_default():
    word_ids = [None, 0, 1, 1, 1, 2, None, None]
    assert align_labels_with_tokens([3, 5, 7], word_ids) == [-100, 3, 5, -100, -100, 7, -100, -100]
    assert align_labels_with_tokens([3, 5, 7], word_ids, label_all_subwords=True) == \
        [-100, 3, 5, 5, 5, 7, -100, -100]


def test_word_ids_restarting_and_repeating_after_a_special_token():
    # a pair: word ids restart in segment B; the same id after [SEP] is a new word's first piece
    word_ids = [None, 0, 0, 1, None, 0, 1, 1, None]
    assert align_labels_with_tokens([1, 2], word_ids) == [-100, 1, -100, 2, -100, 1, 2, -100, -100]
    assert align_labels_with_tokens([], []) == []


def test_real_tokenizer(tokenizer):
    words = ["President", "Lincoln", "visited", "Gettysburg", "in", "1863"]
    encoding = tokenizer(words, is_split_into_words=True)
    labels = [1, 2, 0, 3, 0, 5]
    word_ids = encoding.word_ids()
    aligned = align_labels_with_tokens(labels, word_ids)
    firsts = [i for i, w in enumerate(word_ids) if w is not None and (i == 0 or word_ids[i - 1] != w)]
    assert [aligned[i] for i in firsts] == labels
    assert sum(a != -100 for a in aligned) == len(words)
    assert aligned[0] == aligned[-1] == -100
