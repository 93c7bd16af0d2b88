"""``llmroof compare`` on synthetic results with known shifts (no shift, 20% slower, 20% faster, two noisy
samples), folders of repeated runs, mismatches, every output format, bad input, and one real tiny profile.

The CLI is driven through ``llmroof.cli.main.main`` with its ``app`` swapped for one that holds the compare
command, so the real error handling (one line, exit 2) is what is tested.
"""

from __future__ import annotations


import copy
import json
import math
import random
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from llmroof.compare.comparison import CAVEAT, CompareSettings, compare_paths, verdict
from llmroof.compare.load import RunConfig
from llmroof.compare.metrics import METRICS, full_depth_samples
from llmroof.compare.stats import RatioInterval, SideStats
from llmroof.errors import LlmroofError
from llmroof.measure.stats import summarize
from llmroof.results.save import saver

# --- synthetic results -------------------------------------------------------------------------------

CONFIGS = (("prefill", 1, 8, 2e-3), ("decode", 1, 16, 1e-3), ("decode", 4, 16, 1.2e-3))
OPS = (("attn.q", 40e-6), ("attn.scores", 25e-6), ("mlp.down", 60e-6))


def _samples(rng: random.Random, median_s: float, noise: float, n: int) -> list[float]:
    return [median_s * rng.lognormvariate(0.0, noise) for _ in range(n)]


def _timing(samples: list[float]) -> dict:
    """Samples with their statistics, as the profiler writes a timing (``TimingStats``)."""
    return {"samples_s": samples, **summarize(samples)}


def _totals(nbytes: float, flops: float) -> dict:
    """A configuration's analytic phase totals (``PhaseTotals``): the bytes and FLOPs compare reads, the
    rest plausible."""
    compute_s, memory_s = flops / 7.0e14, nbytes / 3.0e12
    return {"flops": flops, "bytes": nbytes, "weight_bytes": nbytes, "act_read_bytes": 0.0,
            "act_write_bytes": 0.0, "kv_read_bytes": 0.0, "kv_write_bytes": 0.0, "intensity": flops / nbytes,
            "compute_time_s": compute_s, "memory_time_s": memory_s, "comm_time_s": 0.0,
            "time_s": max(compute_s, memory_s), "bound": "memory", "tokens": 1, "micro_batches": 1,
            "stage_times_s": [max(compute_s, memory_s)], "bubble_fraction": 0.0}


def _op(name: str, phase: str, samples: list[float]) -> dict:
    """One timed op (``OpResult``): its timing, and analytic figures compare does not read."""
    return {"phase": phase, "name": name, "count": 1, "flops": 1e6, "bytes": 1e6, "time_s": 1e-6,
            "bound": "memory", **_timing(samples)}


