"""Task 4, questions about an email answered from its raw header: the data, the fine-tune, a baseline, a cache.

Each SpamAssassin email gives three questions (who sent it, its subject, when it was sent) whose
answers are spans of its raw header text: the value of its first ``From:``, ``Subject:`` and
``Date:`` field (field names in any case, folded continuation lines included). The labels come
from the header's structure, so they are reliable; the context keeps the other fields as they
are (the mbox ``From `` line, ``Return-Path``, ``To``, ``Cc``, ``Message-Id``, the ``X-`` fields),
minus the ``Received:`` routing trail, which would double its length. The split is the corpus's,
by email (:func:`bertcourse.data.spam_assassin_splits`).

* the baseline, what a practitioner writes first for these questions: one regular expression per
  question, the rest of the line after ``From: ``, ``Subject: ``, ``Date: ``;
* MiniLM with a start/end head on every token
  (:class:`~bertcourse.finetuning.token_classifier.TokenClassifier` with 2 labels), trained and read
  in strided windows (:mod:`bertcourse.finetuning.windows`).

Both are scored by SQuAD's exact match and token F1 (:mod:`bertcourse.finetuning.squad_metrics`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bertcourse import data, hub, runtime

from .finetune import FinetuneConfig, fine_tune, predict_logits, span_loss
from .squad_metrics import exact_match, token_f1
from .token_classifier import TokenClassifier
from .windows import answer_tokens, best_answers, encode_windows

QUESTIONS = {"From": "Who sent this email?", "Subject": "What is the subject of this email?",
             "Date": "When was this email sent?"}
RECEIVED = re.compile(r"^Received:.*\n(?:[ \t].*\n)*", re.M | re.I)


@dataclass(frozen=True)
class QaConfig:
    """One run: ``train_emails`` and ``test_emails`` sampled emails (3 questions each), windows of
    ``max_length`` tokens sharing ``stride`` tokens, answers of at most ``max_answer_length`` tokens.

    ``answerless_every``: train on every window that holds its answer and on one in this many of the
    others (1: all of them, as SQuAD pipelines do). Three windows in four hold no answer here, so
    keeping one in three of them spends the budget on more passes over the answers.
    """

    max_length: int = 128
    stride: int = 32
    max_answer_length: int = 48
    train_emails: int = 80
    test_emails: int = 80
    answerless_every: int = 3
    seeds: tuple[int, ...] = (0, 1, 2)
    checkpoint: str = hub.MINILM
    finetune: FinetuneConfig = FinetuneConfig(epochs=3, learning_rate=1e-4)

    @classmethod
    def for_profile(cls, name: str | None = None, **overrides) -> QaConfig:
        """``ci``: 12 training and 6 test emails in 96-token windows, one seed (seconds); ``cpu``: 80 and 80
        emails, three epochs, three seeds (about 2 CPU minutes a seed); ``gpu``: 2,000 training emails,
        256-token windows, every window, two epochs."""
        sizes = {
            "ci": dict(max_length=96, stride=24, train_emails=12, test_emails=6, seeds=(0,),
                       finetune=FinetuneConfig(epochs=2, learning_rate=3e-4)),
            "cpu": {},
            "gpu": dict(max_length=256, stride=64, train_emails=2000, test_emails=600, answerless_every=1,
                        finetune=FinetuneConfig(epochs=2, batch_size=32)),
        }[runtime.profile(name).name]
        return cls(**{**sizes, **overrides})

    def key(self) -> str:
        """A short hash of the config: the cache file's name."""
        return runtime.config_key(self)


@dataclass(frozen=True)
class Question:
    """One question about one email; the answer is ``context[start:start + len(answer)]``."""

    email: str
    field: str
    question: str
    context: str
    start: int
    answer: str

    @property
    def end(self) -> int:
        return self.start + len(self.answer)


def raw_header(path: Path) -> str:
    """The header block of a raw message (up to the first blank line), bytes read as Latin-1 (one character
    per byte, so every file decodes), line ends as ``\\n``."""
    text = path.read_bytes().decode("latin-1").replace("\r\n", "\n")
    return text.split("\n\n", 1)[0] + "\n"


def context_of(header: str) -> str:
    """The header without its ``Received:`` fields (each with its continuation lines)."""
    return RECEIVED.sub("", header)


def questions_of(email_id: str, context: str) -> list[Question]:
    """The questions whose field is in ``context``: each answer is the first such field's value, stripped."""
    out = []
    for field, question in QUESTIONS.items():
        found = re.search(rf"^{field}:[ \t]*(.*(?:\n[ \t].*)*)", context, re.M | re.I)
        if found is None or not found.group(1).strip():
            continue
        value = found.group(1).rstrip()
        out.append(Question(email_id, field, question, context, found.start(1), value))
    return out


def _sample(emails: list, limit: int) -> list:
    """A fixed sample: the first ``limit`` emails in the order of a hash of their key."""
    return sorted(emails, key=lambda e: hashlib.sha256(e.key.encode()).digest())[:limit]


