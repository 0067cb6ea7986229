"""The pre-training data pipeline: documents -> segments -> pairs -> token ids -> masked batches.

One small step each (book/ch2_pretraining/pretraining_run.md walks through it):

1. **Documents.** Moby Dick chapters and State of the Union addresses, each a
   list of sentences (:func:`load_documents`), from the training split; the
   held-out metrics use the validation split.
2. **Tokenizer.** MiniLM's 30,522-piece WordPiece vocabulary, or one trained
   on the training split (:mod:`bertcourse.pretraining.corpus_tokenizer`).
3. **Segments.** Consecutive sentences are grouped into segments of about half
   a sequence (:func:`segment_documents`), as in BERT's data generator.
4. **Pairs.** Two segments become one example ``[CLS] A [SEP] B [SEP]``: the
   true next segment for plain MLM; NSP pairs (:func:`bertcourse.pretraining.sentence_pairs.create_nsp_examples`)
   or SOP pairs (:func:`~bertcourse.pretraining.sentence_pairs.create_sop_examples`) otherwise.
5. **Batches.** Examples of similar length are batched together and padded only
   to the longest in the batch (length bucketing, dynamic padding).
6. **Masking.** ``mask_fn`` (by default :func:`bertcourse.pretraining.masking.mask_tokens`,
   the 80/10/10 rule) masks each batch when it is drawn ("dynamic", RoBERTa) or
   once per example for the whole run ("static", original BERT).

The run itself (model, loss, training, evaluation) is :mod:`bertcourse.pretraining.run`.
Everything is seeded: the same config gives the same batches.

Shape letters: B batch, T sequence length.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .. import data as course_data
from .. import hub
from . import sentence_pairs
from .corpus_tokenizer import train_wordpiece
from .objectives import IGNORE_INDEX

if TYPE_CHECKING:  # only for annotations: run imports this module
    from .run import PretrainConfig

CORPORA = ("moby-dick", "sotu")

MaskFn = Callable[..., tuple[Tensor, Tensor]]


# --- Documents, segments, pairs ----------------------------------------------------------------


def load_documents(split: str = "train", corpora: Sequence[str] = CORPORA,
                   max_documents: int | None = None) -> list[list[str]]:
    """Documents of ``split`` as lists of sentences: Moby Dick chapters, then SOTU addresses.

    ``max_documents`` keeps the first that many documents of each corpus.
    Documents with fewer than two sentences are dropped (they can form no pair).
    """
    documents: list[list[str]] = []
    for corpus in corpora:
        if corpus == "moby-dick":
            items = [chapter.sentences for chapter in course_data.moby_dick_splits()[split]]
        elif corpus == "sotu":
            items = [address.sentences for address in course_data.sotu_splits()[split]]
        else:
            raise ValueError(f"unknown corpus {corpus!r}; expected one of {CORPORA}")
        documents += [doc for doc in items[:max_documents] if len(doc) >= 2]
    return documents


def segment_documents(documents: list[list[str]], tokenizer, target_tokens: int) -> list[list[str]]:
    """Group consecutive sentences into segments of about ``target_tokens`` tokens each.

    A segment closes as soon as it reaches ``target_tokens``; a sentence longer
    than that is a segment of its own (it is truncated later). Returns the
    documents as lists of segment strings, each document keeping at least one segment.
    """
    flat = [sentence for doc in documents for sentence in doc]
    lengths = [len(ids) for ids in tokenizer(flat, add_special_tokens=False)["input_ids"]] if flat else []
    segmented, position = [], 0
    for doc in documents:
        segments, current, size = [], [], 0
        for sentence in doc:
            current.append(sentence)
            size += lengths[position]
            position += 1
            if size >= target_tokens:
                segments.append(" ".join(current))
                current, size = [], 0
        if current:
            segments.append(" ".join(current))
        segmented.append(segments)
    return segmented


def make_pairs(documents: list[list[str]], objective: str, rng: random.Random) -> list[tuple[str, str, int]]:
    """Sentence pairs for ``objective`` as ``(a, b, label)`` with HF's label convention.

    ``label`` is what the NSP/SOP head is trained to predict: 0 = "B follows A"
    (true next, or in order), 1 = "B is random" (NSP) or "swapped" (SOP).
    For plain MLM every pair is two consecutive segments and the label is unused (0); every
    objective makes one example per pair of consecutive segments, so all see the same A segments.
    """
    if objective == "mlm":
        return [(doc[i], doc[i + 1], 0) for doc in documents for i in range(len(doc) - 1)]
    make = sentence_pairs.create_nsp_examples if objective == "mlm+nsp" else sentence_pairs.create_sop_examples
    return [(a, b, 0 if follows else 1) for a, b, follows in make(documents, rng)]


def encode_pairs(pairs: list[tuple[str, str, int]], tokenizer, seq_len: int) -> list[dict]:
    """``[CLS] A [SEP] B [SEP]`` ids, segment ids and label per pair, truncated to ``seq_len``.

    Truncation is BERT's: drop the last token of the longer segment until the pair fits.
    """
    if not pairs:
        return []
    ids_a = tokenizer([a for a, _, _ in pairs], add_special_tokens=False)["input_ids"]
    ids_b = tokenizer([b for _, b, _ in pairs], add_special_tokens=False)["input_ids"]
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    examples = []
    for a, b, (_, _, label) in zip(ids_a, ids_b, pairs):
        a, b = list(a), list(b)
        while len(a) + len(b) > seq_len - 3:
            (a if len(a) > len(b) else b).pop()
        examples.append({
            "input_ids": [cls, *a, sep, *b, sep],
            "token_type_ids": [0] * (len(a) + 2) + [1] * (len(b) + 1),
            "label": label,
        })
    return examples


# --- Batches -------------------------------------------------------------------------------------


def bucketed_batches(lengths: Sequence[int], batch_size: int, rng: random.Random,
                     pool_batches: int = 50) -> list[list[int]]:
    """One epoch of batches (lists of example indices): shuffled, then sorted by length in pools.

    Examples are shuffled, cut into pools of ``pool_batches`` batches, sorted by
    length inside each pool and batched; the batches are shuffled again. Similar
    lengths share a batch, so dynamic padding wastes little, while the order
    stays random from one epoch to the next.
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * pool_batches
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start:start + pool], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(examples: Sequence[dict], pad_token_id: int) -> dict[str, Tensor]:
    """Pad a list of examples to the longest one: input_ids, token_type_ids, attention_mask (B, T), labels (B,)."""
    longest = max(len(e["input_ids"]) for e in examples)
    batch = len(examples)
    input_ids = torch.full((batch, longest), pad_token_id, dtype=torch.long)
    token_type_ids = torch.zeros((batch, longest), dtype=torch.long)
    attention_mask = torch.zeros((batch, longest), dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example["input_ids"])
        input_ids[row, :n] = torch.tensor(example["input_ids"])
        token_type_ids[row, :n] = torch.tensor(example["token_type_ids"])
        attention_mask[row, :n] = 1
    labels = torch.tensor([e["label"] for e in examples], dtype=torch.long)
    return {"input_ids": input_ids, "token_type_ids": token_type_ids,
            "attention_mask": attention_mask, "next_sentence_label": labels}


