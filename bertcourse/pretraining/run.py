"""A pre-training run: its config, :func:`pretrain`, held-out :func:`evaluate` and :func:`fill_mask`.

The data pipeline is :mod:`bertcourse.pretraining.data`; the model is
:class:`bertcourse.models.heads.BertForPreTraining`, whose vocabulary projection
runs only at the masked positions; the loss is
:func:`bertcourse.pretraining.objectives.pretraining_loss`; the loop is
:func:`bertcourse.training.loop.train`. Taught in book/ch2_pretraining/pretraining_run.md.

Everything is seeded: on CPU, the same config gives the same history.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from .. import runtime
from ..models.bert import BertConfig
from ..models.heads import BertForPreTraining
from ..training import precision
from ..training.loop import TrainConfig, train
from .data import (CORPORA, MaskedBatches, MaskFn, PretrainData, prepare_data, validation_batches)
from .masking import mask_tokens
from .objectives import IGNORE_INDEX, pretraining_loss

OBJECTIVES = ("mlm", "mlm+nsp", "mlm+sop")
MASKINGS = ("dynamic", "static")
TOKENIZERS = ("minilm", "corpus")
AUTOCASTS = tuple(precision.SETTINGS)  # "auto", "off", "bf16", "fp16"


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
        """The :class:`~bertcourse.models.bert.BertConfig` of the model this run trains."""
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
# Training
# --------------------------------------------------------------------------


@dataclass
class PretrainResult:
    """What :func:`pretrain` returns: the trained model, its tokenizer, the curves and the facts of the run."""

    model: BertForPreTraining
    tokenizer: object
    history: object  # bertcourse.training.loop.History
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


def train_config(config: PretrainConfig, progress: bool = True) -> TrainConfig:
    """The :class:`bertcourse.training.loop.TrainConfig` that :func:`pretrain` hands to the training loop."""
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
        autocast=_autocast_setting(config),
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
    sums: dict[str, float] = {}
    tokens = examples = 0
    with runtime.eval_mode(model):
        for batch in batches:
            batch = runtime.to_device(batch, device)
            with precision.autocast(device, autocast):
                _, metrics = pretraining_loss(model, batch, objective)
            n, b = int((batch["labels"] != IGNORE_INDEX).sum()), batch["input_ids"].size(0)
            tokens += n
            examples += b
            for key, value in metrics.items():
                if key.startswith("mlm"):
                    sums[key] = sums.get(key, 0.0) + float(value) * n
                elif key.startswith("sentence"):
                    sums[key] = sums.get(key, 0.0) + float(value) * b
    out = {k: v / max(tokens if k.startswith("mlm") else examples, 1) for k, v in sums.items()}
    out["loss"] = out["mlm_loss"] + out.get("sentence_loss", 0.0)
    return out


def _autocast_setting(config: PretrainConfig):
    """What ``TrainConfig.autocast`` gets: "auto" (decided per device), None (fp32) or a forced dtype."""
    return precision.SETTINGS[config.autocast]


def pretrain(config: PretrainConfig, mask_fn: MaskFn | None = None, progress: bool = True,
             data: PretrainData | None = None) -> PretrainResult:
    """Pre-train a fresh :class:`~bertcourse.models.heads.BertForPreTraining` as ``config`` says.

    Args:
        config: the run; :meth:`PretrainConfig.for_profile` sizes one for this machine.
        mask_fn: the masking function, with :func:`bertcourse.pretraining.masking.mask_tokens`'
            signature ``(input_ids, special_tokens_mask, mask_token_id, vocab_size,
            mlm_probability, generator) -> (masked_ids, labels)``; that function by default.
            It masks the training batches and, once, the held-out batches.
        progress: draw a progress bar with the running loss.
        data: examples from :func:`prepare_data` to reuse across runs with the same corpora,
            tokenizer, seq_len, objective and seed (saves the tokenisation, ~30 s on 2 CPU cores).

    Returns:
        A :class:`PretrainResult`. Its ``history`` (a :class:`bertcourse.training.loop.History`) holds
        ``loss``, ``mlm_loss`` and ``mlm_accuracy`` (plus ``sentence_loss`` and
        ``sentence_accuracy`` with NSP or SOP) under ``"train"`` (means since the previous
        record) and ``"validation"`` (the held-out split), and ``seconds`` and ``tokens``
        (elapsed time and real tokens trained on) with every validation record.
    """
    mask_fn = mask_fn or mask_tokens
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
        metrics = evaluate(model, held_out, config.objective, autocast=_autocast_setting(config))
        return {**metrics, "seconds": time.perf_counter() - start, "tokens": stream.tokens_seen}

    history = train(model, stream, loss_fn, train_config(config, progress), device=device,
                    evaluate=evaluate_held_out)
    seconds = time.perf_counter() - start
    model.eval()
    dtype = precision.resolve(device, config.autocast)
    return PretrainResult(model, tokenizer, history, config, seconds, str(device), precision.dtype_name(dtype),
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
    encoded = runtime.to_device(dict(encoded), device)
    positions = encoded["input_ids"] == tokenizer.mask_token_id  # (1, T)
    with runtime.eval_mode(model):
        logits = model(encoded["input_ids"], encoded["attention_mask"], encoded.get("token_type_ids"),
                       mlm_positions=positions).mlm_logits  # (masks, V)
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
