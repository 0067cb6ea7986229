"""Task 3, entities in State of the Union sentences: the fine-tune, its baseline, their scores, a cache.

The labels are the gazetteer's (:mod:`bertcourse.finetuning.entities`, distant supervision:
presidents' names, US states, month names and years), so every score here measures agreement
with the gazetteer, not with the truth. The split is by address
(:func:`bertcourse.data.sotu_splits`): no address gives sentences to two splits.

* the baseline, the first thing a practitioner tries: every entity string seen in the training
  labels, tagged with its most frequent training type wherever it occurs again (longest match
  first), and nothing else;
* MiniLM with a linear head on every token
  (:class:`~bertcourse.finetuning.token_classifier.TokenClassifier`), trained on the first
  sub-token of each word (:func:`~bertcourse.finetuning.token_labels.align_labels_with_tokens`).

Both are scored with ``seqeval`` (strict IOB2), overall, per type, and on the test entities whose
string never occurs as an entity in the training labels: a model that only memorised the
training entities scores 0 there, so that is where generalisation shows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bertcourse import data, hub, runtime

from . import entities
from .finetune import FinetuneConfig, fine_tune, predict_logits, token_classification_loss
from .token_classifier import TokenClassifier
from .token_labels import align_labels_with_tokens

TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-DATE", "I-DATE")
TYPES = ("PER", "LOC", "DATE")


@dataclass(frozen=True)
class NerConfig:
    """One run. ``train_sentences``: the training sample, half of it sentences with at least one entity (9 in
    10 sentences have none); ``test_sentences``: at most this many test sentences (None: all of them)."""

    max_length: int = 64
    train_sentences: int = 1200
    test_sentences: int | None = None
    seeds: tuple[int, ...] = (0, 1, 2)
    checkpoint: str = hub.MINILM
    finetune: FinetuneConfig = FinetuneConfig(epochs=2, learning_rate=1e-4)

    @classmethod
    def for_profile(cls, name: str | None = None, **overrides) -> NerConfig:
        """``ci``: 96 training and 120 test sentences at 48 tokens, one seed (seconds); ``cpu``: 1,200 training
        sentences, every test sentence, three seeds (about 2 CPU minutes a seed); ``gpu``: 8,000 training
        sentences, three epochs."""
        sizes = {
            "ci": dict(max_length=48, train_sentences=96, test_sentences=120, seeds=(0,),
                       finetune=FinetuneConfig(epochs=4, learning_rate=3e-4)),
            "cpu": {},
            "gpu": dict(max_length=96, train_sentences=8000, finetune=FinetuneConfig(epochs=3, batch_size=32)),
        }[runtime.profile(name).name]
        return cls(**{**sizes, **overrides})

    def key(self) -> str:
        """A short hash of the config: the cache file's name."""
        return runtime.config_key(self)


@dataclass(frozen=True)
class Sentence:
    """One labelled sentence: its address (``Address.key``), words and gazetteer tags."""

    address: str
    words: list[str]
    tags: list[str]