def synthetic(*, scale: float = 1.0, noise: float = 0.03, n: int = 31, seed: int = 0, op_scale: float | None = None,
              configs=CONFIGS, ops=OPS) -> dict:
    """A ``llmroof.profile/1`` record of a 4-layer model with 1 layer instantiated, every time scaled by
    ``scale`` (ops by ``op_scale``, default ``scale``) with log-normal noise ``noise``."""
    rng = random.Random(seed)
    op_scale = scale if op_scale is None else op_scale
    records = []
    for phase, batch, length, stack_s in configs:
        stack = _samples(rng, stack_s * scale, noise, n)
        layer = _samples(rng, stack_s / 2 * scale, noise, n)
        time_s = statistics.median(stack) + 3 * statistics.median(layer)
        config = {
            "phase": phase, "batch": batch, ("prompt_len" if phase == "prefill" else "context_len"): length,
            "status": "ok", "stack": _timing(stack), "layer": _timing(layer),
            "cuda_graph": False, "time_s": time_s,
            "analytic": _totals(2e6 * batch, 4e6 * batch * (length if phase == "prefill" else 1)),
            "roofline_time_s": 1e-4, "roofline_fraction": 1e-4 / time_s,
            "ops": [_op(name, phase, _samples(rng, op_s * op_scale, noise, n)) for name, op_s in ops],
        }
        records.append(config)
    return {
        "schema": "llmroof.profile/1", "status": "complete",
        "environment": {"llmroof_version": "0.1.0", "time_utc": f"2026-01-0{1 + seed % 9}T00:00:00+00:00",
                        "command_line": f"llmroof profile --seed {seed}", "host": "gpu-runner-1", "torch": "2.5.0",
                        "cuda": "12.4", "driver": "550.54", "threads": 16, "device_name": "NVIDIA H100"},
        "device": {"kind": "cuda", "index": 0, "name": "NVIDIA H100 80GB HBM3", "cache_bytes": 52428800},
        "model": {"name": "tiny", "attention": "gqa",
                  "spec": {"name": "tiny", "hidden_size": 64, "num_layers": 4, "num_heads": 8, "num_kv_heads": 2,
                           "source": None}},
        "hardware": None,
        "workload": {"batches": [1, 4], "prompt_len": 8, "contexts": [16], "dtype": "bf16", "kv_dtype": "bf16",
                     "layers_instantiated": 1, "layers_total": 4, "extrapolated": True,
                     "cuda_graphs": False, "per_op": True, "warmup_ms": 25.0, "rep_ms": 100.0},
        "nvml": {"status": "off: not sampled", "source": None},
        "ceilings": {"method": "synthetic", "measured_bandwidth_bytes_per_s": 3.0e12,
                     "measured_copy_bandwidth_bytes_per_s": 2.9e12, "measured_flops_per_s": 7.0e14,
                     "compute_dtype": "bf16"},
        "roofline": {"measured": {"peak_flops_per_s": 7.0e14, "bandwidth_bytes_per_s": 3.0e12, "label": "measured"},
                     "datasheet": None},
        "configs": records,
    }


TRUSTED = CompareSettings(noise_floor=0.0)
"""Within-process intervals trusted (``--noise-floor 0``), to test the statistics of one run a side."""