def special_tokens_mask(input_ids: Tensor, tokenizer) -> Tensor:
    """(B, T) bool: True at [CLS], [SEP], [PAD] (and any other special id), which are never masked."""
    specials = torch.tensor(sorted(set(tokenizer.all_special_ids)), device=input_ids.device)
    return torch.isin(input_ids, specials)


@dataclass
class PretrainData:
    """Tokenized training and held-out examples, ready to batch."""

    tokenizer: object
    train: list[dict]
    validation: list[dict]
    train_tokens: int = 0
    validation_tokens: int = 0
    info: dict = field(default_factory=dict)


def build_tokenizer(config: PretrainConfig, train_documents: list[list[str]] | None = None):
    """MiniLM's tokenizer, or a WordPiece trained on the training documents of ``config``."""
    if config.tokenizer == "minilm":
        return hub.load_tokenizer()
    if train_documents is None:
        train_documents = load_documents("train", config.corpora, config.max_documents)
    return train_wordpiece((s for doc in train_documents for s in doc), config.corpus_vocab_size)


def prepare_data(config: PretrainConfig, tokenizer=None) -> PretrainData:
    """Documents -> tokenizer -> segments -> pairs -> token ids, for the train and validation splits.

    Taught in book/ch2_pretraining/pretraining_run.md.
    """
    train_docs = load_documents("train", config.corpora, config.max_documents)
    validation_docs = load_documents("validation", config.corpora, config.max_documents)
    if tokenizer is None:
        tokenizer = build_tokenizer(config, train_docs)
    target = (config.seq_len - 3) // 2
    rng = random.Random(config.train.seed)
    splits = {}
    for name, docs in (("train", train_docs), ("validation", validation_docs)):
        segmented = segment_documents(docs, tokenizer, target)
        # Held-out pairs depend on the seed of the data, never on the run's seed: every run
        # (and every ablation arm) is measured on the same validation examples.
        pair_rng = rng if name == "train" else random.Random(12345)
        splits[name] = encode_pairs(make_pairs(segmented, config.objective, pair_rng), tokenizer, config.seq_len)
    count = lambda examples: sum(len(e["input_ids"]) for e in examples)  # noqa: E731
    return PretrainData(tokenizer, splits["train"], splits["validation"],
                        count(splits["train"]), count(splits["validation"]),
                        {"train_documents": len(train_docs), "validation_documents": len(validation_docs)})


