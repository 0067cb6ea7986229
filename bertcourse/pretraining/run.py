"""Pre-train a small BERT on the course corpora: masked LM, optionally with NSP or SOP.

The pipeline, one small step each (Chapter 2 of the book walks through it):

1. **Documents.** Moby Dick chapters and State of the Union addresses, each a
   list of sentences (:func:`load_documents`), from the training split; the
   held-out metrics use the validation split.
2. **Tokenizer.** MiniLM's 30,522-piece WordPiece vocabulary, or one trained
   on the training split (:mod:`bertcourse.corpus_tokenizer`).
3. **Segments.** Consecutive sentences are grouped into segments of about half
   a sequence (:func:`segment_documents`), as in BERT's data generator.
4. **Pairs.** Two segments become one example ``[CLS] A [SEP] B [SEP]``: the
   true next segment for plain MLM; NSP pairs (:func:`bertcourse.sentence_pairs.create_nsp_examples`)
   or SOP pairs (:func:`~bertcourse.sentence_pairs.create_sop_examples`) otherwise.
5. **Batches.** Examples of similar length are batched together and padded only
   to the longest in the batch (length bucketing, dynamic padding).
6. **Masking.** ``mask_fn`` (by default :func:`bertcourse.masking.mask_tokens`,
   the 80/10/10 rule) masks each batch when it is drawn ("dynamic", RoBERTa) or
   once per example for the whole run ("static", original BERT).
7. **Model and loss.** :class:`bertcourse.model.BertForPreTraining`; the
   vocabulary projection runs only at the masked positions, and the MLM loss
   and accuracy come from :func:`bertcourse.objectives.mlm_loss_and_accuracy`.

Everything is seeded: on CPU, the same config gives the same history.

Shape letters: B batch, T sequence length, N masked positions in a batch, V vocabulary.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import Tensor

from . import runtime
from .model import BertConfig, BertForPreTraining

OBJECTIVES = ("mlm", "mlm+nsp", "mlm+sop")
MASKINGS = ("dynamic", "static")
TOKENIZERS = ("minilm", "corpus")
CORPORA = ("moby-dick", "sotu")
AUTOCASTS = ("auto", "off", "bf16", "fp16")

MaskFn = Callable[..., tuple[Tensor, Tensor]]


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class PretrainConfig:
    """Everything that decides a pre-training run. Frozen: use ``dataclasses.replace`` to vary it.

    Model shape: ``hidden_size``, ``num_hidden_layers``, ``num_attention_heads``
    and ``intermediate_size`` (the vocabulary size comes from the tokenizer; the defaults
    are the ``cpu`` profile's). :meth:`for_profile` picks all of these for a machine.
    Dropout is off by default: a short run under-fits rather than over-fits,
    which is one of the lessons of cramming (Geiping & Goldstein, 2023).
    ``initializer_range`` is the std of the normal initialisation (BERT: 0.02, chosen for
    768 wide; a narrow model learns to attend sooner with a larger one, see the profiles).

    Optimisation: AdamW with ``learning_rate``, linear warm-up over the first
    ``warmup`` fraction of ``steps``, then linear decay to zero.

    Data: ``corpora`` (training split of each), sequences of at most
    ``seq_len`` tokens, ``batch_size`` examples per step; the held-out metrics
    come from ``eval_examples`` examples of the validation split, measured
    ``num_evals`` times during the run. ``max_documents`` limits the number of
    documents per corpus and split (``None`` = all).
    """

    # model shape
    hidden_size: int = 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 2
    intermediate_size: int = 512
    dropout: float = 0.0
    initializer_range: float = 0.02
    # data
    corpora: tuple[str, ...] = CORPORA
    tokenizer: str = "corpus"
    corpus_vocab_size: int = 8192
    seq_len: int = 128
    max_documents: int | None = None
    # objective
    objective: str = "mlm"
    masking: str = "dynamic"
    mlm_probability: float = 0.15
    # optimisation
    batch_size: int = 16
    steps: int = 1200
    learning_rate: float = 1e-3
    warmup: float = 0.05
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    # evaluation
    eval_examples: int = 256
    num_evals: int = 12
    # run
    seed: int = 0
    autocast: str = "auto"
    device: str | None = None
    profile: str = "cpu"

    def __post_init__(self) -> None:
        def bad(name: str, expected: str) -> ValueError:
            return ValueError(f"PretrainConfig.{name} must be {expected}; got {getattr(self, name)!r}")

        for name, allowed in (("objective", OBJECTIVES), ("masking", MASKINGS),
                              ("tokenizer", TOKENIZERS), ("autocast", AUTOCASTS)):
            if getattr(self, name) not in allowed:
                raise bad(name, "one of " + ", ".join(repr(a) for a in allowed))
        if not self.corpora or any(c not in CORPORA for c in self.corpora):
            raise bad("corpora", f"a non-empty tuple drawn from {CORPORA}")
        if not 0.0 < self.mlm_probability < 1.0:
            raise bad("mlm_probability", "in (0, 1)")
        if not 0.0 <= self.warmup < 1.0:
            raise bad("warmup", "a fraction of the steps in [0, 1)")
        if not 0.0 <= self.dropout < 1.0:
            raise bad("dropout", "in [0, 1)")
        for name in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                     "batch_size", "steps", "eval_examples", "num_evals"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise bad(name, "a positive integer")
        if self.seq_len < 8:
            raise bad("seq_len", "at least 8 (two segments and three special tokens)")
        if self.learning_rate <= 0:
            raise bad("learning_rate", "positive")
        if not self.initializer_range > 0:
            raise bad("initializer_range", "positive")
        if self.hidden_size % self.num_attention_heads:
            raise bad("hidden_size", f"divisible by num_attention_heads={self.num_attention_heads}")
        if self.max_documents is not None and self.max_documents < 2:
            raise bad("max_documents", "None or at least 2 (NSP draws B from another document)")
        runtime.profile(self.profile)  # raises on an unknown profile name

    @classmethod
    def for_profile(cls, name: str | None = None, **overrides) -> PretrainConfig:
        """A configuration sized for the profile ``name`` (default: ``$BERTCOURSE_PROFILE``, else cpu).

        * ``ci``: a 2-layer, 64-wide model on 4 documents per corpus, 40 steps: seconds on a CPU.
        * ``cpu``: a 4-layer, 128-wide model on both corpora, 4,400 steps of 16 x 128 tokens
          (about 9 M tokens, 3 epochs) at learning rate 2e-3 with a 10% warm-up, initialised with
          std 0.05 rather than BERT's 0.02 (which is calibrated for 768 wide): about 11 CPU-minutes
          at one thread in bf16, several minutes on 2 cores (measured: see the Chapter 2 page
          "A real pre-training run").
        * ``gpu``: a 6-layer, 384-wide model (MiniLM's shape), 20,000 steps of 128 x 128 tokens
          (not measured on a GPU by the course yet; init std 0.03, the 0.02 of BERT scaled to 384 wide).

        ``overrides`` replace any field afterwards, e.g. ``objective="mlm+sop"``.
        """
        chosen = runtime.profile(name)
        base = _PROFILE_DEFAULTS[chosen.name]
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"PretrainConfig has no field(s) {sorted(unknown)}")
        return cls(**{**base, "profile": chosen.name, **overrides})

    def model_config(self, vocab_size: int, pad_token_id: int = 0) -> BertConfig:
        """The :class:`~bertcourse.model.BertConfig` of the model this run trains."""
        return BertConfig(
            vocab_size=vocab_size,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            hidden_dropout_prob=self.dropout,
            attention_probs_dropout_prob=self.dropout,
            max_position_embeddings=max(self.seq_len, 128),
            pad_token_id=pad_token_id,
            initializer_range=self.initializer_range,
        )


_PROFILE_DEFAULTS: dict[str, dict] = {
    "ci": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256,
               corpus_vocab_size=2048, seq_len=64, max_documents=4, batch_size=16, steps=40,
               learning_rate=2e-3, warmup=0.1, eval_examples=64, num_evals=4),
    "cpu": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=2, intermediate_size=512,
                initializer_range=0.05, corpus_vocab_size=8192, seq_len=128, batch_size=16, steps=4400,
                learning_rate=2e-3, warmup=0.1, eval_examples=256, num_evals=11),
    "gpu": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=6, intermediate_size=1536,
                initializer_range=0.03, corpus_vocab_size=16384, seq_len=128, batch_size=128, steps=20000,
                learning_rate=1e-3, warmup=0.1, eval_examples=2048, num_evals=40),
}


# --------------------------------------------------------------------------
# Data: documents, segments, pairs
# --------------------------------------------------------------------------


def load_documents(split: str = "train", corpora: Sequence[str] = CORPORA,
                   max_documents: int | None = None) -> list[list[str]]:
    """Documents of ``split`` as lists of sentences: Moby Dick chapters, then SOTU addresses.

    ``max_documents`` keeps the first that many documents of each corpus.
    Documents with fewer than two sentences are dropped (they can form no pair).
    """
    from . import data

    documents: list[list[str]] = []
    for corpus in corpora:
        if corpus == "moby-dick":
            items = [chapter.sentences for chapter in data.moby_dick_splits()[split]]
        elif corpus == "sotu":
            items = [address.sentences for address in data.sotu_splits()[split]]
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
    from . import sentence_pairs

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
        from .hub import load_tokenizer

        return load_tokenizer()
    from .corpus_tokenizer import train_wordpiece

    if train_documents is None:
        train_documents = load_documents("train", config.corpora, config.max_documents)
    return train_wordpiece((s for doc in train_documents for s in doc), config.corpus_vocab_size)


def prepare_data(config: PretrainConfig, tokenizer=None) -> PretrainData:
    """Documents -> tokenizer -> segments -> pairs -> token ids, for the train and validation splits."""
    train_docs = load_documents("train", config.corpora, config.max_documents)
    validation_docs = load_documents("validation", config.corpora, config.max_documents)
    if tokenizer is None:
        tokenizer = build_tokenizer(config, train_docs)
    target = (config.seq_len - 3) // 2
    rng = random.Random(config.seed)
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


# --------------------------------------------------------------------------
# Loss
# --------------------------------------------------------------------------


def _default_mask_fn() -> MaskFn:
    from .masking import mask_tokens

    return mask_tokens


def _mlm_objective() -> Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]:
    from .objectives import mlm_loss_and_accuracy

    return mlm_loss_and_accuracy


def pretraining_loss(model: BertForPreTraining, batch: dict[str, Tensor], objective: str,
                     mlm_loss_fn=None) -> tuple[Tensor, dict[str, float]]:
    """The loss of one masked batch and its metrics.

    The encoder runs on the whole batch; the MLM head only at the N labelled
    positions, so its logits are (N, V) rather than (B, T, V). They go to
    ``mlm_loss_fn`` (default: :func:`bertcourse.objectives.mlm_loss_and_accuracy`)
    as a batch of one sequence, (1, N, V) with labels (1, N). With NSP or SOP
    the cross-entropy of the sentence head is added, unweighted, as in BERT.
    """
    mlm_loss_fn = mlm_loss_fn or _mlm_objective()
    labels = batch["labels"]  # (B, T), -100 where not masked
    positions = labels != -100  # (B, T)
    out = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"], mlm_positions=positions)
    mlm_loss, mlm_accuracy = mlm_loss_fn(out.mlm_logits.float()[None], labels[positions][None])  # (1, N, V), (1, N)
    metrics = {"mlm_loss": mlm_loss.detach(), "mlm_accuracy": mlm_accuracy.detach()}
    loss = mlm_loss
    if objective != "mlm":
        sentence_logits = out.nsp_logits.float()  # (B, 2)
        sentence_loss = F.cross_entropy(sentence_logits, batch["next_sentence_label"])
        loss = loss + sentence_loss
        metrics["sentence_loss"] = sentence_loss.detach()
        metrics["sentence_accuracy"] = (sentence_logits.argmax(-1) == batch["next_sentence_label"]).float().mean()
    return loss, metrics


# --------------------------------------------------------------------------
# Batches with masks
# --------------------------------------------------------------------------


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
    """

    def __init__(self, examples: list[dict], tokenizer, mask_fn: MaskFn, config: PretrainConfig):
        self.examples = examples
        self.tokenizer = tokenizer
        self.mask_fn = mask_fn
        self.config = config
        self.rng = random.Random(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed)
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
        labels = torch.full_like(batch["input_ids"], -100)
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


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------


@dataclass
class PretrainResult:
    """What :func:`pretrain` returns: the trained model, its tokenizer, the curves and the facts of the run."""

    model: BertForPreTraining
    tokenizer: object
    history: object  # bertcourse.train.History
    config: PretrainConfig
    seconds: float
    device: str
    autocast_dtype: str | None
    train_tokens: int
    tokens_seen: int

    @property
    def final_validation_accuracy(self) -> float:
        """Held-out MLM accuracy at the last evaluation."""
        return self.history.last("validation", "mlm_accuracy")

    @property
    def tokens_per_second(self) -> float:
        return self.tokens_seen / max(self.seconds, 1e-9)


def train_config(config: PretrainConfig, progress: bool = True):
    """The :class:`bertcourse.train.TrainConfig` that :func:`pretrain` hands to the training loop."""
    from .train import TrainConfig

    eval_every = max(1, config.steps // config.num_evals)
    return TrainConfig(
        max_steps=config.steps,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        warmup_steps=min(config.steps, round(config.warmup * config.steps)),
        schedule="linear",
        grad_clip=config.max_grad_norm,
        eval_every=eval_every,
        log_every=max(1, min(eval_every, config.steps // 50)),
        autocast=_resolve_autocast(config),
        seed=config.seed,
        progress=progress,
    )


@torch.no_grad()
def evaluate(model: BertForPreTraining, batches: list[dict[str, Tensor]], objective: str,
             device: torch.device | None = None, autocast="auto") -> dict[str, float]:
    """Held-out metrics: MLM averaged over all masked tokens, the sentence head over all examples.

    ``autocast`` is what :func:`bertcourse.runtime.autocast` gets ("auto", a dtype, or None for
    fp32); :func:`pretrain` passes the run's own setting, so an fp32 run is also scored in fp32.
    """
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    tokens = examples = 0
    for batch in batches:
        batch = _move(batch, device)
        with runtime.autocast(device, autocast):
            _, metrics = pretraining_loss(model, batch, objective)
        n, b = int((batch["labels"] != -100).sum()), batch["input_ids"].size(0)
        tokens += n
        examples += b
        for key, value in metrics.items():
            if key.startswith("mlm"):
                sums[key] = sums.get(key, 0.0) + float(value) * n
            elif key.startswith("sentence"):
                sums[key] = sums.get(key, 0.0) + float(value) * b
    model.train(was_training)
    out = {k: v / max(tokens if k.startswith("mlm") else examples, 1) for k, v in sums.items()}
    out["loss"] = out["mlm_loss"] + out.get("sentence_loss", 0.0)
    return out


def _move(batch: dict[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _resolve_autocast(config: PretrainConfig):
    """What ``TrainConfig.autocast`` gets: "auto" (runtime decides), None (fp32) or a forced dtype."""
    return {"auto": "auto", "off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[config.autocast]


def pretrain(config: PretrainConfig, mask_fn: MaskFn | None = None, progress: bool = True,
             data: PretrainData | None = None) -> PretrainResult:
    """Pre-train a fresh :class:`~bertcourse.model.BertForPreTraining` as ``config`` says.

    Args:
        config: the run; :meth:`PretrainConfig.for_profile` sizes one for this machine.
        mask_fn: the masking function, with :func:`bertcourse.masking.mask_tokens`'
            signature ``(input_ids, special_tokens_mask, mask_token_id, vocab_size,
            mlm_probability, generator) -> (masked_ids, labels)``; that function by default.
            It masks the training batches and, once, the held-out batches.
        progress: draw a progress bar with the running loss.
        data: examples from :func:`prepare_data` to reuse across runs with the same corpora,
            tokenizer, seq_len, objective and seed (saves the tokenisation, ~30 s on 2 CPU cores).

    Returns:
        A :class:`PretrainResult`. Its ``history`` (a :class:`bertcourse.train.History`) holds
        ``loss``, ``mlm_loss`` and ``mlm_accuracy`` (plus ``sentence_loss`` and
        ``sentence_accuracy`` with NSP or SOP) under ``"train"`` (means since the previous
        record) and ``"validation"`` (the held-out split), and ``seconds`` and ``tokens``
        (elapsed time and real tokens trained on) with every validation record.
    """
    from .train import train

    mask_fn = mask_fn or _default_mask_fn()
    runtime.set_seed(config.seed)
    device = runtime.pick_device(config.device)
    if data is None:
        data = prepare_data(config)
    tokenizer = data.tokenizer
    if not data.train or not data.validation:
        raise ValueError("no training or held-out examples: raise max_documents or shorten seq_len")
    model = BertForPreTraining(config.model_config(len(tokenizer), tokenizer.pad_token_id))
    held_out = validation_batches(data.validation, tokenizer, config, mask_fn)
    stream = MaskedBatches(data.train, tokenizer, mask_fn, config)
    start = time.perf_counter()

    def loss_fn(model, batch):
        return pretraining_loss(model, batch, config.objective)

    def evaluate_held_out(model):
        metrics = evaluate(model, held_out, config.objective, autocast=_resolve_autocast(config))
        return {**metrics, "seconds": time.perf_counter() - start, "tokens": stream.tokens_seen}

    history = train(model, stream, loss_fn, train_config(config, progress), device=device,
                    evaluate=evaluate_held_out)
    seconds = time.perf_counter() - start
    model.eval()
    dtype = runtime.autocast_dtype(device) if config.autocast == "auto" else _resolve_autocast(config)
    return PretrainResult(model, tokenizer, history, config, seconds, str(device),
                          None if dtype is None else str(dtype).replace("torch.", ""),
                          data.train_tokens, stream.tokens_seen)


# --------------------------------------------------------------------------
# Using the model
# --------------------------------------------------------------------------


@torch.no_grad()
def fill_mask(result: PretrainResult, text: str, top_k: int = 5) -> list[list[tuple[str, float]]]:
    """The model's ``top_k`` guesses, with probabilities, for each ``[MASK]`` in ``text``.

    ``text`` is plain text containing the tokenizer's mask token, e.g.
    ``"Call me [MASK]."``. Returns one list of ``(token, probability)`` per mask, in order.
    """
    tokenizer, model = result.tokenizer, result.model
    if tokenizer.mask_token not in text:
        raise ValueError(f"text must contain {tokenizer.mask_token!r}; got {text!r}")
    encoded = tokenizer(text, return_tensors="pt", truncation=True, max_length=result.config.seq_len)
    device = next(model.parameters()).device
    encoded = {k: v.to(device) for k, v in encoded.items()}
    positions = encoded["input_ids"] == tokenizer.mask_token_id  # (1, T)
    was_training = model.training
    model.eval()
    logits = model(encoded["input_ids"], encoded["attention_mask"], encoded.get("token_type_ids"),
                   mlm_positions=positions).mlm_logits  # (masks, V)
    model.train(was_training)
    probabilities = logits.float().softmax(-1)
    top = probabilities.topk(top_k, dim=-1)
    return [
        [(tokenizer.convert_ids_to_tokens(int(i)), float(p)) for p, i in zip(values, indices)]
        for values, indices in zip(top.values, top.indices)
    ]


def describe_run(result: PretrainResult) -> dict[str, object]:
    """A one-line summary of a run for tables: accuracy, loss, minutes, throughput, device."""
    return {
        "objective": result.config.objective,
        "masking": result.config.masking,
        "tokenizer": result.config.tokenizer,
        "seed": result.config.seed,
        "steps": result.config.steps,
        "validation_mlm_accuracy": result.final_validation_accuracy,
        "validation_mlm_loss": result.history.last("validation", "mlm_loss"),
        "minutes": result.seconds / 60,
        "tokens_per_second": result.tokens_per_second,
        "device": result.device,
        "autocast": result.autocast_dtype or "off (fp32)",
    }


__all__ = [
    "PretrainConfig", "PretrainData", "PretrainResult", "MaskedBatches",
    "pretrain", "prepare_data", "fill_mask", "evaluate", "load_documents",
    "segment_documents", "make_pairs", "encode_pairs", "bucketed_batches", "collate",
    "special_tokens_mask", "mask_batch", "pretraining_loss", "validation_batches", "build_tokenizer", "describe_run",
    "train_config",
]
