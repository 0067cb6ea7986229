"""A WordPiece vocabulary trained on the course corpora with the ``tokenizers`` library.

BERT's own vocabulary (30,522 pieces, used by MiniLM) was built for Wikipedia
and books. A small model pre-trained from scratch on a few megabytes of
nineteenth-century prose and presidential addresses spends most of its
parameters and most of its output softmax on pieces it never sees. Training a
WordPiece vocabulary on the training split itself gives a smaller, better
matched one: fewer embedding rows to learn, a cheaper vocabulary projection,
and fewer ``[UNK]``. The normaliser and pre-tokeniser are BERT's (uncased,
accents stripped, split on whitespace and punctuation), so the only
difference from MiniLM's tokenizer is the vocabulary.

The result is a ``transformers.PreTrainedTokenizerFast`` (a ``BertTokenizerFast``),
so it answers ``word_ids()``, ``mask_token_id`` and ``get_special_tokens_mask``
exactly as the MiniLM tokenizer does.
"""

from __future__ import annotations

from collections.abc import Iterable

#: BERT's special tokens, in the order that gives them ids 0-4 ([PAD] = 0 = ``BertConfig.pad_token_id``).
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def train_wordpiece(
    texts: Iterable[str],
    vocab_size: int = 8192,
    min_frequency: int = 2,
    limit_alphabet: int = 200,
):
    """Train an uncased BERT-style WordPiece tokenizer on ``texts``.

    Args:
        texts: the training text, one string per sentence or paragraph.
            Use the training split only, so held-out text stays unseen.
        vocab_size: the number of pieces including the 5 special tokens.
        min_frequency: a merge must occur at least this often.
        limit_alphabet: at most this many single characters are kept.

    Returns:
        A ``transformers.BertTokenizerFast`` whose ids 0-4 are
        ``[PAD] [UNK] [CLS] [SEP] [MASK]`` and that frames one or two segments
        as ``[CLS] A [SEP] (B [SEP])`` like BERT's.

    The ids are the pieces' sorted order after the five special tokens. The ``tokenizers``
    trainer numbers the ``##`` pieces in hash-map order, which changes from one process to the
    next (huggingface/tokenizers#1794): on Chapter 2's corpora, two trainings learned the same
    8,192 pieces but gave 138 of them other ids, and so other initial embeddings (the same
    seeded run ended at 0.323 and 0.327 held-out accuracy). Renumbering removes that. The same
    bug breaks ties between merges of equal count by those ids, so on a small text two
    processes can still learn a few different pieces; on Chapter 2's corpora two pairs of
    trainings learned identical vocabularies.

    Taught in book/ch2_pretraining/pretraining_run.md.
    """
    # Imported here: tokenizers and transformers load only when a vocabulary is trained.
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertTokenizerFast

    if vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must exceed the {len(SPECIAL_TOKENS)} special tokens; got {vocab_size}")
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                      strip_accents=True, lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        limit_alphabet=limit_alphabet,
        special_tokens=list(SPECIAL_TOKENS),
        continuing_subword_prefix="##",
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    pieces = sorted(set(tokenizer.get_vocab()) - set(SPECIAL_TOKENS))
    tokenizer.model = models.WordPiece({piece: i for i, piece in enumerate([*SPECIAL_TOKENS, *pieces])},
                                       unk_token="[UNK]", max_input_chars_per_word=100)
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return BertTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        do_lower_case=True,
    )


def tokenizer_stats(tokenizer, texts: list[str]) -> dict[str, float]:
    """How a tokenizer cuts ``texts``: vocabulary size, pieces per word, [UNK] rate, pieces used.

    Words are BERT's pre-tokens (whitespace- and punctuation-split), so the
    numbers compare tokenizers on the same unit.
    """
    pre_tokenize = tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str
    normalize = tokenizer.backend_tokenizer.normalizer.normalize_str
    words = sum(len(pre_tokenize(normalize(text))) for text in texts)
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    pieces = [piece for ids in encoded for piece in ids]
    unk = sum(piece == tokenizer.unk_token_id for piece in pieces)
    return {
        "vocab_size": len(tokenizer),
        "pieces_per_word": len(pieces) / max(words, 1),
        "unk_rate": unk / max(len(pieces), 1),
        "distinct_pieces_used": len(set(pieces)),
        "share_of_vocab_used": len(set(pieces)) / len(tokenizer),
    }
