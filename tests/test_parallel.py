"""Tensor and pipeline parallelism on the CPU with 2 gloo processes: the shards are real (their output
equals the unsharded layer's), profile and comm runs hold every rank, and a dead rank stops the run."""

from __future__ import annotations

import json
import time

import pytest
from cli_runner import run_cli

import dist_targets
from llmroof.errors import LlmroofError
from llmroof.measure.distributed import launch
from llmroof.results.io import read_json


@pytest.mark.parametrize("kv_heads", [2, 1], ids=["kv-split", "kv-replicated"])
def test_tensor_parallel_shards_equal_the_whole_layer(tmp_path, kv_heads) -> None:
    launch(2, dist_targets.sharded_layer_matches, (str(tmp_path), kv_heads), timeout_s=30,
           error_file=str(tmp_path / "err"))
    for rank in range(2):
        result = json.loads((tmp_path / f"tp{rank}.json").read_text())
        assert result["max_abs_error"] < 1e-5
        assert result["shard_heads"] == 4 and result["shard_kv_heads"] == (1 if kv_heads <= 2 else 2)


def test_pipeline_stages_equal_the_whole_stack(tmp_path) -> None:
    launch(2, dist_targets.pipeline_matches, (str(tmp_path),), timeout_s=30, error_file=str(tmp_path / "err"))
    assert json.loads((tmp_path / "pp.json").read_text())["max_abs_error"] < 1e-5


def test_a_dead_rank_stops_the_run_within_the_timeout(tmp_path) -> None:
    start = time.monotonic()
    with pytest.raises(LlmroofError, match="rank 1 of 2 failed: RuntimeError: rank 1 lost its GPU"):
        launch(2, dist_targets.one_rank_dies, (), timeout_s=10, error_file=str(tmp_path / "err"))
    assert time.monotonic() - start < 10 + 5 + 15  # the group timeout, the launcher's grace, process start-up


def test_ranks_that_fail_in_one_poll_are_ordered_by_when_they_failed(tmp_path) -> None:
    """Rank 1 dies, rank 0 fails in its collective a moment later, and the launcher sees both at once: the
    cause is rank 1, whatever the order of the ranks (a rank killed without an error file comes last)."""
    from types import SimpleNamespace

    from llmroof.measure.distributed import _newly_failed

    error_file = str(tmp_path / "err")
    (tmp_path / "err.0").write_text("2000\nTraceback ...\nRuntimeError: Connection closed by peer\n")
    (tmp_path / "err.1").write_text("1000\nTraceback ...\nRuntimeError: rank 1 lost its GPU\n")
    processes = [SimpleNamespace(exitcode=1), SimpleNamespace(exitcode=1), SimpleNamespace(exitcode=-9),
                 SimpleNamespace(exitcode=None)]
    assert _newly_failed(processes, [], error_file) == [1, 0, 2]
    assert _newly_failed(processes, [1], error_file) == [0, 2]
    processes[3].exitcode = 0
    assert _newly_failed(processes, [], error_file, finished=True) == [1, 0, 2]




PROFILE = ["--batch", "2", "--prompt", "8", "--context", "16", "--dtype", "fp32", "--warmup-ms", "1",
           "--rep-ms", "5", "--timeout", "60"]


@pytest.mark.parametrize(("grid", "tp", "pp"), [(["--tp", "2"], 2, 1), (["--pp", "2", "--micro-batches", "2"], 1, 2)],
                         ids=["tp2", "pp2"])
def test_parallel_profile_gathers_both_ranks(capsys, tmp_path, tiny_config_json, grid, tp, pp) -> None:
    code, out, err = run_cli(capsys, "profile", "--model", str(tiny_config_json), *grid, *PROFILE,
                             "--out", str(tmp_path / "run"))
    assert code == 0, err
    record = read_json(tmp_path / "run" / "results.json", "llmroof.profile/")
    assert record["status"] == "complete"
    assert record["parallel"]["tp"] == tp and record["parallel"]["pp"] == pp
    assert record["parallel"]["link"]["bandwidth_bytes_per_s"] > 0
    for config in record["configs"]:
        assert sorted(r["rank"] for r in config["ranks"]) == [0, 1]
        assert len(config["critical_path"]["stage_times_s"]) == pp
        measured, analytic = config["measured"], config["analytic"]
        assert measured["comm_time_s"] > 0 and analytic["comm_time_s"] > 0
        # The bound is the fused (minimum-traffic) set; the eager set the ranks ran sits beside it.
        assert config["roofline_time_s"] == analytic["time_s"] <= config["eager_roofline_time_s"]
        assert analytic["eager"]["time_s"] == config["eager_roofline_time_s"]
        assert analytic["eager"]["bytes"] > analytic["bytes"]
        if pp == 2 and config["phase"] == "prefill":
            assert config["micro_batches"] == 2
            assert 0 <= measured["bubble_fraction"] < 1
            assert analytic["gpipe_bubble_fraction"] == pytest.approx(1 / 3)
        if tp == 2:
            assert all(r["allreduce_time_s"] > 0 for r in config["ranks"])
        for rank in config["ranks"]:  # each rank's shard ops, timed alone, beside the analytic per-rank op
            names = {op["name"] for op in rank["ops"]}
            assert {"attn.q", "mlp.down"} <= names
            assert ("embed" in names) == (rank["stage"] == 0) and ("lm_head" in names) == (rank["stage"] == pp - 1)
            q = next(op for op in rank["ops"] if op["name"] == "attn.q")
            assert q["weight_bytes"] == 64 * 64 // tp * 4 and q["median_s"] > 0
    assert "Measured vs analytic" in out