def write(path: Path, record: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


def pair(tmp_path: Path, base: dict, new: dict) -> tuple[Path, Path]:
    return write(tmp_path / "base" / "results.json", base), write(tmp_path / "new" / "results.json", new)


def by_metric(comparison, metric: str) -> list:
    return [r for r in comparison.rows if r.metric.name == metric]


# --- the CLI, through main() ------------------------------------------------------------------------------

@pytest.fixture
def cli(monkeypatch, capsys):
    import llmroof.cli.main as main_module
    from llmroof.cli.options import register

    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """llmroof"""

    register(app, "compare")
    monkeypatch.setattr(main_module, "app", app)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main_module.main(["compare", *map(str, args)])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return run


# --- known shifts ---------------------------------------------------------------------------------

def test_no_shift_with_a_few_percent_noise_is_unchanged(tmp_path, cli) -> None:
    base, new = pair(tmp_path, synthetic(seed=1), synthetic(seed=2))
    comparison = compare_paths(base, new, CompareSettings())
    assert comparison.basis == "repetitions" and comparison.caveat == CAVEAT
    assert {r.verdict for r in comparison.rows} == {"unchanged"}
    assert comparison.verdict() == "unchanged" and comparison.exit_code("inconclusive") == 0
    names = {r.metric.name for r in comparison.rows}
    assert names == set(METRICS)
    code, out, _ = cli(base, new)
    assert code == 0 and "unchanged" in out and "caveat" in out


def test_a_20_percent_slowdown_is_a_regression_and_exits_1(tmp_path, cli) -> None:
    """Within-process intervals trusted (``--noise-floor 0``): the statistics of the ratio at work."""
    base, new = pair(tmp_path, synthetic(seed=1), synthetic(scale=1.2, seed=2))
    comparison = compare_paths(base, new, TRUSTED)
    tpot = by_metric(comparison, "tpot_s")
    assert [r.verdict for r in tpot] == ["regression", "regression"]
    for row in tpot:
        assert row.interval.low > 1.05 and row.interval.ratio == pytest.approx(1.2, rel=0.03)
    tokens = by_metric(comparison, "tokens_per_s")  # higher is better: the ratio falls, still a regression
    assert {r.verdict for r in tokens} == {"regression"}
    assert all(r.interval.ratio == pytest.approx(1 / 1.2, rel=0.03) for r in tokens)
    ops = by_metric(comparison, "op_time_s")
    assert {r.verdict for r in ops} == {"regression"} and not any(r.gates for r in ops)  # reported only
    code, out, _ = cli(base, new, "--noise-floor", "0")
    assert code == 1 and "regression" in out
    assert cli(base, new, "--noise-floor", "0", "--fail-on", "never")[0] == 0


def test_one_process_a_side_cannot_fail_on_a_change_within_the_noise_floor(tmp_path, cli) -> None:
    """Behaviour changed deliberately (issue 11): one run a side cannot see run-to-run noise, so a 20% change
    within a 25% floor is inconclusive, not a failing exit; beyond the floor it still fails."""
    floor = CompareSettings(noise_floor=0.25)
    base, new = pair(tmp_path, synthetic(seed=1), synthetic(scale=1.2, seed=2))
    comparison = compare_paths(base, new, floor)
    assert comparison.noise_floor == pytest.approx(0.25)
    tpot = by_metric(comparison, "tpot_s")
    assert {r.verdict for r in tpot} == {"inconclusive"}
    assert all("within the 25% run-to-run noise floor" in r.reason for r in tpot)
    code, out, _ = cli(base, new, "--noise-floor", "25%")
    assert code == 0 and "NOT seen" in out
    assert cli(base, new, "--noise-floor", "25%", "--fail-on", "inconclusive")[0] == 3
    assert cli(base, new)[0] == 0  # the default floor is larger still
    bigger = write(tmp_path / "big" / "results.json", synthetic(scale=1.5, seed=2))
    assert cli(base, bigger, "--noise-floor", "0.25")[0] == 1
    beyond = by_metric(compare_paths(base, bigger, floor), "tpot_s")
    assert {r.reason for r in beyond} == {"beyond the 25% noise floor"}
    # The ceilings moved 40% between the runs: the machine changed that much, so the floor rises with it.
    slower_machine = synthetic(scale=1.3, seed=2)
    slower_machine["ceilings"]["measured_bandwidth_bytes_per_s"] /= 1.4
    moved = compare_paths(base, write(tmp_path / "moved" / "results.json", slower_machine), floor)
    assert moved.noise_floor == pytest.approx(0.4) and moved.verdict() == "inconclusive"


def test_the_default_noise_floor_is_the_documented_one() -> None:
    from llmroof.compare.metrics import NOISE_FLOOR

    assert CompareSettings().noise_floor == NOISE_FLOOR
    docs = (Path(__file__).parents[1] / "docs" / "compare.md").read_text()
    assert f"`--noise-floor` (default **{NOISE_FLOOR:.0%}**)" in docs


def test_a_20_percent_speedup_is_an_improvement(tmp_path, cli) -> None:
    base, new = pair(tmp_path, synthetic(seed=1), synthetic(scale=1 / 1.2, seed=2))
    comparison = compare_paths(base, new, TRUSTED)
    assert {r.verdict for r in comparison.rows} == {"improvement"}
    assert by_metric(comparison, "ttft_s")[0].interval.high < 1.0
    assert by_metric(comparison, "roofline_fraction")[0].interval.low > 1.0
    assert cli(base, new, "--noise-floor", "0", "--fail-on", "inconclusive")[0] == 0


def test_two_noisy_samples_a_side_are_inconclusive_and_say_why(tmp_path, cli) -> None:
    base, new = pair(tmp_path, synthetic(n=2, noise=0.5, seed=3), synthetic(n=2, noise=0.5, seed=4))
    comparison = compare_paths(base, new, CompareSettings())
    assert {r.verdict for r in comparison.rows} == {"inconclusive"}
    assert all("few samples: base n=2, new n=2 < 3" in r.reason for r in comparison.rows)
    assert any("noisy" in r.reason for r in comparison.rows)
    assert cli(base, new)[0] == 0
    code, out, _ = cli(base, new, "--fail-on", "inconclusive")
    assert code == 3 and "inconclusive" in out
    # Allowed two samples, the noise alone still makes them inconclusive.
    loose = compare_paths(base, new, CompareSettings(min_samples=2))
    assert all("noisy" in r.reason or "interval includes no change" in r.reason or r.verdict != "inconclusive"
               for r in loose.rows)
    assert loose.verdict() == "inconclusive"


def test_regression_wins_over_inconclusive_for_the_exit_code(tmp_path, cli) -> None:
    base, new = pair(tmp_path, synthetic(seed=1), synthetic(scale=1.2, seed=2))
    assert cli(base, new, "--noise-floor", "0", "--fail-on", "inconclusive")[0] == 1


def test_threshold_and_metric_selection(tmp_path, cli) -> None:
    base, new = pair(tmp_path, synthetic(seed=1), synthetic(scale=1.03, seed=2))
    comparison = compare_paths(base, new, CompareSettings(metrics=("tpot_s",)))
    assert {r.metric.name for r in comparison.rows} == {"tpot_s"}
    assert {r.verdict for r in comparison.rows} == {"unchanged"}  # 3% slower: significant, within 5%
    assert all("within 5%" in r.reason for r in comparison.rows)
    strict = compare_paths(base, new, CompareSettings(metrics=("tpot_s",), threshold=0.005, noise_floor=0.0))
    assert {r.verdict for r in strict.rows} == {"regression"}
    assert cli(base, new, "--threshold", "0.5%", "--metric", "tpot_s", "--noise-floor", "0")[0] == 1
    assert cli(base, new, "--threshold", "0.005", "--metric", "tpot_s", "--metric", "ttft_s",
               "--noise-floor", "0.0")[0] == 1
    assert cli(base, new, "-t", "5%", "-M", "tpot_s")[0] == 0


@pytest.mark.parametrize(
    ("interval", "better", "expected"),
    [
        ((1.30, 0.95, 1.70), "lower", ("inconclusive", "interval includes no change")),
        ((1.03, 1.01, 1.05), "lower", ("unchanged", "significant, but within 5%")),
        ((1.01, 0.98, 1.04), "lower", ("unchanged", "no significant change")),
        ((1.10, 1.06, 1.15), "lower", ("regression", "beyond 5%")),
        ((1.10, 1.06, 1.15), "higher", ("improvement", "beyond 5%")),
        ((0.90, 0.85, 0.93), "higher", ("regression", "beyond 5%")),
        # Changed deliberately (issue 11): "some change" is not enough, the whole interval must be beyond 5%.
        ((1.10, 1.02, 1.15), "lower", ("inconclusive", "interval reaches within 5%")),
    ],
)
def test_verdict_needs_both_a_large_change_and_an_interval_without_no_change(interval, better, expected) -> None:
    side = SideStats(n=10, median=1.0, low=0.9, high=1.1, coverage=0.98, cv=0.05)
    metric = METRICS["tpot_s"] if better == "lower" else METRICS["tokens_per_s"]
    assert verdict(metric, side, side, RatioInterval(*interval, 0.95, 18.0), CompareSettings()) == expected


# --- repeated runs ----------------------------------------------------------------------------------

def test_folders_of_repeated_runs_compare_run_medians(tmp_path, cli) -> None:
    for i in range(4):
        write(tmp_path / "base" / f"run{i}" / "results.json", synthetic(seed=10 + i))
        write(tmp_path / "new" / f"run{i}" / "results.json", synthetic(scale=1.2, seed=20 + i))
    comparison = compare_paths(tmp_path / "base", tmp_path / "new", CompareSettings())
    assert comparison.basis == "runs" and comparison.caveat is None
    assert comparison.base.runs == 4 and all(r.base.n == 4 and r.new.n == 4 for r in comparison.rows)
    assert {r.verdict for r in by_metric(comparison, "tpot_s")} == {"regression"}
    code, out, _ = cli(tmp_path / "base", tmp_path / "new", "--format", "json")
    assert code == 1 and json.loads(out)["method"]["basis"] == "runs"


def test_one_run_against_a_folder_falls_back_to_repetitions(tmp_path) -> None:
    base = write(tmp_path / "base.json", synthetic(seed=1))
    for i in range(3):
        write(tmp_path / "new" / f"r{i}" / "results.json", synthetic(seed=30 + i))
    comparison = compare_paths(base, tmp_path / "new", CompareSettings())
    assert comparison.basis == "repetitions" and comparison.caveat == CAVEAT
    tpot = by_metric(comparison, "tpot_s")[0]
    assert (tpot.base.n, tpot.new.n) == (31, 93)  # the folder's repetitions are pooled


def test_full_depth_samples_pair_stack_and_layer_by_quantile() -> None:
    config = RunConfig(phase="decode", batch=1, length=16, time_s=4.0, roofline_time_s=1.0, bytes=1.0,
                       flops=1.0, stack_samples_s=(3.0, 1.0, 2.0),
                       layer_samples_s=(0.2, 0.1, 0.3, 0.25, 0.15))
    samples = full_depth_samples(config, extra_layers=10)
    assert len(samples) == 3 and samples == sorted(samples)
    assert statistics.median(samples) == pytest.approx(2.0 + 10 * 0.2)  # = the results file's time_s
    assert full_depth_samples(config, extra_layers=0) == [1.0, 2.0, 3.0]


# --- matching and mismatches ------------------------------------------------------------------------

def test_runs_of_different_models_devices_or_workloads_are_refused(tmp_path, cli) -> None:
    other = synthetic(seed=2)
    other["model"]["spec"]["hidden_size"] = 128
    other["device"]["name"] = "NVIDIA A100-SXM4-80GB"
    other["workload"]["dtype"] = "fp16"
    base, new = pair(tmp_path, synthetic(seed=1), other)
    code, _, err = cli(base, new)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for text in ("model.hidden_size: 64 -> 128", "device.name", "workload.dtype: 'bf16' -> 'fp16'", "--allow-mismatch"):
        assert text in err
    comparison = compare_paths(base, new, CompareSettings(allow_mismatch=True))
    assert {d.key for d in comparison.differences if d.blocking} == {"hidden_size", "name", "dtype"}
    code, out, _ = cli(base, new, "--allow-mismatch")
    assert code == 0 and "mismatch: compared anyway" in out


def test_environment_changes_are_shown_and_do_not_block(tmp_path, cli) -> None:
    new_record = synthetic(seed=2)
    new_record["environment"].update(torch="2.6.0", driver="560.28")
    new_record["model"]["name"] = "tiny (other checkout)"  # a label, not the shape: no refusal
    new_record["ceilings"]["measured_bandwidth_bytes_per_s"] = 2.5e12
    base, new = pair(tmp_path, synthetic(seed=1), new_record)
    comparison = compare_paths(base, new, CompareSettings())
    shown = {d.describe() for d in comparison.differences}
    assert "environment.torch: '2.5.0' -> '2.6.0'" in shown
    assert "environment.driver: '550.54' -> '560.28'" in shown
    assert any(d.startswith("ceilings.measured read bandwidth") and "-16.7%" in d for d in shown)
    assert not any(d.blocking for d in comparison.differences)
    assert not any("time_utc" in d or "command_line" in d for d in shown)
    code, out, _ = cli(base, new)
    assert code == 0 and "environment.torch" in out and "560.28" in out


def test_configurations_and_ops_are_matched_and_the_rest_listed(tmp_path) -> None:
    base_record = synthetic(seed=1)
    new_record = synthetic(seed=2, configs=CONFIGS[1:] + (("decode", 8, 16, 2e-3),), ops=OPS[:2])
    comparison = compare_paths(*pair(tmp_path, base_record, new_record), CompareSettings())
    keys = {r.key.label() for r in comparison.rows if r.key.op is None}
    assert keys == {"decode b=1 c=16", "decode b=4 c=16"}
    assert {r.key.op for r in comparison.rows if r.key.op} == {"attn.q", "attn.scores"}
    assert "prefill b=1 s=8: only in BASE" in comparison.unmatched
    assert "decode b=8 c=16: only in NEW" in comparison.unmatched
    assert "decode b=1 c=16 mlp.down: only in BASE" in comparison.unmatched
    decode_only = synthetic(seed=2, configs=CONFIGS[1:])
    with pytest.raises(LlmroofError, match="nothing to compare: ttft_s measure prefill"):
        compare_paths(*pair(tmp_path / "y", base_record, decode_only), CompareSettings(metrics=("ttft_s",)))
    disjoint = synthetic(seed=2, configs=(("decode", 64, 16, 1e-3),))
    with pytest.raises(LlmroofError, match="no configuration in common"):
        compare_paths(*pair(tmp_path / "x", base_record, disjoint), CompareSettings())


def test_skipped_and_failed_configurations_are_left_out(tmp_path) -> None:
    new_record = synthetic(seed=2)
    new_record["configs"][0] = {"phase": "prefill", "batch": 1, "prompt_len": 8, "status": "failed",
                                "reason": "out of memory"}
    new_record["status"] = "interrupted"
    comparison = compare_paths(*pair(tmp_path, synthetic(seed=1), new_record), CompareSettings())
    assert "prefill b=1 s=8: only in BASE" in comparison.unmatched
    assert comparison.new.statuses == ("interrupted",)


# --- outputs -------------------------------------------------------------------------------------

def test_json_output(tmp_path, cli) -> None:
    base, new = pair(tmp_path, synthetic(seed=1), synthetic(scale=1.2, seed=2))
    code, out, _ = cli(base, new, "--format", "json", "--noise-floor", "0")
    data = json.loads(out)
    assert code == 1 and data["schema"] == "llmroof.compare/1" and data["verdict"] == "regression"
    row = next(r for r in data["rows"] if r["metric"] == "tpot_s")
    assert set(row) >= {"benchmark", "phase", "batch", "context_len", "op", "better", "base", "new", "ratio",
                        "ratio_low", "ratio_high", "verdict", "reason"}
    assert set(row["base"]) == {"n", "median", "median_low", "median_high", "median_interval_coverage", "cv"}
    assert row["better"] == "lower" and row["ratio_low"] > 1 and data["caveat"] == CAVEAT
    gating = [r for r in data["rows"] if r["gates"]]
    assert data["counts"]["regression"] == len(gating) and data["reported_counts"]["regression"] == len(
        data["rows"]) - len(gating)
    assert data["gate"] == ["achieved_bytes_per_s", "tokens_per_s", "tpot_s", "ttft_s"]
    assert data["noise"]["unit_of_replication"] == "repetition" and data["settings"]["noise_floor"] == 0


def test_markdown_output_and_github_step_summary(tmp_path, cli, monkeypatch) -> None:
    base, new = pair(tmp_path, synthetic(seed=1), synthetic(scale=1.2, seed=2))
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, out, _ = cli(base, new, "--format", "markdown", "--noise-floor", "0")
    assert code == 1
    assert out.startswith("### llmroof compare: ❌ regression")
    assert "| benchmark | metric | BASE median [CI] n |" in out and "|---|" in out
    assert "**Caveat:**" in out and "decode b=4 c=16" in out
    text = summary.read_text()
    assert text.startswith("# earlier step\n") and "### llmroof compare" in text  # appended, not replaced
    cli(base, new, "--format", "json")  # any format appends the markdown summary
    assert summary.read_text().count("### llmroof compare") == 2
    cli(base, new, "--format", "bmf", "--no-step-summary")
    assert summary.read_text().count("### llmroof compare") == 2


def test_bmf_output_follows_bencher_metric_format(tmp_path, cli) -> None:
    base, new = pair(tmp_path, synthetic(seed=1), synthetic(seed=2))
    code, out, _ = cli(base, new, "--format", "bmf")
    data = json.loads(out)
    assert code == 0 and data
    for benchmark, measures in data.items():
        assert isinstance(benchmark, str) and measures
        for slug, metric in measures.items():
            assert len(slug) <= 64 and set(metric) <= {"value", "lower_value", "upper_value"}
            assert all(isinstance(v, float) and math.isfinite(v) for v in metric.values())
            assert metric["lower_value"] <= metric["value"] <= metric["upper_value"]
    assert set(data["tiny decode b=1 c=16"]) == {"tpot-s", "tokens-per-s", "achieved-bytes-per-s",
                                                 "roofline-fraction"}
    assert set(data["tiny decode b=1 c=16 attn.q"]) == {"op-time-s"}


def test_html_report_is_self_contained_and_escaped(tmp_path, cli) -> None:
    new_record = synthetic(scale=1.2, seed=2)
    new_record["environment"]["torch"] = "<script>alert(1)</script>"
    base, new = pair(tmp_path, synthetic(seed=1), new_record)
    out_file = tmp_path / "report" / "compare.html"
    code, out, _ = cli(base, new, "--format", "html", "--out", out_file, "--noise-floor", "0")
    assert code == 1 and f"wrote {out_file}" in out and out.startswith("regression:")
    html = out_file.read_text()
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    assert "<svg" in html and "BASE roofline" in html  # both rooflines and both runs' points, inline
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<link" not in html and "src=" not in html  # nothing fetched over the network
    assert html.count('<tr class="regression">') == len(compare_paths(base, new, TRUSTED).rows)


def test_html_report_without_matplotlib(tmp_path, monkeypatch) -> None:
    from llmroof.compare.html import render_html

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails as if not installed
    comparison = compare_paths(*pair(tmp_path, synthetic(seed=1), synthetic(seed=2)), CompareSettings())
    html = render_html(comparison)
    assert "<svg" not in html and "matplotlib is not installed" in html


def test_table_output_to_a_file(tmp_path, cli) -> None:
    base, new = pair(tmp_path, synthetic(seed=1), synthetic(seed=2))
    target = tmp_path / "compare.txt"
    code, out, _ = cli(base, new, "--out", target)
    text = target.read_text()
    assert code == 0 and "Per configuration (full depth)" in text and "\x1b[" not in text
    assert "unchanged" in out.splitlines()[-1]


# --- bad input -------------------------------------------------------------------------------------

@pytest.fixture
def good(tmp_path) -> Path:
    return write(tmp_path / "good" / "results.json", synthetic(seed=1))


def _corrupt(tmp_path: Path, name: str) -> Path:
    path = tmp_path / "bad" / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = synthetic(seed=2)
    if name == "garbage":
        path.write_bytes(b"\x00\xffnot json at all")
    elif name == "truncated":
        text = json.dumps(record)
        path.write_text(text[: len(text) // 2])
    elif name == "wrong schema":
        path.write_text(json.dumps({**record, "schema": "llmroof.analysis/1"}))
    elif name == "not an object":
        path.write_text("[1, 2, 3]")
    elif name == "no samples":
        broken = copy.deepcopy(record)
        del broken["configs"][1]["stack"]["samples_s"]
        path.write_text(json.dumps(broken))
    elif name == "text samples":
        broken = copy.deepcopy(record)
        broken["configs"][0]["ops"][0]["samples_s"] = ["fast"]
        path.write_text(json.dumps(broken))
    elif name == "no configs":
        broken = copy.deepcopy(record)
        del broken["configs"]
        path.write_text(json.dumps(broken))
    return path


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("garbage", "cannot read"),
        ("truncated", "not valid JSON"),
        ("wrong schema", "schema is 'llmroof.analysis/1'"),
        ("not an object", "expected a JSON object"),
        ("no samples", "configs[1].stack: the key 'samples_s' is missing"),
        ("text samples", "expected a list of a number"),
        ("no configs", "has no 'configs'"),
    ],
)
def test_corrupt_truncated_or_wrong_schema_files_exit_2(tmp_path, cli, good, name, message) -> None:
    code, out, err = cli(good, _corrupt(tmp_path, name))
    assert code == 2, err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith("llmroof: error:")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.json"], "no such file or folder"),
        (["EMPTY"], "no results.json in this folder"),
        (["GOOD", "--threshold", "abc"], "expected a percentage"),
        (["GOOD", "--threshold", "5"], "write 5% or 0.05"),
        (["GOOD", "--metric", "tpot"], "unknown metric 'tpot'"),
    ],
)
def test_bad_arguments_exit_2(tmp_path, cli, good, args, message) -> None:
    (tmp_path / "empty").mkdir()
    args = [{"GOOD": str(good), "EMPTY": str(tmp_path / "empty")}.get(a, a) for a in args]
    code, _, err = cli(good, *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_usage_errors_exit_2(cli, good) -> None:
    assert cli(good, good, "--format", "yaml")[0] == 2
    assert cli(good)[0] == 2


# --- the command stays light, and works on a real profile ---------------------------------------------------

def test_compare_imports_neither_torch_nor_pandas(tmp_path) -> None:
    base, new = pair(tmp_path, synthetic(seed=1), synthetic(seed=2))
    code = (
        "import sys, typer\n"
        "from llmroof.cli.options import register\n"
        "app = typer.Typer()\n"
        "app.callback()(lambda: None)\n"
        "register(app, 'compare')\n"
        "for fmt in ('table', 'markdown', 'json', 'bmf'):\n"
        f"    try:\n"
        f"        app(['compare', {str(base)!r}, {str(new)!r}, '--format', fmt])\n"
        "    except SystemExit as exc:\n"
        "        assert not exc.code, exc.code\n"
        "heavy = sorted(m for m in ('torch', 'pandas', 'numpy', 'matplotlib') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_a_real_tiny_profile_compared_with_itself(tmp_path, cli, monkeypatch) -> None:
    """Real kernels, real samples, the real file layout. To keep this file fast on two shared cores, the
    ceiling probes (seconds of filling large buffers, for two numbers compare barely reads) give fixed
    figures, the cache flush before each timed call overwrites 2 MiB rather than twice the LLC (the tiny
    model's tensors are a few KiB), and torch runs one thread (two threads spin-waiting on two loaded cores
    cost ten times the CPU)."""
    import dataclasses

    from llmroof.measure import profile as profile_module
    from llmroof.measure.device import open_device
    from llmroof.measure.profile import ProfileConfig, profile
    from llmroof.specs import get_model

    from llmroof.results.records.profile import Ceilings

    monkeypatch.setattr(profile_module, "measure_ceilings", lambda *_: (Ceilings(
        method="fixed for this test", measured_bandwidth_bytes_per_s=2e10,
        measured_copy_bandwidth_bytes_per_s=2e10, measured_flops_per_s=1e11, compute_dtype="fp32",
        probes=()), None))

    tiny = dataclasses.replace(get_model("llama-3-8b"), name="tiny", hidden_size=64, num_layers=3, num_heads=8,
                               num_kv_heads=2, head_dim=16, intermediate_size=128, vocab_size=256)
    path = tmp_path / "run" / "results.json"
    device = dataclasses.replace(open_device("cpu"), cache_bytes=2**20)
    threads = device.torch.get_num_threads()
    device.torch.set_num_threads(1)
    try:
        profile(ProfileConfig(model=tiny, batches=(1,), prompt_len=8, contexts=(16,), layers=1, dtype="fp32",
                              warmup_ms=1.0, rep_ms=3.0), device, saver(path))
    finally:
        device.torch.set_num_threads(threads)
    comparison = compare_paths(path, path, CompareSettings())
    assert comparison.verdict() != "regression" and not comparison.counts()["improvement"]  # the same samples:
    assert all(r.interval.ratio == pytest.approx(1.0) for r in comparison.rows)  # only noise may be inconclusive
    keys = {r.key.label() for r in comparison.rows if r.key.op is None}
    assert keys == {"prefill b=1 s=8", "decode b=1 c=16"}
    assert {"attn.scores", "lm_head"} <= {r.key.op for r in comparison.rows if r.key.op}
    tpot = by_metric(comparison, "tpot_s")[0]
    decode = next(c for c in json.loads(path.read_text())["configs"] if c["phase"] == "decode")
    if tpot.base.n % 2:  # quantile pairing keeps the file's full-depth median
        assert tpot.base.median == pytest.approx(decode["time_s"])
    for fmt in ("table", "markdown", "json", "bmf", "html"):
        code, out, err = cli(path, path, "--format", fmt)
        assert code == 0 and out and not err, (fmt, err)
