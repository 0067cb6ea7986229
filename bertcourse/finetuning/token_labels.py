"""Word-level labels spread onto WordPiece tokens, for token classification.

A tokenizer splits a word into several sub-tokens and adds special tokens; its
``word_ids()`` says which word each token comes from (None for a special token).
-100 is the label PyTorch's cross-entropy ignores.
"""

from __future__ import annotations

IGNORE_INDEX = -100


def align_labels_with_tokens(word_labels: list[int], word_ids: list[int | None],
                             label_all_subwords: bool = False) -> list[int]:
    """One label per token from one label per word.

    Taught in book/ch5_finetuning/token_classification.md.

    Args:
        word_labels: the label (an int) of each word; ``word_labels[w]`` is word ``w``'s.
        word_ids: one entry per token, the index of its word or None for a special token
            (``[CLS]``, ``[SEP]``, padding), as ``tokenizer(...).word_ids()`` returns it.
        label_all_subwords: label every sub-token of a word, not only the first.

    Returns:
        A new list of ints, as long as ``word_ids``: -100 at special tokens; at the first sub-token
        of a word (a token whose word id differs from the previous token's; the first token is always
        a first sub-token) the word's label; at a continuation sub-token -100, or with
        ``label_all_subwords`` the word's label unchanged. The inputs are not modified.
    """
    labels = []
    previous = None
    for word in word_ids:
        if word is None:
            labels.append(-100)
        elif word != previous or label_all_subwords:
            labels.append(word_labels[word])
        else:
            labels.append(-100)  # a continuation piece: its word is scored at the first piece only
        previous = word
    return labels
