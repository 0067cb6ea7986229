"""Table: time to a held-out MLM accuracy, the Chapter 2 model pre-trained once per dtype on the same data."""

from __future__ import annotations

import torch

from ..pretraining.data import prepare_data
from ..pretraining.run import PretrainConfig, pretrain
from .harness import BenchPlan, dtype_name, per_dtype, rate

KEY = "time_to_accuracy"
TITLE = ("Time to a held-out MLM accuracy: the Chapter 2 model pre-trained once per dtype "
         "(target = the lower final accuracy; one run each, one after the other)")


def measure(plan: BenchPlan, device: torch.device) -> list[dict]:
    """Pre-train the Chapter 2 model for ``plan.accuracy_steps`` steps once per dtype; when did each reach the target?

    The target is the lower of the runs' final held-out MLM accuracies, so every
    run reaches it; the time is the run's clock (training and the held-out
    evaluations so far) at the first evaluation at or above it. Whole runs
    cannot be interleaved: they run one after the other on the same data.
    """
    base = PretrainConfig.for_profile(plan.mlm_profile, max_steps=plan.accuracy_steps,
                                      num_evals=plan.accuracy_evals, device=str(device))
    data = prepare_data(base)

    def row(dtype):
        return {"model": f"Chapter 2 '{plan.mlm_profile}' model", "steps": base.train.max_steps, "batch": base.batch_size,
                "seq": base.seq_len, "dtype": dtype_name(dtype)}

    def timed(dtype):
        result = pretrain(base.with_changes(autocast="off" if dtype is None else dtype_name(dtype)),
                          progress=False, data=data)
        _, seconds = result.history.series("validation", "seconds")
        _, accuracy = result.history.series("validation", "mlm_accuracy")
        return [{**row(dtype), "curve": [[round(t, 2), a] for t, a in zip(seconds, accuracy)],
                 "final_accuracy": accuracy[-1], "tokens_per_s": result.tokens_per_second}]

    rows = per_dtype(device, timed, lambda dtype, skip: [{**row(dtype), "skipped": skip}])
    measured = [r for r in rows if "curve" in r]
    target = min((r["final_accuracy"] for r in measured), default=None)
    for r in measured:
        r["target_accuracy"] = target
        r["seconds_to_target"] = next(t for t, a in r["curve"] if a >= target)
    return rows


def rows(results: dict) -> list[dict[str, str]]:
    """The table's rows as strings."""
    table = []
    for row in results.get("time_to_accuracy", []):
        line = {"model": row.get("model", "-"), "dtype": row.get("dtype", "-")}
        if "skipped" in row:
            line["time to target (s)"] = "skipped: " + row["skipped"]
        else:
            line.update({"steps of B x T": f"{row['steps']} of {row['batch']} x {row['seq']}",
                         "tok/s": rate(row["tokens_per_s"]),
                         "final held-out MLM accuracy": f"{100 * row['final_accuracy']:.1f}%",
                         "target": f"{100 * row['target_accuracy']:.1f}%",
                         "time to target (s)": f"{row['seconds_to_target']:.0f}"})
        table.append(line)
    return table
