"""Typed results records: every file 0.1.0 wrote loads into its record and writes back unchanged; unknown
keys survive; a missing required key or a foreign schema is a clean user error; ``to_pandas`` tables."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from llmroof.errors import LlmroofError
from llmroof.results import records
from llmroof.results.records import (AnalysisRecord, CommRecord, CompareRecord, PlanRecord, ProfileRecord,
                                     SampleRecord, SweepRecord)

OLD = Path(__file__).parent / "data" / "v0.1.0"
FILES = {"profile.json": ProfileRecord, "profile-tp2.json": ProfileRecord, "analysis.json": AnalysisRecord,
         "sweep.json": SweepRecord, "plan.json": PlanRecord, "compare.json": CompareRecord,
         "comm.json": CommRecord, "sample.json": SampleRecord}


@pytest.mark.parametrize("name", sorted(FILES))
def test_a_file_written_by_0_1_0_loads_and_writes_back_unchanged(name) -> None:
    data = json.loads((OLD / name).read_text())
    record = records.load(OLD / name)
    assert type(record) is FILES[name]
    assert record.to_dict() == data  # the one writer is the inverse of the one reader


def test_every_schema_is_registered_once() -> None:
    assert sorted(records.SCHEMAS) == ["llmroof.analysis/1", "llmroof.bench/1", "llmroof.ceilings.cache/1",
                                       "llmroof.ceilings/1",
                                       "llmroof.comm/1", "llmroof.compare.trace/1", "llmroof.compare/1",
                                       "llmroof.grid/1", "llmroof.history/1", "llmroof.plan/1", "llmroof.profile/1",
                                       "llmroof.sample/1",
                                       "llmroof.simulate/1", "llmroof.sweep/1", "llmroof.trace/1"]
    assert all(cls.SCHEMA == schema for schema, cls in records.SCHEMAS.items())


def test_fields_are_typed_values_not_dicts() -> None:
    run = records.load(OLD / "profile.json")
    assert run.status == "complete" and run.device.kind == "cpu"
    assert [c.label for c in run.configs] == ["prefill b=1 s=8", "prefill b=2 s=8", "decode b=1 c=16",
                                              "decode b=2 c=16"]
    first = run.configs[0]
    assert first.ttft_s == first.time_s and first.tpot_s is None
    assert first.stack.min_s <= first.stack.median_s <= first.stack.max_s == max(first.stack.samples_s)
    assert first.roofline_fraction == pytest.approx(first.roofline_time_s / first.time_s)
    assert first.achieved_bytes_per_s == pytest.approx(first.analytic.bytes / first.time_s)
    assert run.ceilings.measured_bandwidth_bytes_per_s == run.roofline.measured.bandwidth_bytes_per_s
    assert run.config("decode", 2, 16) is run.configs[3] and run.config("decode", 4, 16) is None
    analysis = records.load(OLD / "analysis.json")
    assert analysis.phases.decode.tpot_s == analysis.phases.decode.time_s
    assert sum(op.flops * op.count for op in analysis.ops if op.phase == "decode") == \
        pytest.approx(analysis.phases.decode.flops)


def test_the_ranks_of_a_parallel_run_are_records() -> None:
    """0.1.0 wrote no ``layers_total`` per rank (every layer was instantiated); the ops are op results."""
    run = records.load(OLD / "profile-tp2.json", ProfileRecord)
    ranks = run.configs[0].ranks
    assert ranks and [r.rank for r in ranks] == list(range(len(ranks)))
    first = ranks[0]
    assert first.layers_total is None and first.layers >= 1
    assert first.stage_timing.median_s == pytest.approx(first.stage_time_s)
    assert first.pipeline_timing.median_s == pytest.approx(first.pipeline_time_s)
    assert first.ops and all(op.median_s is not None for op in first.ops)


def test_repeat_spreads_are_records_by_name() -> None:
    """``--repeat``: per metric (op, ceiling) a Spread, read by name and written back as it was."""
    from llmroof.results.records.profile import ConfigRepeat, RepeatInfo

    spread = {"by_process": [{"process": 0, "value": 2.0}, {"process": 1, "value": 4.0}], "n": 2,
              "median": 3.0, "min": 2.0, "max": 4.0, "cv": 0.47}
    repeat = ConfigRepeat.from_dict({"processes": 2, "metrics": {"tpot_s": spread}, "ops": {"mlp.up": spread}})
    assert repeat.metrics is not None and repeat.ops is not None
    tpot = repeat.metrics["tpot_s"]
    assert (tpot.n, tpot.median, tpot.cv) == (2, 3.0, 0.47) and [p.value for p in tpot.by_process] == [2.0, 4.0]
    assert repeat.to_dict() == {"processes": 2, "metrics": {"tpot_s": spread}, "ops": {"mlp.up": spread}}
    info = RepeatInfo.from_dict({"processes_requested": 2, "processes_finished": 2, "method": "m",
                                 "ceilings": {"measured_bandwidth_bytes_per_s": spread}})
    assert info.ceilings["measured_bandwidth_bytes_per_s"].max == 4.0
    with pytest.raises(LlmroofError, match=r"metrics\.tpot_s: the key 'cv' is missing"):
        ConfigRepeat.from_dict({"processes": 2, "metrics": {"tpot_s": {k: v for k, v in spread.items() if k != "cv"}}})


def test_nvml_sampling_and_replays_are_records() -> None:
    """A run's NVML sampling (its samples typed) and a configuration's replay; a CPU run's ``off`` object of
    0.1.0 reads too."""
    from llmroof.results.records.profile import NvmlReplay, NvmlSampling

    sample = {"start_s": 1.0, "end_s": 1.1, "source": "gpm", "dram_bw_util_percent": 60.0,
              "dram_bandwidth_bytes_per_s": 2e12, "mem_busy_percent": None, "sm_clock_mhz": 1980.0,
              "mem_clock_mhz": 2619.0, "power_w": 400.0, "temperature_c": 50.0, "clock_event_reasons": []}
    data = {"status": "sampling: gpm", "source": "gpm", "interval_s": 0.1,
            "peak_dram_bandwidth_bytes_per_s": 3.35e12, "samples": [sample]}
    sampling = NvmlSampling.from_dict(data)
    assert sampling.samples is not None and sampling.samples[0].dram_bandwidth_bytes_per_s == 2e12
    assert sampling.to_dict() == data
    replay = NvmlReplay.from_dict({"start_s": 1.0, "end_s": 1.4, "source": "gpm", "samples": 3,
                                   "measured_bytes_per_token": 1.2e6, "measured_to_analytic_bytes_ratio": 1.2})
    assert (replay.samples, replay.measured_to_analytic_bytes_ratio, replay.summary) == (3, 1.2, None)
    old = records.load(OLD / "profile.json", ProfileRecord)
    assert old.nvml.status.startswith("off") and old.nvml.samples is None
    with pytest.raises(LlmroofError, match="samples"):
        NvmlSampling.from_dict({**data, "samples": [{**sample, "start_s": "soon"}]})


def test_unknown_keys_from_a_later_version_survive_a_round_trip() -> None:
    data = json.loads((OLD / "profile.json").read_text())
    data["new_top_level_key"] = {"added": 1}
    data["configs"][0]["new_config_key"] = 2.5
    data["configs"][0]["ops"][0]["new_op_key"] = "x"
    record = records.from_dict(data)
    assert record.extra == {"new_top_level_key": {"added": 1}}
    assert record.configs[0].extra == {"new_config_key": 2.5}
    assert record.to_dict() == data


def test_an_optional_key_written_as_null_stays_null() -> None:
    data = json.loads((OLD / "profile.json").read_text())
    data["configs"][0]["datasheet_roofline_time_s"] = None
    assert records.from_dict(data).to_dict() == data
    changed = dataclasses.replace(records.from_dict(data).configs[0], datasheet_roofline_time_s=1.0)
    assert changed.to_dict()["datasheet_roofline_time_s"] == 1.0  # a set field wins over a kept null


@pytest.mark.parametrize(("path", "message"), [
    (("configs", 0, "phase"), "profile.json.configs[0]: the key 'phase' is missing"),
    (("ceilings", "measured_flops_per_s"), "the key 'measured_flops_per_s' is missing"),
    (("status",), "the key 'status' is missing"),
])
def test_a_missing_required_key_is_a_user_error_naming_it(path, message) -> None:
    data = json.loads((OLD / "profile.json").read_text())
    holder = data
    for step in path[:-1]:
        holder = holder[step]
    del holder[path[-1]]
    with pytest.raises(LlmroofError, match=message.replace("[", r"\[").replace("]", r"\]")):
        records.from_dict(data, "profile.json")


def test_a_wrong_type_is_a_user_error() -> None:
    data = json.loads((OLD / "profile.json").read_text())
    data["configs"] = {"not": "a list"}
    with pytest.raises(LlmroofError, match="configs: expected a JSON array"):
        records.from_dict(data)


@pytest.mark.parametrize(("schema", "message"), [
    ("llmroof.profile/2", "a version this llmroof"),
    ("something.else/1", "not one llmroof writes"),
    (None, "not one llmroof writes"),
])
def test_foreign_or_newer_schemas_are_refused(schema, message) -> None:
    data = json.loads((OLD / "sweep.json").read_text()) | {"schema": schema}
    with pytest.raises(LlmroofError, match=message):
        records.from_dict(data)


def test_records_are_frozen() -> None:
    run = records.load(OLD / "profile.json")
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.status = "failed"  # type: ignore[misc]


def test_load_reads_a_run_folder(tmp_path) -> None:
    (tmp_path / "results.json").write_text((OLD / "profile.json").read_text())
    assert isinstance(records.load(tmp_path), ProfileRecord)


def test_profile_to_pandas_has_a_row_per_configuration_and_per_op() -> None:
    run = records.load(OLD / "profile.json")
    table = run.to_pandas()
    assert list(table["phase"]) == ["prefill", "prefill", "decode", "decode"]
    assert {"tpot_s", "ttft_s", "achieved_bytes_per_s", "roofline_fraction", "stack_median_s",
            "analytic_flops"} <= set(table.columns)
    assert table["achieved_bytes_per_s"].tolist() == [c.achieved_bytes_per_s for c in run.configs]
    ops = run.to_pandas(ops=True)
    assert len(ops) == sum(len(c.ops) for c in run.configs)
    assert {"op", "median_s", "achieved_bytes_per_s", "batch", "context_len"} <= set(ops.columns)
    first = run.configs[0].ops[0]
    assert ops.iloc[0]["op"] == first.name and ops.iloc[0]["median_s"] == first.median_s


def test_other_records_to_pandas() -> None:
    plan = records.load(OLD / "plan.json")
    assert len(plan.to_pandas()) == plan.counts["configurations"]
    compare = records.load(OLD / "compare.json")
    table = compare.to_pandas()
    assert set(table["metric"]) <= {"tpot_s", "ttft_s", "tokens_per_s", "achieved_bytes_per_s", "roofline_fraction"}
    assert len(compare.to_pandas(ops=True)) == len(compare.rows)
    analysis = records.load(OLD / "analysis.json")
    assert list(analysis.to_pandas()["phase"]) == ["prefill", "decode"]
    assert len(analysis.to_pandas(ops=True)) == len(analysis.ops)
    assert len(records.load(OLD / "sample.json").to_pandas()) == 4
    assert len(records.load(OLD / "comm.json").to_pandas()) == 6
    assert records.load(OLD / "sweep.json").to_pandas()["batch"].tolist() == [1, 8]


def unknown_keys(record, where="") -> list[str]:
    """Keys of a record and its nested records that no field names (nulls of optional fields aside)."""
    found = [f"{where}.{k}" for k, v in record.extra.items() if v is not None]
    for f in dataclasses.fields(record):
        values = getattr(record, f.name)
        for value in values if isinstance(values, tuple) else (values,):
            if isinstance(value, records.Record):
                found += unknown_keys(value, f"{where}.{f.name}")
    return found


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_key_0_1_0_writes_is_a_field(name) -> None:
    assert unknown_keys(records.load(OLD / name)) == []


@pytest.mark.parametrize("args", [
    ("--model", "llama-3-8b"),
    ("--model", "llama-3-70b", "--tp", "2", "--pp", "2", "--micro-batches", "2", "--batch", "4"),
    ("--model", "mixtral-8x7b", "--ep", "2", "--batch", "4"),
    ("--model", "deepseek-v3", "--tp", "8"),
    ("--model", "gemma-2-9b", "--kv-dtype", "fp8"),
], ids=lambda a: " ".join(a))
def test_a_fresh_analyze_json_has_no_undeclared_keys(capsys, args) -> None:
    """Every key ``llmroof analyze --format json`` writes today is a field of AnalysisRecord (dense, pipeline,
    MoE with expert parallelism, MLA, windowed layers), and the record writes the same JSON back."""
    from cli_runner import run_cli

    code, out, err = run_cli(capsys, "analyze", *args, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    record = AnalysisRecord.from_dict(data)
    assert unknown_keys(record) == []
    assert record.to_dict() == data


def test_a_late_key_is_left_out_for_a_file_without_it_and_written_by_a_record_built_in_memory() -> None:
    row = records.load(OLD / "plan.json").configs[0]  # 0.1.0: no ep, no simulated p90s
    assert row.ep == 1 and row.sim_ttft_p90_s is None
    assert not {"ep", "sim_ttft_p90_s", "sim_tpot_p90_s"} & set(row.to_dict())
    fresh = dataclasses.replace(row).to_dict()
    assert (fresh["ep"], fresh["sim_ttft_p90_s"], fresh["sim_tpot_p90_s"]) == (1, None, None)


def test_the_domain_types_are_the_records_types() -> None:
    """No mirror pairs: the planner's configuration is the plan record's row, the analysed collective the
    analysis record's comm entry (same fields, one declaration)."""
    from llmroof.analytic.comm import CommOp
    from llmroof.plan.records import DisaggregatedLayout, PlanConfig
    from llmroof.results.records.analysis import CommEntry
    from llmroof.results.records.plan import DisaggregatedRow, PlanRow

    assert issubclass(PlanConfig, PlanRow) and DisaggregatedLayout is DisaggregatedRow
    assert issubclass(CommEntry, CommOp)
    assert [f.name for f in dataclasses.fields(CommEntry)] == [*(f.name for f in dataclasses.fields(CommOp)),
                                                              "extra"]
    assert {f.name for f in dataclasses.fields(PlanConfig)} == {f.name for f in dataclasses.fields(PlanRow)}


def test_the_sweep_record_row_is_the_engine_row_after_its_axis_and_value() -> None:
    """The sweep file's row derives from the engine's: its own fields are only ``axis`` and ``value``,
    written first (``FIRST``), as 0.1.0 wrote them."""
    from llmroof.analytic.sweep import FIELDS
    from llmroof.analytic.sweep import SweepRow as EngineRow
    from llmroof.results.records.sweep import SweepRow

    assert issubclass(SweepRow, EngineRow)
    row = records.load(OLD / "sweep.json").rows[0]
    assert list(row.to_dict()) == ["axis", "value", *FIELDS]


def test_the_op_row_is_the_op_cost_timed_on_a_roofline() -> None:
    """The pair kept: ``OpCost`` (the formulas' per-instance cost, a NamedTuple read by index in the
    roofline's hot loop) and ``OpRow`` (that cost timed on a roofline, ``count`` third in the file): every
    figure of the cost is a field of the row, under the same name."""
    from llmroof.analytic.opcost import OpCost
    from llmroof.results.records.analysis import OpRow

    row = [f.name for f in dataclasses.fields(OpRow)]
    assert set(OpCost._fields) < set(row) and {"bytes", "intensity"} < set(row)
