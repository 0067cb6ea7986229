"""Table: the reference BertModel against transformers.BertModel, inference and training, per dtype."""

from __future__ import annotations

import torch

from .harness import (
    BenchPlan,
    EncoderCase,
    case_name,
    dtype_name,
    encoder_config,
    inference_step,
    inputs,
    interleaved,
    model_pair,
    paired_ratio,
    per_dtype,
    rate,
    ratio,
    spread,
    training_step,
)

KEY = "encoder"
TITLE = ("Reference BertModel vs transformers.BertModel (same weights; ratio = reference speed / "
         "transformers speed, median of paired rounds, min-max in brackets)")
MODES = ("inference", "training")


def measure(case: EncoderCase, plan: BenchPlan, device: torch.device) -> list[dict]:
    """Rows for one case: inference and training, each dtype, reference vs transformers."""
    config = encoder_config(case)
    ours, theirs = model_pair(config, device)
    input_ids, attention_mask = inputs(config, case.batch, case.seq, device)
    tokens = case.batch * case.seq

    def base(mode, dtype):
        return {"config": case_name(case), "seq": case.seq, "batch": case.batch, "mode": mode,
                "dtype": dtype_name(dtype)}

    def timed(dtype):
        rows = []
        for mode in MODES:
            step = inference_step if mode == "inference" else training_step
            for model in (ours, theirs):
                model.train(mode == "training")
            times = interleaved(
                {"reference": step(ours, input_ids, attention_mask, dtype, device),
                 "transformers": step(theirs, input_ids, attention_mask, dtype, device)},
                # An inference call costs a third of a training step: more rounds for the same time.
                warmup=plan.warmup, repeats=plan.repeats * (3 if mode == "inference" else 1), device=device)
            rows.append({
                **base(mode, dtype),
                "reference_tokens_per_s": spread(times["reference"], tokens),
                "transformers_tokens_per_s": spread(times["transformers"], tokens),
                "ratio": paired_ratio(times["reference"], times["transformers"]),
            })
        return rows

    rows = per_dtype(device, timed, lambda dtype, skip: [{**base(mode, dtype), "skipped": skip} for mode in MODES])
    for model in (ours, theirs):
        model.zero_grad(set_to_none=True)
    return rows


def rows(results: dict) -> list[dict[str, str]]:
    """The table's rows as strings."""
    table = []
    for row in results["encoder"]:
        line = {"model": row["config"], "B x T": f"{row['batch']} x {row['seq']}",
                "mode": row["mode"], "dtype": row["dtype"]}
        if "skipped" in row:
            line.update({"reference tok/s": "-", "transformers tok/s": "-", "ratio": "skipped: " + row["skipped"]})
        else:
            line.update({
                "reference tok/s": rate(row["reference_tokens_per_s"]["median"]),
                "transformers tok/s": rate(row["transformers_tokens_per_s"]["median"]),
                "ratio": ratio(row["ratio"]),
            })
        table.append(line)
    return table
