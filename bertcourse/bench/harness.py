"""The benchmark harness: plans, the machine record, interleaved A/B timing, medians, shared models and inputs.

How the numbers are taken, so that a noisy, shared machine still gives ratios
worth quoting:

* both sides of a comparison run in the same process, on identical weights and inputs;
* after ``warmup`` untimed calls of each side, the sides alternate (A B, B A, A B, ...)
  for ``repeats`` rounds, so a slow spell of the machine hits both;
* each row reports the median time of each side, the min/max spread, and the
  median of the per-round ratios (paired, which cancels most drift).

Only ratios measured in one run are comparable; absolute tokens/s drift
between runs and machines. The machine (CPU model, cores, threads, torch
version, device, native bf16) is recorded with the numbers.

Shape letters: B batch, T sequence length.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import transformers

from .. import runtime
from ..models.bert import BertConfig, BertModel
from ..models.convert import load_transformers_weights

BENCH_DIR = Path("_build") / "bench"
RESULTS_PATH = BENCH_DIR / "results.json"
SCHEMA_VERSION = 5  # bump when the JSON's structure changes


# --- Plans -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EncoderCase:
    """One encoder comparison: a named preset at sequence length ``seq`` with ``batch`` sequences."""

    preset: str
    seq: int
    batch: int
    layers: int | None = None  # override num_hidden_layers (quick runs)


@dataclass(frozen=True)
class BenchPlan:
    """What one run measures and how often."""

    name: str
    encoder_cases: tuple[EncoderCase, ...]
    mfu_cases: tuple[EncoderCase, ...]  # the first also sizes the levers
    mlm_batch: int
    mlm_seq: int
    mlm_profile: str
    warmup: int
    repeats: int
    peak_size: int  # n of the n x n x n matmul that measures the peak
    peak_calls: int = 1  # matmuls per timed round, so that a round lasts about as long as a training step
    accuracy_steps: int = 400  # pre-training steps per dtype for the time-to-accuracy runs
    accuracy_evals: int = 8  # held-out evaluations during each of them
    baseline_seconds: float | None = 600.0  # budget of the transformers loop the recipe is timed against (None: skip)
    recipe_evals: int = 22  # held-out evaluations of the recipe's run in that comparison (every 100 steps on cpu)


# Sized for a 2-core CPU: the full plan took 18 minutes there (2026-12-02), 10 of them the transformers loop.
FULL = BenchPlan(
    name="full",
    encoder_cases=(
        EncoderCase("minilm-l6", 128, 8),
        EncoderCase("minilm-l6", 512, 2),
        EncoderCase("bert-base", 128, 2),
        EncoderCase("bert-base", 512, 1),
    ),
    # 16 x 128 is the size the performance issue measured transformers at; 8 x 128 matches the table above.
    mfu_cases=(EncoderCase("minilm-l6", 128, 8), EncoderCase("minilm-l6", 128, 16)),
    mlm_batch=16,
    mlm_seq=128,
    mlm_profile="cpu",
    warmup=1,
    repeats=5,
    peak_size=1536,
    peak_calls=8,
)

QUICK = BenchPlan(
    name="quick",
    encoder_cases=(EncoderCase("minilm-l6", 128, 2, layers=2),),
    mfu_cases=(EncoderCase("minilm-l6", 128, 2, layers=2),),
    mlm_batch=4,
    mlm_seq=64,
    mlm_profile="ci",
    accuracy_steps=20,
    accuracy_evals=2,
    baseline_seconds=None,
    warmup=1,
    repeats=3,
    peak_size=1024,
    peak_calls=2,
)

# GPUs are much faster: bigger batches so that a step is not all launch overhead.
GPU_SCALE = 16


def plan_for(quick: bool, device: torch.device) -> BenchPlan:
    """The plan of a run: :data:`QUICK` or :data:`FULL`, scaled up on a GPU."""
    plan = QUICK if quick else FULL
    if device.type == "cuda" and not quick:
        plan = replace(
            plan,
            encoder_cases=tuple(replace(c, batch=c.batch * GPU_SCALE) for c in plan.encoder_cases),
            mfu_cases=tuple(replace(c, batch=c.batch * GPU_SCALE) for c in plan.mfu_cases),
            mlm_batch=plan.mlm_batch * 8,
            repeats=10,
            warmup=3,
            peak_size=8192,
            peak_calls=10,
        )
    return plan


# --- Machine and timing ---------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: torch.device) -> dict:
    """Everything the numbers depend on: CPU, cores, threads, torch, device, native bf16."""
    info = {
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "load_average": load_average(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "device": str(device),
        "native_cpu_bf16": runtime.cpu_has_fast_bf16(),
        "autocast_dtype": dtype_name(runtime.autocast_dtype(device)),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def load_average() -> list[float] | None:
    """1, 5 and 15-minute load averages: how busy the machine was with other work (None where unknown)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def dtype_name(dtype: torch.dtype | None) -> str:
    """The short name a result row gives a precision: fp32, bf16 or fp16."""
    return "fp32" if dtype is None else {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, str(dtype))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(sides: dict[str, Callable[[], object]], *, warmup: int, repeats: int,
                device: torch.device) -> dict[str, list[float]]:
    """Seconds per call of each side: ``warmup`` untimed rounds, then ``repeats`` timed rounds.

    The order alternates from round to round (A B, B A, A B, ...).
    """
    for _ in range(warmup):
        for run in sides.values():
            run()
    synchronize(device)
    times: dict[str, list[float]] = {name: [] for name in sides}
    order = list(sides.items())
    for round_ in range(repeats):
        # A B, then B A, ...: neither side always runs first (or right after the other).
        for name, run in order if round_ % 2 == 0 else order[::-1]:
            synchronize(device)
            start = time.perf_counter()
            run()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return times


