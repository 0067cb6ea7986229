"""The benchmark code runs, at a tiny size, and writes JSON of the expected structure.

No timing is asserted: benchmarks are measured by `make bench`, never by tests.
"""

import json
from dataclasses import replace

import pytest
import torch

from bertcourse import bench, runtime
from bertcourse.bench import harness, mfu, recipe_vs_transformers
from bertcourse.models.bert import BertConfig
from bertcourse.pretraining.run import PretrainConfig

TINY = replace(
    bench.QUICK,
    name="test",
    encoder_cases=(bench.EncoderCase("tiny", 16, 2, layers=1),),
    mfu_cases=(bench.EncoderCase("tiny", 16, 2, layers=1),),
    mlm_batch=2,
    mlm_seq=16,
    warmup=0,
    repeats=2,
    peak_size=64,
    peak_calls=2,
)


@pytest.fixture(scope="module")
def results(tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setattr(harness, "QUICK", TINY)
    output = tmp_path_factory.mktemp("bench") / "results.json"
    threads = torch.get_num_threads()
    results = bench.run(quick=True, device="cpu", output=output, threads=1)
    assert torch.get_num_threads() == threads  # restored after the run
    return results, output


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_json_on_disk_matches_the_returned_results(results):
    returned, path = results
    assert json.loads(path.read_text()) == json.loads(json.dumps(returned, default=str))


def test_machine_is_recorded(results):
    machine = results[0]["machine"]
    for key in ("cpu", "cpu_cores", "torch_threads", "torch", "device", "native_cpu_bf16"):
        assert key in machine
    assert machine["device"] == "cpu" and machine["torch_threads"] == 1
    assert machine["native_cpu_bf16"] == runtime.cpu_has_fast_bf16()


def test_encoder_rows_cover_both_modes_and_every_dtype(results):
    rows = results[0]["encoder"]
    assert {(r["mode"], r["dtype"]) for r in rows} == {
        (mode, dtype) for mode in ("inference", "training") for dtype in ("fp32", "bf16")}
    for row in rows:
        if "skipped" in row:
            assert row["dtype"] == "bf16" and not runtime.cpu_has_fast_bf16()
            continue
        for side in ("reference_tokens_per_s", "transformers_tokens_per_s"):
            rounds = TINY.repeats * (3 if row["mode"] == "inference" else 1)
            assert row[side]["median"] > 0 and len(row[side]["seconds"]) == rounds
        assert row["ratio"]["min"] <= row["ratio"]["median"] <= row["ratio"]["max"]


def test_mfu_and_mlm_rows(results):
    fp32 = [r for r in results[0]["mfu"] if r["dtype"] == "fp32"][0]
    assert fp32["step_flops"] == mfu.training_flops(harness.encoder_config(TINY.mfu_cases[0]), 2, 16)
    assert fp32["mfu_min"] <= fp32["mfu"] <= fp32["mfu_max"]
    assert fp32["peak_flop_per_s"] <= fp32["best_peak_flop_per_s"]
    mlm = [r for r in results[0]["mlm"] if r["dtype"] == "fp32"][0]
    assert len(results[0]["mlm"]) == 2  # fp32, and bf16 (measured or skipped with a reason)
    assert mlm["masked_tokens"] > 0 and mlm["speedup"]["median"] > 0
    assert mlm["flop_bound_speedup"] > 1


def test_lever_rows_time_both_sides(results):
    rows = results[0]["levers"]
    measured = [r for r in rows if "skipped" not in r]
    expected_dtypes = 2 if runtime.cpu_has_fast_bf16() else 1
    assert len(measured) == 2 * expected_dtypes  # two levers per measured dtype
    for row in measured:
        assert row["with_seconds"] > 0 and row["without_seconds"] > 0
        assert row["speedup"]["min"] <= row["speedup"]["median"] <= row["speedup"]["max"]


def test_time_to_accuracy_rows(results):
    rows = [r for r in results[0]["time_to_accuracy"] if "skipped" not in r]
    assert rows and {r["dtype"] for r in rows} <= {"fp32", "bf16"}
    for row in rows:
        assert row["steps"] == TINY.accuracy_steps and len(row["curve"]) >= 1
        assert 0.0 <= row["target_accuracy"] <= row["final_accuracy"] <= 1.0
        assert row["seconds_to_target"] in [t for t, _ in row["curve"]]


def test_quick_plan_skips_the_transformers_comparison_with_a_reason(results):
    rows = results[0][recipe_vs_transformers.KEY]
    assert [r["side"] for r in rows] == [recipe_vs_transformers.TRANSFORMERS_SIDE, recipe_vs_transformers.RECIPE_SIDE]
    assert all("make bench" in r["skipped"] for r in rows)


@pytest.fixture(scope="module")
def comparison():
    plan = replace(TINY, baseline_seconds=2.0, recipe_evals=2, accuracy_evals=2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return plan, recipe_vs_transformers.measure(plan, torch.device("cpu"))
    finally:
        torch.set_num_threads(threads)


def test_transformers_loop_trains_for_its_budget_on_the_recipe_shape(comparison):
    plan, (theirs, ours) = comparison
    assert theirs["steps"] > 0 and theirs["curve"][-1][0] >= plan.baseline_seconds
    assert theirs["final_accuracy"] == theirs["curve"][-1][1]
    shape = ("batch", "seq", "layers", "hidden")
    assert [theirs[k] for k in shape] == [ours[k] for k in shape]


def test_recipe_row_times_the_transformers_runs_final_accuracy(comparison):
    plan, (theirs, ours) = comparison
    assert ours["target_accuracy"] == theirs["final_accuracy"] and len(ours["curve"]) == plan.recipe_evals
    if ours["seconds_to_target"] is None:
        assert all(a < ours["target_accuracy"] for _, a in ours["curve"]) and ours["speedup"] is None
    else:
        first = next(t for t, a in ours["curve"] if a >= ours["target_accuracy"])
        assert ours["seconds_to_target"] == first
        assert ours["speedup"] == pytest.approx(theirs["curve"][-1][0] / first)
    text = bench.markdown_table(recipe_vs_transformers.rows({recipe_vs_transformers.KEY: [theirs, ours]}))
    assert "x sooner" in text or "not reached" in text


def test_transformers_side_uses_berts_defaults():
    config = PretrainConfig.for_profile("ci")
    model = recipe_vs_transformers.transformers_model(config, vocab_size=50, pad_token_id=0)
    assert model.config.hidden_dropout_prob == 0.1 and model.config.initializer_range == 0.02
    assert model.config.hidden_size == config.model.hidden_size
    optimizer = recipe_vs_transformers.bert_adamw(model)
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.01 and plain["weight_decay"] == 0.0
    assert all(p.ndim == 1 for p in plain["params"]) and all(p.ndim > 1 for p in decayed["params"])
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters()))
    assert optimizer.defaults["lr"] == 1e-4 and optimizer.defaults["eps"] == 1e-6