def _hashed(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def sentences_of(addresses, gazetteer: dict) -> list[Sentence]:
    """Every sentence of ``addresses``, cut into words and tagged by ``gazetteer`` (dates included)."""
    out = []
    for address in addresses:
        for sentence in address.sentences:
            words = entities.words_of(sentence)
            if words:
                out.append(Sentence(address.key, words, entities.tag(words, gazetteer)))
    return out


def _sample(sentences: list[Sentence], limit: int | None, with_entities: float | None) -> list[Sentence]:
    """A fixed sample (by hash of address and words): ``limit`` sentences, a ``with_entities`` fraction of them
    with an entity (None: as they come)."""
    ordered = sorted(sentences, key=lambda s: _hashed(s.address + " ".join(s.words)))
    if limit is None or limit >= len(ordered):
        return ordered
    if with_entities is None:
        return ordered[:limit]
    rich = [s for s in ordered if set(s.tags) != {"O"}][: round(limit * with_entities)]
    plain = [s for s in ordered if set(s.tags) == {"O"}][: limit - len(rich)]
    return rich + plain


def load(config: NerConfig) -> dict[str, list[Sentence]]:
    """The train and test sentences, sampled by ``config``; tags from the full gazetteer."""
    presidents = tuple(sorted({a.president for a in data.load_sotu()}))
    gazetteer = entities.gazetteer(presidents)
    splits = data.sotu_splits()
    return {"train": _sample(sentences_of(splits["train"], gazetteer), config.train_sentences, 0.5),
            "test": _sample(sentences_of(splits["test"], gazetteer), config.test_sentences, None)}


def fit_to_budget(tokenizer, sentences: list[Sentence], max_length: int) -> tuple[list[Sentence], list]:
    """The sentences cut to the words that keep their first piece within ``max_length`` tokens, and their
    encodings ``(input_ids, token_type_ids, word_ids)``.

    A long sentence loses its last words (and their tags) rather than being scored on words the model
    never saw; every kept word has its first piece, where it is labelled and read. The baseline is
    scored on the same cut sentences.
    """
    encoded = tokenizer([s.words for s in sentences], is_split_into_words=True, truncation=True,
                        max_length=max_length)
    kept, examples = [], []
    for i, sentence in enumerate(sentences):
        word_ids = encoded.word_ids(i)
        words = max(w for w in word_ids if w is not None) + 1
        kept.append(Sentence(sentence.address, sentence.words[:words], sentence.tags[:words]))
        examples.append((encoded["input_ids"][i], encoded["token_type_ids"][i], word_ids))
    return kept, examples


def token_labels(sentence: Sentence, word_ids: list[int | None]) -> list[int]:
    """The tag ids of ``sentence`` on its tokens: on each word's first piece, -100 elsewhere."""
    return align_labels_with_tokens([TAGS.index(t) for t in sentence.tags], word_ids)


def word_tags(logits: np.ndarray, word_ids: list[int | None]) -> list[str]:
    """(T, C) token logits -> one tag per word, read at the word's first piece (as it was trained)."""
    tags = []
    previous = None
    for position, word in enumerate(word_ids):
        if word is not None and word != previous:
            tags.append(TAGS[int(logits[position].argmax())])
        previous = word
    return tags


def training_entities(sentences: list[Sentence]) -> dict[tuple[str, ...], str]:
    """Every entity string (word tuple) in the training tags -> its most frequent type there."""
    seen: dict[tuple[str, ...], Counter] = {}
    for sentence in sentences:
        for entity in _entities([sentence.tags])[0]:
            words = tuple(sentence.words[entity[0]: entity[1]])
            seen.setdefault(words, Counter())[entity[2]] += 1
    return {words: counts.most_common(1)[0][0] for words, counts in seen.items()}


def _entities(tags: list[list[str]]) -> list[list[tuple[int, int, str]]]:
    """Per sequence, the strict IOB2 entities as (start, end exclusive, type), as seqeval finds them."""
    from seqeval.scheme import IOB2, Entities

    found = Entities(tags, IOB2).entities
    return [[(e.start, e.end, e.tag) for e in row] for row in found]


def lookup_baseline(train: list[Sentence], test: list[Sentence]) -> list[list[str]]:
    """The test tags of the training-entity lookup: longest match of the training entity strings, no rules."""
    seen = entities.Gazetteer(training_entities(train))
    return [entities.tag(s.words, seen, dates=False) for s in test]


def only_unseen(sentences: list[Sentence], tags: list[list[str]], seen: dict) -> list[list[str]]:
    """``tags`` with every entity whose string is in ``seen`` turned to O: what is left is new entities."""
    out = []
    for sentence, row, found in zip(sentences, tags, _entities(tags)):
        row = list(row)
        for start, end, _ in found:
            if tuple(sentence.words[start:end]) in seen:
                row[start:end] = ["O"] * (end - start)
        out.append(row)
    return out


def scores(sentences: list[Sentence], predicted: list[list[str]], seen: dict) -> dict:
    """seqeval (strict IOB2) precision, recall and F1 overall and per type, and F1 on unseen entities."""
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    true = [s.tags for s in sentences]
    report = classification_report(true, predicted, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    unseen = classification_report(only_unseen(sentences, true, seen), only_unseen(sentences, predicted, seen),
                                   mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    pick = ("precision", "recall", "f1-score", "support")
    return {"overall": {k: float(report["micro avg"][k]) for k in pick},
            "types": {t: {k: float(report[t][k]) for k in pick} for t in TYPES if t in report},
            "unseen": {k: float(unseen["micro avg"][k]) for k in pick} if "micro avg" in unseen else None}


def fine_tuned(train: list[Sentence], train_examples: list, test_examples: list, config: NerConfig,
               seed: int) -> dict:
    """Fine-tune ``TokenClassifier(MiniLM, 384, 7)`` with ``seed`` on the encoded training sentences (see
    :func:`fit_to_budget`); its tags of the test sentences, history and timing."""
    finetune = dataclasses.replace(config.finetune, seed=seed)
    runtime.set_seed(seed)
    encoder = hub.load_bert(config.checkpoint)
    model = TokenClassifier(encoder, encoder.config.hidden_size, len(TAGS))
    labels = [token_labels(s, ex[2]) for s, ex in zip(train, train_examples)]
    started = time.process_time()
    history, _ = fine_tune(model, [ex[:2] for ex in train_examples], labels, finetune,
                           loss_fn=token_classification_loss)
    train_cpu = time.process_time() - started
    logits = predict_logits(model, [ex[:2] for ex in test_examples])
    predicted = [word_tags(row, ex[2]) for row, ex in zip(logits, test_examples)]
    return {"seed": seed, "tags": predicted, "train_cpu_seconds": train_cpu,
            "cpu_seconds": time.process_time() - started, "history": history.records}


def errors(sentences: list[Sentence], predicted: list[list[str]], limit: int = 40) -> list[dict]:
    """The first ``limit`` sentences where the prediction differs from the gazetteer, words and both tags."""
    return [{"address": s.address, "words": s.words, "gazetteer": s.tags, "model": p}
            for s, p in zip(sentences, predicted) if p != s.tags][:limit]


def run(config: NerConfig) -> dict:
    """The baseline and one fine-tune per seed on the same sentences, scored; the first seed's errors."""
    tokenizer = hub.load_tokenizer(config.checkpoint)
    split = load(config)
    train, train_examples = fit_to_budget(tokenizer, split["train"], config.max_length)
    test, test_examples = fit_to_budget(tokenizer, split["test"], config.max_length)
    seen = training_entities(train)
    started = time.process_time()
    baseline_tags = lookup_baseline(train, test)
    baseline = {**scores(test, baseline_tags, seen), "cpu_seconds": time.process_time() - started}
    runs = []
    for seed in config.seeds:
        tuned = fine_tuned(train, train_examples, test_examples, config, seed)
        runs.append({**scores(test, tuned["tags"], seen), **{k: v for k, v in tuned.items() if k != "tags"},
                     "errors": errors(test, tuned["tags"]) if seed == config.seeds[0] else []})
    counts = {name: Counter(t[2:] for s in rows for t in s.tags if t.startswith("B-"))
              for name, rows in (("train", train), ("test", test))}
    return {"config": dataclasses.asdict(config), "baseline": baseline, "fine_tuned": runs,
            "baseline_errors": errors(test, baseline_tags, limit=10),
            "sizes": {name: {"sentences": len(rows), "addresses": len({s.address for s in rows}),
                             "entities": dict(counts[name])} for name, rows in (("train", train), ("test", test))},
            "seen_entities": len(seen),
            "machine": runtime.machine()}


def cached_run(config: NerConfig, folder: Path | str, refresh: bool = False) -> dict:
    """:func:`run`, read from ``folder/ner-<config key>.json`` when that file exists, else run and saved there."""
    return runtime.cached_json(Path(folder) / f"ner-{config.key()}.json", lambda: run(config), refresh=refresh)
