"""Table: model FLOP utilisation of a reference training step against the machine's matmul peak."""

from __future__ import annotations

import statistics

import torch

from ..models.bert import BertConfig
from .harness import (
    BenchPlan,
    EncoderCase,
    case_name,
    dtype_name,
    encoder_config,
    inputs,
    interleaved,
    model_pair,
    per_dtype,
    spread,
    training_step,
)

KEY = "mfu"
TITLE = "Model FLOP utilisation of a reference training step (forward + backward) vs the matmul peak"


def training_flops(config: BertConfig, batch: int, seq: int) -> float:
    """Matmul FLOPs of one forward+backward pass of the encoder (backward = 2 x forward).

    Per token and layer: the four H x H projections and the two FFN matrices
    (2 FLOPs per multiply-add), plus Q K^T and weights @ V (2 x 2 x T x H).
    Embeddings, LayerNorm, softmax and the pooler are left out, as is usual for MFU.
    """
    H, I, T = config.hidden_size, config.intermediate_size, seq
    per_token_layer = 2 * (4 * H * H + 2 * H * I) + 4 * T * H
    forward = batch * T * config.num_hidden_layers * per_token_layer
    return 3.0 * forward


def _matmul(n: int, calls: int, dtype: torch.dtype | None, device: torch.device):
    """``calls`` products of two n x n matrices in ``dtype``: the peak the training step is measured against."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=generator).to(device)
    b = torch.randn(n, n, generator=generator).to(device)
    if dtype is not None:
        a, b = a.to(dtype), b.to(dtype)

    def run():
        for _ in range(calls):
            a @ b
    return run


def measure(plan: BenchPlan, device: torch.device) -> list[dict]:
    """Rows of :func:`measure_case` for every case of the plan."""
    return [row for case in plan.mfu_cases for row in measure_case(case, plan, device)]


def measure_case(case: EncoderCase, plan: BenchPlan, device: torch.device) -> list[dict]:
    """Achieved FLOP/s of the reference training step vs n x n x n matmuls, interleaved in one run.

    MFU is taken round by round (each step against the matmuls timed next to
    it) and the median reported, so that a busy spell of the machine does not
    count against one side only.
    """
    config = encoder_config(case)
    ours, _ = model_pair(config, device)
    ours.train()
    input_ids, attention_mask = inputs(config, case.batch, case.seq, device)
    flops = training_flops(config, case.batch, case.seq)
    peak_flops = 2.0 * plan.peak_size ** 3 * plan.peak_calls

    def base(dtype):
        return {"config": case_name(case), "seq": case.seq, "batch": case.batch, "dtype": dtype_name(dtype),
                "step_flops": flops, "peak_matmul": f"{plan.peak_size}^3"}

    def timed(dtype):
        times = interleaved(
            {"training": training_step(ours, input_ids, attention_mask, dtype, device),
             "matmul": _matmul(plan.peak_size, plan.peak_calls, dtype, device)},
            warmup=plan.warmup, repeats=plan.repeats, device=device)
        achieved = [flops / t for t in times["training"]]
        peak = [peak_flops / t for t in times["matmul"]]
        # MFU per round (a step and the matmul right next to it see the same machine), then the median.
        per_round = [a / p for a, p in zip(achieved, peak)]
        return [{**base(dtype), "achieved_flop_per_s": statistics.median(achieved),
                 "peak_flop_per_s": statistics.median(peak), "best_peak_flop_per_s": max(peak),
                 "mfu": statistics.median(per_round), "mfu_min": min(per_round), "mfu_max": max(per_round),
                 "training_tokens_per_s": spread(times["training"], case.batch * case.seq)}]

    return per_dtype(device, timed, lambda dtype, skip: [{**base(dtype), "skipped": skip}])


def rows(results: dict) -> list[dict[str, str]]:
    """The table's rows as strings."""
    table = []
    for row in results["mfu"]:
        line = {"model": row["config"], "B x T": f"{row['batch']} x {row['seq']}", "dtype": row["dtype"]}
        if "skipped" in row:
            line.update({"achieved GFLOP/s": "-", "matmul peak GFLOP/s": "-", "MFU": "skipped: " + row["skipped"]})
        else:
            line.update({
                "achieved GFLOP/s": f"{row['achieved_flop_per_s'] / 1e9:.1f}",
                "matmul peak GFLOP/s": f"{row['peak_flop_per_s'] / 1e9:.1f}",
                "MFU": f"{100 * row['mfu']:.0f}% ({100 * row['mfu_min']:.0f}-{100 * row['mfu_max']:.0f}%)",
            })
        table.append(line)
    return table