def spread(seconds: list[float], work: float) -> dict[str, float]:
    """Median, fastest and slowest rate (``work`` per second) of a list of timings."""
    return {
        "median": work / statistics.median(seconds),
        "max": work / min(seconds),
        "min": work / max(seconds),
        "seconds": [round(s, 5) for s in seconds],
    }


def paired_ratio(ours: list[float], theirs: list[float]) -> dict[str, float]:
    """Speed of ours relative to theirs (theirs' time / ours'), round by round: median, min, max."""
    ratios = [t / o for o, t in zip(ours, theirs)]
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}


# --- Models and inputs shared by the tables --------------------------------------------------------


def encoder_config(case: EncoderCase) -> BertConfig:
    """The config of ``case``: its preset, its layer count, positions enough for its sequence length."""
    config = BertConfig.preset(case.preset)
    if case.layers is not None:
        config = replace(config, num_hidden_layers=case.layers)
    return replace(config, max_position_embeddings=max(config.max_position_embeddings, case.seq))


def model_pair(config: BertConfig, device: torch.device, seed: int = 0):
    """(reference BertModel, transformers.BertModel) with identical, freshly initialised weights."""
    torch.manual_seed(seed)
    hf_config = config.to_transformers()
    hf_config._attn_implementation = "sdpa"  # transformers' fastest CPU attention, its default
    theirs = transformers.BertModel(hf_config).to(device)
    ours = load_transformers_weights(BertModel(config), theirs.state_dict()).to(device)
    return ours, theirs


def inputs(config: BertConfig, batch: int, seq: int, device: torch.device, seed: int = 0):
    """Random (B, T) ids of ``config``'s vocabulary, and an all-ones attention mask (no padding)."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(1000, config.vocab_size, (batch, seq), generator=generator).to(device)
    return input_ids, torch.ones_like(input_ids)  # no padding


def inference_step(model, input_ids, attention_mask, dtype, device):
    """A call of the encoder without gradients, under autocast in ``dtype``."""
    def run():
        with torch.inference_mode(), runtime.autocast(device, dtype):
            model(input_ids=input_ids, attention_mask=attention_mask)
    return run


def training_step(model, input_ids, attention_mask, dtype, device):
    """Forward and backward of a cheap loss on the last hidden state (no optimizer step)."""
    def run():
        model.zero_grad(set_to_none=True)
        with runtime.autocast(device, dtype):
            hidden = model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        hidden.float().square().mean().backward()
    return run


def dtypes_for(device: torch.device) -> list[tuple[torch.dtype | None, str | None]]:
    """The dtypes to compare on ``device``, each with the reason it is skipped (None = run it)."""
    if device.type == "cuda":
        bf16 = None if torch.cuda.is_bf16_supported() else "this GPU has no bf16"
        return [(None, None), (torch.float16, None), (torch.bfloat16, bf16)]
    if device.type == "cpu":
        skip = None if runtime.cpu_has_fast_bf16() else (
            "no native bf16 on this CPU (no AMX or AVX512-BF16): bf16 matmuls are emulated, "
            "about 100x slower than fp32, and the course disables CPU bf16 autocast")
        return [(None, None), (torch.bfloat16, skip)]
    return [(None, None)]


def per_dtype(device: torch.device, measure: Callable[[torch.dtype | None], list[dict]],
              skipped: Callable[[torch.dtype | None, str], list[dict]]) -> list[dict]:
    """The rows of every dtype of :func:`dtypes_for`: ``measure(dtype)``, or ``skipped(dtype, reason)``."""
    rows = []
    for dtype, skip in dtypes_for(device):
        rows += skipped(dtype, skip) if skip else measure(dtype)
    return rows


def case_name(case: EncoderCase) -> str:
    """How a row names its case: the preset, and the layers when a quick plan cuts them."""
    return case.preset + (f" ({case.layers} layers)" if case.layers else "")


# --- Formatting ------------------------------------------------------------------------------------


def rate(value: float) -> str:
    """A rate for a table: thousands separated, three significant digits when small."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def ratio(r: dict) -> str:
    """A paired ratio for a table: median, min-max in brackets."""
    return f"{r['median']:.2f}x ({r['min']:.2f}-{r['max']:.2f})"