@pytest.mark.slow
@pytest.mark.parametrize(("grid", "pp"), [(["--tp", "2"], 1), (["--pp", "2", "--micro-batches", "2"], 2)],
                         ids=["tp2", "pp2"])
def test_parallel_layers_are_extrapolated_to_full_depth(capsys, tmp_path, tiny_config_json, grid, pp) -> None:
    """--layers N with --tp/--pp: N layers per pipeline (split over the stages), the rest extrapolated from one
    sharded layer per stage. The tiny model has 2 layers; a config.json of 4 makes room for N=2 of 4."""
    config = json.loads(tiny_config_json.read_text()) | {"num_hidden_layers": 4}
    tiny_config_json.write_text(json.dumps(config))
    code, out, err = run_cli(capsys, "profile", "--model", str(tiny_config_json), *grid, "--layers", "2",
                             "--no-per-op", *PROFILE, "--out", str(tmp_path / "run"))
    assert code == 0, err
    record = read_json(tmp_path / "run" / "results.json", "llmroof.profile/")
    assert record["status"] == "complete"
    workload, par = record["workload"], record["parallel"]
    assert (workload["layers_instantiated"], workload["layers_total"], workload["extrapolated"]) == (2, 4, True)
    assert par["stage_layers"] == ([4] if pp == 1 else [2, 2])
    assert par["stage_layers_instantiated"] == ([2] if pp == 1 else [1, 1])
    for c in record["configs"]:
        inst = c["instantiated"]
        layer = [max(r["layer_time_s"] for r in c["ranks"] if r["stage"] == j) for j in range(pp)]
        extra = [(par["stage_layers"][j] - par["stage_layers_instantiated"][j]) * layer[j] for j in range(pp)]
        assert inst["extra_stage_times_s"] == pytest.approx(extra)
        assert c["measured"]["stage_times_s"] == pytest.approx([t + d for t, d in zip(inst["stage_times_s"], extra)])
        m = c["micro_batches"]
        assert c["time_s"] == pytest.approx(inst["time_s"] + sum(extra) + (m - 1) * max(extra))
        assert c["time_s"] > inst["time_s"]
        assert c["roofline_fraction"] == pytest.approx(c["roofline_time_s"] / c["time_s"])
    assert "full depth extrapolated" in out


def test_tp_simulate_adds_the_analytic_comm(tmp_path) -> None:
    from test_profile import TINY, tiny_config

    from llmroof.measure.device import open_device
    from llmroof.measure.profile import profile

    record = profile(tiny_config(tp_simulate=2), open_device("cpu"), None)
    decode = next(c for c in record.configs if c.phase == "decode")
    simulated = decode.simulated
    assert simulated is not None and simulated.tp == 2 and simulated.comm_time_s > 0
    assert decode.time_s is not None
    assert decode.tpot_s == pytest.approx(decode.time_s + simulated.comm_time_s)
    q = next(op for op in decode.ops or () if op.name == "attn.q")
    assert q.weight_bytes == TINY.hidden_size * TINY.q_dim // 2 * 4  # one rank's half, fp32


def test_comm_rows_follow_the_nccl_tests_convention(capsys, tmp_path) -> None:
    code, out, err = run_cli(capsys, "comm", "--ranks", "2", "--sizes", "4K,64K", "--iterations", "2",
                             "--device", "cpu", "--format", "json")
    assert code == 0, err
    record = json.loads(out)
    ops = {(row["op"], row["size_bytes"]) for row in record["rows"]}
    assert ops == {(op, size) for op in ("all_reduce", "all_gather", "send_recv") for size in (4096, 65536)}
    for row in record["rows"]:
        assert {"op", "size_bytes", "ranks", "time_s", "algbw_bytes_per_s", "busbw_bytes_per_s"} <= set(row)
        factor = {"all_reduce": 1.0, "all_gather": 0.5, "send_recv": 1.0}[row["op"]]
        assert row["busbw_bytes_per_s"] == pytest.approx(row["algbw_bytes_per_s"] * factor)
    assert {r["rank"] for r in record["per_rank"]} == {0, 1}


def test_comm_prediction_for_a_catalog_link() -> None:
    from llmroof.analytic import comm as analytic_comm
    from llmroof.measure import comm
    from llmroof.results.records.comm import RankTime
    from llmroof.runs.comm import summarize_rows
    from llmroof.specs import get_hardware

    link = analytic_comm.link_for(get_hardware("h100"), 8)
    rows = summarize_rows([RankTime(rank=r, op="all_reduce", size_bytes=2**28, time_s=1e-3 * (1 + r))
                           for r in range(8)], 8, link, "h100")
    row = rows[0]
    assert row.time_s == 8e-3  # the slowest rank
    assert row.predicted_time_s == pytest.approx(2 * 7 / 8 * 2**28 / 450e9 + 14 * 1e-6)
    assert comm.parse_sizes("4K..16K") == [4096, 8192, 16384]
    with pytest.raises(LlmroofError):
        comm.parse_size("lots")


@pytest.mark.parametrize(("args", "message"), [
    (["--tp", "3"], "does not divide the 8 attention heads"),
    (["--pp", "2", "--layers", "1"], "fewer than the 2 pipeline stages"),
    (["--tp", "2", "--tp-simulate", "2", "--hardware", "h100"], "drop --tp-simulate"),
    (["--pp", "5"], "more stages than"),
])
def test_parallel_bad_input_fails_before_starting_ranks(capsys, tmp_path, tiny_config_json, args, message) -> None:
    code, _, err = run_cli(capsys, "profile", "--model", str(tiny_config_json), "--out", str(tmp_path), *args)
    assert code == 2 and message in err and "Traceback" not in err