# --- Masked batches ----------------------------------------------------------------------------


def mask_batch(batch: dict[str, Tensor], tokenizer, mask_fn: MaskFn, mlm_probability: float,
               generator: torch.Generator) -> dict[str, Tensor]:
    """``batch`` with ``input_ids`` replaced by ``mask_fn``'s masked ids and ``labels`` (B, T) added."""
    masked, labels = mask_fn(
        batch["input_ids"],
        special_tokens_mask(batch["input_ids"], tokenizer),
        tokenizer.mask_token_id,
        len(tokenizer),
        mlm_probability,
        generator,
    )
    return {**batch, "input_ids": masked, "labels": labels}


class MaskedBatches:
    """An endless stream of masked training batches, epoch after epoch.

    ``masking="dynamic"`` draws a new mask every time an example is used
    (RoBERTa); ``"static"`` masks each example the first time it is used and
    reuses that mask in every later epoch (the original BERT recipe, without
    its 10 duplicates).

    Taught in book/ch2_pretraining/masking.md.
    """

    def __init__(self, examples: list[dict], tokenizer, mask_fn: MaskFn, config: PretrainConfig):
        self.examples = examples
        self.tokenizer = tokenizer
        self.mask_fn = mask_fn
        self.config = config
        self.rng = random.Random(config.train.seed)
        self.generator = torch.Generator().manual_seed(config.train.seed)
        self.static: dict[int, tuple[list[int], list[int]]] = {}
        self.epoch = 0
        self.tokens_seen = 0
        self._lengths = [len(e["input_ids"]) for e in examples]

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        while True:
            for indices in bucketed_batches(self._lengths, self.config.batch_size, self.rng):
                batch = self._masked(indices)
                self.tokens_seen += int(batch["attention_mask"].sum())
                yield batch
            self.epoch += 1

    def _masked(self, indices: list[int]) -> dict[str, Tensor]:
        batch = collate([self.examples[i] for i in indices], self.tokenizer.pad_token_id)
        if self.config.masking == "dynamic":
            return mask_batch(batch, self.tokenizer, self.mask_fn, self.config.mlm_probability, self.generator)
        fresh = [i for i in indices if i not in self.static]
        if fresh:
            rows = [indices.index(i) for i in fresh]
            part = {k: v[rows] for k, v in batch.items()}
            part = mask_batch(part, self.tokenizer, self.mask_fn, self.config.mlm_probability, self.generator)
            for row, i in enumerate(fresh):
                n = len(self.examples[i]["input_ids"])
                self.static[i] = (part["input_ids"][row, :n].tolist(), part["labels"][row, :n].tolist())
        labels = torch.full_like(batch["input_ids"], IGNORE_INDEX)
        input_ids = batch["input_ids"].clone()
        for row, i in enumerate(indices):
            ids, labs = self.static[i]
            input_ids[row, :len(ids)] = torch.tensor(ids)
            labels[row, :len(labs)] = torch.tensor(labs)
        return {**batch, "input_ids": input_ids, "labels": labels}


def validation_batches(examples: list[dict], tokenizer, config: PretrainConfig,
                       mask_fn: MaskFn) -> list[dict[str, Tensor]]:
    """A fixed, masked sample of held-out batches: the same examples and masks for every evaluation.

    The masks come from ``mask_fn`` with a generator of fixed seed, so runs that
    differ in seed, masking or objective are scored on identical held-out inputs.
    """
    rng = random.Random(2024)
    chosen = sorted(rng.sample(range(len(examples)), min(config.eval_examples, len(examples))),
                    key=lambda i: len(examples[i]["input_ids"]))
    generator = torch.Generator().manual_seed(2024)
    return [
        mask_batch(collate([examples[i] for i in chosen[s:s + config.batch_size]], tokenizer.pad_token_id),
                   tokenizer, mask_fn, config.mlm_probability, generator)
        for s in range(0, len(chosen), config.batch_size)
    ]
