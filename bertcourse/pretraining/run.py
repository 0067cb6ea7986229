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
from dataclasses import asdict, dataclass, field, fields, replace

import torch
from torch import Tensor

from .. import runtime
from ..models.bert import BertConfig, BertLayer, PreLNBertLayer, init_positions_sinusoidal
from ..models.deberta import DebertaConfig, DebertaForPreTraining
from ..models.heads import BertForPreTraining
from ..training import precision
from ..training.loop import TrainConfig, train
from .data import CORPORA, MaskedBatches, MaskFn, PretrainData, prepare_data, validation_batches
from .masking import mask_tokens
from .objectives import IGNORE_INDEX, pretraining_loss

OBJECTIVES = ("mlm", "mlm+nsp", "mlm+sop")
MASKINGS = ("dynamic", "static")
TOKENIZERS = ("minilm", "corpus")
# Where each encoder layer puts its LayerNorms: BERT's post-LN, or pre-LN (cramming's; no transformers twin).
LAYER_CLASSES = {"post": BertLayer, "pre": PreLNBertLayer}
POSITION_INITS = ("normal", "sinusoidal")
# How the encoder knows where a token is: BERT's learned absolute position embeddings, or
# DeBERTa's relative distances (Chapter 3; attention over clipped distances, no absolute position).
POSITIONS = ("absolute", "relative")
# DeBERTa's k for pre-training runs: distances beyond +-32 tokens share the end rows of its table.
RELATIVE_SPAN = 32


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class PretrainConfig:
    """Everything that decides a pre-training run: a model config, a training config and the data settings.

    Composed, not restated: ``model`` is the :class:`~bertcourse.models.bert.BertConfig` of
    the model (its ``vocab_size`` and ``pad_token_id`` come from the tokenizer when the run
    starts, see :meth:`model_config`) and ``train`` the :class:`~bertcourse.training.loop.TrainConfig`
    of the loop, so every training setting (``schedule``, ``accumulation_steps``,
    ``grad_clip``, ``autocast``, ``seed``, ...) is reachable from a run under its own name.
    :meth:`for_profile` sizes all three for a machine; :meth:`with_changes` varies any field by
    its name. Frozen: ``dataclasses.replace`` works too, one part at a time.

    Dropout is off in the profiles: a short run under-fits rather than over-fits, which is
    one of the lessons of cramming (Geiping & Goldstein, 2023). ``initializer_range`` is the
    std of the normal initialisation (BERT: 0.02, chosen for 768 wide; a narrow model learns
    to attend sooner with a larger one, see the profiles).

    ``layer_norm`` is "post" (BERT's layers) or "pre" (:class:`~bertcourse.models.bert.PreLNBertLayer`);
    ``position_init`` "normal" (BERT's) or "sinusoidal" (learned positions that start as the
    Transformer's sinusoids, :func:`~bertcourse.models.bert.init_positions_sinusoidal`). Both were
    screened in book/ch4_training/recipe.md; the profiles keep BERT's choices.

    ``positions`` says how the encoder knows where a token is: ``"absolute"`` (BERT's learned
    position embeddings) or ``"relative"`` (DeBERTa's attention over clipped distances, see
    :func:`build_model`); measured against each other in book/ch4_training/recipe.md. The ``cpu`` profile uses
    relative positions, the largest lever measured there.

    Data: ``corpora`` (training split of each), sequences of at most ``seq_len`` tokens
    (at most ``model.max_position_embeddings``), ``batch_size`` examples per step; the held-out
    metrics come from ``eval_examples`` examples of the validation split, measured every
    ``train.eval_every`` steps. ``max_documents`` limits the number of documents per corpus and
    split (``None`` = all). ``train.seed`` seeds the data order and the masks as well as the model.
    Taught in book/ch2_pretraining/pretraining_run.md.
    """

    model: BertConfig = field(default_factory=lambda: _profile_parts("cpu")[0])
    train: TrainConfig = field(default_factory=lambda: _profile_parts("cpu")[1])
    layer_norm: str = "post"
    position_init: str = "normal"
    positions: str = "absolute"
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
    # batches
    batch_size: int = 16
    eval_examples: int = 256
    # where
    device: str | None = None
    profile: str = "cpu"

    def __post_init__(self) -> None:
        def bad(name: str, expected: str, value=None) -> ValueError:
            value = getattr(self, name) if value is None else value
            return ValueError(f"PretrainConfig.{name} must be {expected}; got {value!r}")

        if not isinstance(self.model, BertConfig):
            raise bad("model", "a BertConfig", type(self.model).__name__)
        if not isinstance(self.train, TrainConfig):
            raise bad("train", "a TrainConfig", type(self.train).__name__)
        for name, allowed in (("objective", OBJECTIVES), ("masking", MASKINGS), ("tokenizer", TOKENIZERS),
                              ("layer_norm", tuple(LAYER_CLASSES)), ("position_init", POSITION_INITS),
                              ("positions", POSITIONS)):
            if getattr(self, name) not in allowed:
                raise bad(name, "one of " + ", ".join(repr(a) for a in allowed))
        if self.positions == "relative" and (self.layer_norm, self.position_init) != ("post", "normal"):
            raise bad("positions", "'absolute' with layer_norm='pre' or position_init='sinusoidal' "
                      "(DeBERTa's encoder is post-LN and has no absolute positions to initialise)")
        if not self.corpora or any(c not in CORPORA for c in self.corpora):
            raise bad("corpora", f"a non-empty tuple drawn from {CORPORA}")
        if not 0.0 < self.mlm_probability < 1.0:
            raise bad("mlm_probability", "in (0, 1)")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not 0.0 <= getattr(self.model, name) < 1.0:
                raise bad(f"model.{name}", "in [0, 1)", getattr(self.model, name))
        for name in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"):
            value = getattr(self.model, name)
            if not isinstance(value, int) or value < 1:
                raise bad(f"model.{name}", "a positive integer", value)
        for name in ("batch_size", "eval_examples"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise bad(name, "a positive integer")
        if self.seq_len < 8:
            raise bad("seq_len", "at least 8 (two segments and three special tokens)")
        if self.seq_len > self.model.max_position_embeddings:
            raise bad("seq_len", f"at most model.max_position_embeddings={self.model.max_position_embeddings}")
        if not self.model.initializer_range > 0:
            raise bad("model.initializer_range", "positive", self.model.initializer_range)
        if self.max_documents is not None and self.max_documents < 2:
            raise bad("max_documents", "None or at least 2 (NSP draws B from another document)")
        runtime.profile(self.profile)  # raises on an unknown profile name

    @classmethod
    def for_profile(cls, name: str | None = None, *, num_evals: int | None = None,
                    warmup: float | None = None, **overrides) -> PretrainConfig:
        """A configuration sized for the profile ``name`` (default: ``$BERTCOURSE_PROFILE``, else cpu).

        * ``ci``: a 2-layer, 64-wide model on 4 documents per corpus, 40 steps: seconds on a CPU.
        * ``cpu``: a 4-layer, 128-wide model with relative positions (``positions="relative"``:
          BERT's heads on DeBERTa's encoder) on both corpora, 2,200 steps of 16 x 128 tokens
          (about 4.5 M tokens, 1.5 epochs) at learning rate 2e-3 with a 10% warm-up, initialised
          with std 0.05 rather than BERT's 0.02 (which is calibrated for 768 wide): about 6
          CPU-minutes at one thread in bf16 (measured: book/ch4_training/recipe.md).
        * ``gpu``: a 6-layer, 384-wide model (MiniLM's shape), 20,000 steps of 128 x 128 tokens
          (not measured on a GPU by the course yet; init std 0.03, the 0.02 of BERT scaled to 384 wide).

        ``overrides`` set any field of the run, of its ``model`` or of its ``train`` config by its
        own name, e.g. ``objective="mlm+sop"``, ``hidden_size=256``, ``max_steps=600``,
        ``schedule="constant"``. Two settings are derived unless given: ``warmup_steps`` is the
        ``warmup`` fraction (the profile's, 10%) of ``max_steps``, and ``eval_every`` spreads
        ``num_evals`` evaluations (the profile's) over the run; ``max_position_embeddings`` is
        ``max(seq_len, 128)``.
        """
        chosen = runtime.profile(name)
        table = _PROFILES[chosen.name]
        model_kw, train_kw, own_kw = _route({**table["run"], "profile": chosen.name, **overrides})
        max_steps = train_kw.setdefault("max_steps", table["steps"])
        warmup = table["warmup"] if warmup is None else warmup
        if not 0.0 <= warmup < 1.0:
            raise ValueError(f"warmup must be a fraction of the steps in [0, 1); got {warmup!r}")
        num_evals = table["num_evals"] if num_evals is None else num_evals
        if not isinstance(num_evals, int) or num_evals < 1:
            raise ValueError(f"num_evals must be a positive integer; got {num_evals!r}")
        train_kw.setdefault("warmup_steps", min(max_steps, round(warmup * max_steps)))
        eval_every = train_kw.setdefault("eval_every", max(1, max_steps // num_evals))
        train_kw.setdefault("log_every", max(1, min(eval_every, max_steps // 50)))
        seq_len = own_kw.get("seq_len", _DEFAULT_SEQ_LEN)
        model_kw.setdefault("max_position_embeddings", max(seq_len, 128))
        model = BertConfig(**{**_MODEL_DEFAULTS, **table["model"], **model_kw})
        train = TrainConfig(**{"learning_rate": table["learning_rate"], **train_kw})
        return cls(model=model, train=train, **own_kw)

    def with_changes(self, **changes) -> PretrainConfig:
        """This configuration with fields of the run, its ``model`` or its ``train`` config changed by name.

        Nothing is re-derived, except that a longer ``seq_len`` raises ``max_position_embeddings``
        to match (unless that is given too).
        """
        model_kw, train_kw, own_kw = _route(changes)
        if "seq_len" in own_kw and "max_position_embeddings" not in model_kw:
            model_kw["max_position_embeddings"] = max(self.model.max_position_embeddings, own_kw["seq_len"])
        return replace(self, model=replace(self.model, **model_kw), train=replace(self.train, **train_kw), **own_kw)

    def model_config(self, vocab_size: int, pad_token_id: int = 0) -> BertConfig:
        """The :class:`~bertcourse.models.bert.BertConfig` of the model this run trains, for its tokenizer."""
        return replace(self.model, vocab_size=vocab_size, pad_token_id=pad_token_id)

    def settings(self) -> dict[str, object]:
        """Every setting by its name, the model's and the training loop's included (one flat table)."""
        own = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("model", "train")}
        return {**own, **asdict(self.model), **asdict(self.train)}


_MODEL_FIELDS = frozenset(f.name for f in fields(BertConfig))
_TRAIN_FIELDS = frozenset(f.name for f in fields(TrainConfig))
_OWN_FIELDS = frozenset(f.name for f in fields(PretrainConfig)) - {"model", "train"}
_DEFAULT_SEQ_LEN = 128
# Dropout off: see PretrainConfig's docstring.
_MODEL_DEFAULTS = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def _route(settings: dict) -> tuple[dict, dict, dict]:
    """Split settings named by their own names into (model, train, run) keyword arguments."""
    unknown = set(settings) - _MODEL_FIELDS - _TRAIN_FIELDS - _OWN_FIELDS
    if unknown:
        raise ValueError(f"PretrainConfig, its BertConfig and its TrainConfig have no field(s) {sorted(unknown)}")
    pick = lambda names: {k: v for k, v in settings.items() if k in names}  # noqa: E731
    return pick(_MODEL_FIELDS), pick(_TRAIN_FIELDS), pick(_OWN_FIELDS)


# Each profile: the model's shape, the run's data settings, and the training length and rate.
_PROFILES: dict[str, dict] = {
    "ci": dict(model=dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256),
               run=dict(corpus_vocab_size=2048, seq_len=64, max_documents=4, batch_size=16, eval_examples=64),
               steps=40, learning_rate=2e-3, warmup=0.1, num_evals=4),
    "cpu": dict(model=dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=2, intermediate_size=512,
                           initializer_range=0.05),
                # Relative positions: with BERT's absolute ones this budget stays below neighbour counts
                # (book/ch4_training/recipe.md); 2,200 steps then pass 30% held-out accuracy.
                run=dict(corpus_vocab_size=8192, seq_len=128, batch_size=16, eval_examples=256, positions="relative"),
                steps=2200, learning_rate=2e-3, warmup=0.1, num_evals=11),
    "gpu": dict(model=dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=6, intermediate_size=1536,
                           initializer_range=0.03),
                run=dict(corpus_vocab_size=16384, seq_len=128, batch_size=128, eval_examples=2048),
                steps=20000, learning_rate=1e-3, warmup=0.1, num_evals=40),
}


def _profile_parts(name: str) -> tuple[BertConfig, TrainConfig]:
    """The model and training configs of profile ``name``: the defaults of a bare ``PretrainConfig()``."""
    config = PretrainConfig.for_profile(name)
    return config.model, config.train


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


@torch.no_grad()
def evaluate(model: BertForPreTraining, batches: list[dict[str, Tensor]], objective: str,
             device: torch.device | None = None, autocast="auto") -> dict[str, float]:
    """Held-out metrics: MLM averaged over all masked tokens, the sentence head over all examples.

    ``autocast`` is a setting of :func:`bertcourse.training.precision.resolve` ("auto", "off" or
    None for fp32, "bf16", "fp16" or a dtype); :func:`pretrain` passes the run's own
    ``train.autocast``, so an fp32 run is also scored in fp32.

    Taught in book/ch2_pretraining/ablation.md.
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


def build_model(config: PretrainConfig, vocab_size: int, pad_token_id: int = 0) -> BertForPreTraining:
    """The freshly initialised model of a run: its positions, layer order (``layer_norm``) and position init.

    ``positions="relative"`` gives :class:`~bertcourse.models.deberta.DebertaForPreTraining`: the same
    heads and sizes on DeBERTa's encoder, distances clipped at :data:`RELATIVE_SPAN`, no token types.
    """
    if config.positions == "relative":
        model_config = config.model_config(vocab_size, pad_token_id)
        return DebertaForPreTraining(DebertaConfig(**{**asdict(model_config), "type_vocab_size": 0,
                                                      "position_buckets": 0, "max_relative_positions": RELATIVE_SPAN}))
    model = BertForPreTraining(config.model_config(vocab_size, pad_token_id), layer_cls=LAYER_CLASSES[config.layer_norm])
    if config.position_init == "sinusoidal":
        init_positions_sinusoidal(model.bert.embeddings.position_embeddings, config.model.initializer_range)
    return model


def pretrain(config: PretrainConfig, mask_fn: MaskFn | None = None, progress: bool | None = None,
             data: PretrainData | None = None) -> PretrainResult:
    """Pre-train a fresh :class:`~bertcourse.models.heads.BertForPreTraining` as ``config`` says.

    Args:
        config: the run; :meth:`PretrainConfig.for_profile` sizes one for this machine.
        mask_fn: the masking function, with :func:`bertcourse.pretraining.masking.mask_tokens`'
            signature ``(input_ids, special_tokens_mask, mask_token_id, vocab_size,
            mlm_probability, generator) -> (masked_ids, labels)``; that function by default.
            It masks the training batches and, once, the held-out batches.
        progress: draw a progress bar with the running loss (None: as ``config.train.progress`` says).
        data: examples from :func:`prepare_data` to reuse across runs with the same corpora,
            tokenizer, seq_len, objective and seed (saves the tokenisation, ~30 s on 2 CPU cores).

    Returns:
        A :class:`PretrainResult`. Its ``history`` (a :class:`bertcourse.training.loop.History`) holds
        ``loss``, ``mlm_loss`` and ``mlm_accuracy`` (plus ``sentence_loss`` and
        ``sentence_accuracy`` with NSP or SOP) under ``"train"`` (means since the previous
        record) and ``"validation"`` (the held-out split), and ``seconds`` and ``tokens``
        (elapsed time and real tokens trained on) with every validation record.

    Taught in book/ch2_pretraining/pretraining_run.md.
    """
    mask_fn = mask_fn or mask_tokens
    runtime.set_seed(config.train.seed)
    device = runtime.pick_device(config.device)
    if data is None:
        data = prepare_data(config)
    tokenizer = data.tokenizer
    if not data.train or not data.validation:
        raise ValueError("no training or held-out examples: raise max_documents or shorten seq_len")
    model = build_model(config, len(tokenizer), tokenizer.pad_token_id)
    held_out = validation_batches(data.validation, tokenizer, config, mask_fn)
    stream = MaskedBatches(data.train, tokenizer, mask_fn, config)
    start = time.perf_counter()

    def loss_fn(model, batch):
        return pretraining_loss(model, batch, config.objective)

    def evaluate_held_out(model):
        metrics = evaluate(model, held_out, config.objective, autocast=config.train.autocast)
        return {**metrics, "seconds": time.perf_counter() - start, "tokens": stream.tokens_seen}

    train_config = config.train if progress is None else replace(config.train, progress=progress)
    history = train(model, stream, loss_fn, train_config, device=device, evaluate=evaluate_held_out)
    seconds = time.perf_counter() - start
    model.eval()
    dtype = precision.resolve(device, config.train.autocast)
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

    Taught in book/ch2_pretraining/pretraining_run.md.
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
        "seed": result.config.train.seed,
        "steps": result.config.train.max_steps,
        "validation_mlm_accuracy": result.final_validation_accuracy,
        "validation_mlm_loss": result.history.last("validation", "mlm_loss"),
        "minutes": result.seconds / 60,
        "tokens_per_second": result.tokens_per_second,
        "device": result.device,
        "autocast": result.autocast_dtype or "off (fp32)",
    }