def test_missing_timing_files_are_skipped_with_a_reason(results, tmp_path):
    for name in bench.TIMING_FILES:
        assert name in results[0]
    assert all("skipped" in entry for entry in bench.read_timing_files(tmp_path).values())


def test_report_renders_every_table(results):
    text = bench.report(results[0])
    assert "MLM pre-training step" in text and "FLOP utilisation" in text
    assert bench.machine_line(results[0]) in text
    page = bench.report_html(results[0])
    assert page.count("<table>") == len(bench.TITLES) and "MLM pre-training step" in page


def test_interleaved_alternates_sides():
    calls = []
    times = bench.interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                              warmup=1, repeats=2, device=torch.device("cpu"))
    assert calls == ["a", "b", "a", "b", "b", "a"]  # warm-up, then A B, B A
    assert [len(t) for t in times.values()] == [2, 2]


def test_training_flops_counts_matmuls():
    config = BertConfig(hidden_size=4, intermediate_size=8, num_hidden_layers=1, num_attention_heads=1)
    per_token = 2 * (4 * 16 + 2 * 32) + 4 * 3 * 4
    assert mfu.training_flops(config, batch=2, seq=3) == 3 * 2 * 3 * per_token


def test_book_reads_saved_results_and_reruns_stale_ones(results, tmp_path, monkeypatch):
    saved = tmp_path / "results.json"
    saved.write_text(json.dumps(results[0], default=str))
    assert bench.results_for_book(saved)["started"] == results[0]["started"]
    fresh = []
    monkeypatch.setattr(bench, "run", lambda **kwargs: fresh.append(kwargs) or {"schema": bench.SCHEMA_VERSION})
    saved.write_text(json.dumps({**results[0], "schema": 0}))
    bench.results_for_book(saved)
    bench.results_for_book(tmp_path / "missing.json")
    assert [kwargs["quick"] for kwargs in fresh] == [True, True]


def test_book_shows_timings_recorded_after_the_benchmark(results, tmp_path):
    saved = tmp_path / bench.RESULTS_PATH
    saved.parent.mkdir(parents=True)
    saved.write_text(json.dumps(results[0], default=str))
    assert "skipped" in bench.results_for_book(saved)["book_build"]
    (tmp_path / bench.TIMING_FILES["book_build"]).write_text(json.dumps({"clean build": "97 s (profile ci)"}))
    assert bench.results_for_book(saved)["book_build"] == {"clean build": "97 s (profile ci)"}