def load(config: QaConfig) -> dict[str, list[Question]]:
    """The questions of the sampled train and test emails."""
    folder = data.fetch("spam-assassin") / "data"
    paths = {f"{p.parent.name}/{p.name.split('.')[0]}": p for p in folder.glob("*/*.txt")}
    splits = data.spam_assassin_splits()
    return {split: [q for e in _sample(splits[split], limit) for q in questions_of(e.id, context_of(
                raw_header(paths[e.id])))]
            for split, limit in (("train", config.train_emails), ("test", config.test_emails))}


def regex_baseline(questions: list[Question]) -> list[str]:
    """The rest of the first line that starts with ``<field>: `` (case as written), or "" when none does."""
    answers = []
    for q in questions:
        found = re.search(rf"^{q.field}: (.*)$", q.context, re.M)
        answers.append(found.group(1).strip() if found else "")
    return answers


def scores(questions: list[Question], answers: list[str]) -> dict:
    """Mean exact match and F1 (fractions), overall and per field asked."""
    em = [exact_match(a, q.answer) for q, a in zip(questions, answers)]
    f1 = [token_f1(a, q.answer) for q, a in zip(questions, answers)]
    per_field = {}
    for field in QUESTIONS:
        rows = [i for i, q in enumerate(questions) if q.field == field]
        if not rows:
            continue
        per_field[field] = {"n": len(rows), "exact_match": float(np.mean([em[i] for i in rows])),
                            "f1": float(np.mean([f1[i] for i in rows]))}
    return {"n": len(questions), "exact_match": float(np.mean(em)), "f1": float(np.mean(f1)), "fields": per_field}


def training_windows(tokenizer, questions: list[Question], config: QaConfig):
    """The training windows and their (start, end) token labels: every window holding its answer, and one in
    ``config.answerless_every`` of the others, labelled (0, 0)."""
    windows = encode_windows(tokenizer, [q.question for q in questions], [q.context for q in questions],
                             config.max_length, config.stride)
    labels = [answer_tokens(w, questions[w.question].start, questions[w.question].end) for w in windows]
    answerless = np.cumsum([label == (0, 0) for label in labels])  # the running count of answerless windows
    kept = [i for i, label in enumerate(labels) if label != (0, 0) or answerless[i] % config.answerless_every == 0]
    return [windows[i] for i in kept], [labels[i] for i in kept]


def answer(model, tokenizer, questions: list[Question], config: QaConfig) -> list[str]:
    """The model's answer to each question: the best span over its windows, as context text."""
    windows = encode_windows(tokenizer, [q.question for q in questions], [q.context for q in questions],
                             config.max_length, config.stride)
    logits = predict_logits(model, [w.example for w in windows])
    spans = best_answers(windows, logits, len(questions), config.max_answer_length)
    return [q.context[start:end] for q, (start, end, _) in zip(questions, spans)]


def fine_tuned(split: dict, config: QaConfig, seed: int, tokenizer) -> dict:
    """Fine-tune ``TokenClassifier(MiniLM, 384, 2)`` with ``seed``; its test answers, history and timing."""
    finetune = dataclasses.replace(config.finetune, seed=seed)
    runtime.set_seed(seed)
    encoder = hub.load_bert(config.checkpoint)
    model = TokenClassifier(encoder, encoder.config.hidden_size, 2)
    windows, labels = training_windows(tokenizer, split["train"], config)
    started = time.process_time()
    history, _ = fine_tune(model, [w.example for w in windows], labels, finetune, loss_fn=span_loss)
    train_cpu = time.process_time() - started
    answers = answer(model, tokenizer, split["test"], config)
    return {"seed": seed, "answers": answers, "train_windows": len(windows),
            "answerless_windows": sum(label == (0, 0) for label in labels), "train_cpu_seconds": train_cpu,
            "cpu_seconds": time.process_time() - started, "history": history.records}


def run(config: QaConfig) -> dict:
    """The baseline and one fine-tune per seed on the same questions, scored, with every test answer."""
    tokenizer = hub.load_tokenizer(config.checkpoint)
    split = load(config)
    started = time.process_time()
    baseline_answers = regex_baseline(split["test"])
    baseline = {**scores(split["test"], baseline_answers), "answers": baseline_answers,
                "cpu_seconds": time.process_time() - started}
    runs = [{**scores(split["test"], tuned["answers"]), **tuned}
            for tuned in (fine_tuned(split, config, seed, tokenizer) for seed in config.seeds)]
    test_windows = encode_windows(tokenizer, [q.question for q in split["test"]],
                                  [q.context for q in split["test"]], config.max_length, config.stride)
    return {"config": dataclasses.asdict(config), "baseline": baseline, "fine_tuned": runs,
            "test": [{"email": q.email, "field": q.field, "answer": q.answer} for q in split["test"]],
            "sizes": {name: {"emails": len({q.email for q in rows}), "questions": len(rows),
                             "context_chars": float(np.median([len(q.context) for q in rows]))}
                      for name, rows in split.items()} | {"test_windows": len(test_windows)},
            "machine": runtime.machine()}


def cached_run(config: QaConfig, folder: Path | str, refresh: bool = False) -> dict:
    """:func:`run`, read from ``folder/header-qa-<config key>.json`` when it exists, else run and saved there."""
    return runtime.cached_json(Path(folder) / f"header-qa-{config.key()}.json", lambda: run(config), refresh=refresh)
