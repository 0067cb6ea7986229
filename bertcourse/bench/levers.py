"""Table: the levers of the CPU training path, each timed with and without it in the same run."""

from __future__ import annotations

import copy
import statistics
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .. import runtime
from ..models.bert import BertConfig
from ..models.dropout import CheapMaskDropout, attention_with_dropout, replace_dropout
from .harness import (
    BenchPlan,
    EncoderCase,
    dtype_name,
    encoder_config,
    inputs,
    interleaved,
    model_pair,
    paired_ratio,
    per_dtype,
    ratio,
    training_step,
)

KEY = "levers"
TITLE = ("Levers of the CPU training path, each timed with and without it in the same run (speed-up = "
         "time without / time with, median of paired rounds)")


def measure(plan: BenchPlan, device: torch.device) -> list[dict]:
    """The CPU training-path levers of the reference model, each timed with and without it.

    * ``CheapMaskDropout`` vs ``nn.Dropout`` in a whole training step (same model, same weights);
    * :func:`attention_with_dropout` vs ``F.scaled_dot_product_attention(dropout_p=...)``,
      forward and backward on the (B, nh, T, hd) heads of the same case.
    """
    case = plan.mfu_cases[0]
    name = f"{case.preset} {case.batch} x {case.seq}"
    if device.type != "cpu":
        return [{"lever": "dropout masks, attention with dropout", "case": name,
                 "skipped": "CPU levers: on a GPU the fused kernels draw dropout masks themselves"}]
    config = encoder_config(case)
    cheap, _ = model_pair(config, device)
    plain = replace_dropout(copy.deepcopy(cheap), CheapMaskDropout, nn.Dropout)
    for model in (cheap, plain):
        model.train()
    input_ids, attention_mask = inputs(config, case.batch, case.seq, device)
    p = config.attention_probs_dropout_prob

    def timed(dtype):
        step = {"with": training_step(cheap, input_ids, attention_mask, dtype, device),
                "without": training_step(plain, input_ids, attention_mask, dtype, device)}
        attention = _attention_steps(config, case, p, dtype, device)
        rows = []
        for lever, sides in (("CheapMaskDropout instead of nn.Dropout, whole training step", step),
                             ("attention_with_dropout instead of F.scaled_dot_product_attention(dropout_p), "
                              "forward + backward", attention)):
            times = interleaved(sides, warmup=plan.warmup, repeats=plan.repeats, device=device)
            rows.append({"case": name, "dtype": dtype_name(dtype), "lever": lever,
                         "with_seconds": statistics.median(times["with"]),
                         "without_seconds": statistics.median(times["without"]),
                         "speedup": paired_ratio(times["with"], times["without"])})
        return rows

    def skipped(dtype, skip):
        return [{"case": name, "dtype": dtype_name(dtype), "lever": "dropout masks, attention with dropout",
                 "skipped": skip}]

    rows = per_dtype(device, timed, skipped)
    for model in (cheap, plain):
        model.zero_grad(set_to_none=True)
    return rows


def _attention_steps(config: BertConfig, case: EncoderCase, p: float, dtype, device) -> dict[str, Callable[[], None]]:
    """Forward + backward of attention with dropout p on random (B, nh, T, hd) heads in ``dtype``: ours and torch's."""
    generator = torch.Generator().manual_seed(0)
    shape = (case.batch, config.num_attention_heads, case.seq, config.head_size)
    heads = [torch.randn(shape, generator=generator).to(device, dtype or torch.float32).requires_grad_()
             for _ in range(3)]
    dropout = CheapMaskDropout(p).train()

    def ours():
        with runtime.autocast(device, dtype):
            attention_with_dropout(*heads, None, dropout).float().sum().backward()

    def fused():
        with runtime.autocast(device, dtype):
            F.scaled_dot_product_attention(*heads, dropout_p=p).float().sum().backward()

    return {"with": ours, "without": fused}


def rows(results: dict) -> list[dict[str, str]]:
    """The table's rows as strings."""
    table = []
    for row in results.get("levers", []):
        line = {"lever": row["lever"], "case": row["case"], "dtype": row.get("dtype", "-")}
        if "skipped" in row:
            line["speed-up"] = "skipped: " + row["skipped"]
        else:
            line.update({"with (ms)": f"{1e3 * row['with_seconds']:.1f}",
                         "without (ms)": f"{1e3 * row['without_seconds']:.1f}",
                         "speed-up": ratio(row["speedup"])})
        table.append(line)
    return table
