"""From words to BERT's input: WordPiece splitting and the [CLS] A [SEP] B [SEP] frame.

WordPiece (Schuster & Nakajima, 2012; Wu et al., 2016) splits a word into the
longest vocabulary piece that starts it, then the longest piece (marked
``##``) that continues it, and so on. BERT (Devlin et al., 2019) frames one
or two segments with special tokens and tells them apart with token type ids.
Both are graded items of Chapter 1; transformers' tokenizer is the ground truth.
"""

from __future__ import annotations


def wordpiece_tokenize(word: str, vocab, unk_token: str = "[UNK]", max_input_chars_per_word: int = 100) -> list[str]:
    """Split one (already lower-cased, punctuation-split) word into WordPiece tokens.

    Greedy longest-match-first: at each position take the longest piece in
    ``vocab``; pieces after the first carry the ``##`` continuation prefix.

    Args:
        word: a single word, e.g. "unaffable".
        vocab: any container of token strings supporting ``in`` (set, dict, list).
        unk_token: returned alone when the word cannot be split completely.
        max_input_chars_per_word: longer words become ``[unk_token]`` outright.

    Returns:
        The pieces, e.g. ["una", "##ffa", "##ble"]; [] for the empty word.

    Taught in book/ch1_architecture/tokenization.md.
    """
    if len(word) > max_input_chars_per_word:
        return [unk_token]
    pieces = []
    start = 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                break
            end -= 1
        else:  # no prefix of the rest is in the vocabulary
            return [unk_token]
        pieces.append(piece)
        start = end
    return pieces


def build_inputs(
    tokens_a: list[str], tokens_b: list[str] | None = None, max_length: int | None = None
) -> tuple[list[str], list[int]]:
    """Frame one or two token sequences for BERT and give each token its segment id.

    Returns ``(["[CLS]", *A, "[SEP]"], [0, ...])`` for one sequence and
    ``(["[CLS]", *A, "[SEP]", *B, "[SEP]"], [0]*(len(A)+2) + [1]*(len(B)+1))`` for two.
    With ``max_length`` the result has at most that many tokens: BERT's rule
    removes the last token of the longer sequence, one token at a time, until
    the pair fits (on a tie BERT's code shortens B; either is accepted). The inputs are not
    modified. Raises ``ValueError`` (its message naming ``max_length``) when ``max_length`` is
    too small to hold the special tokens: under 2 for one sequence, under 3 for two.

    Example: ``build_inputs(["a", "b", "c", "d"], ["x"], max_length=6)`` returns
    ``(["[CLS]", "a", "b", "[SEP]", "x", "[SEP]"], [0, 0, 0, 0, 1, 1])``.

    Taught in book/ch1_architecture/tokenization.md.
    """
    tokens_a = list(tokens_a)
    tokens_b = None if tokens_b is None else list(tokens_b)
    if max_length is not None:
        num_special = 2 if tokens_b is None else 3
        if max_length < num_special:
            raise ValueError(f"max_length must be at least {num_special} to hold the special tokens; got {max_length}")
        others = tokens_b if tokens_b is not None else []
        while len(tokens_a) + len(others) > max_length - num_special:
            longer = tokens_a if len(tokens_a) > len(others) else others
            longer.pop()
    tokens = ["[CLS]", *tokens_a, "[SEP]"]
    token_type_ids = [0] * len(tokens)
    if tokens_b is not None:
        tokens += [*tokens_b, "[SEP]"]
        token_type_ids += [1] * (len(tokens_b) + 1)
    return tokens, token_type_ids
