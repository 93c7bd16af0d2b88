"""``llmroof.runs``: whole measurements return typed records (the CLI only renders them)."""

from __future__ import annotations

import contextlib
import sys

import pytest

from fakes import FakeNvml
from llmroof.measure import nvml as nv
from llmroof.results.records import SampleRecord
from llmroof.measure.comm import CONVENTION
from llmroof.results.records.comm import CommRecord, RankTime
from llmroof.runs.comm import comm_record
from llmroof.runs.sample import run_sample


def test_sample_returns_a_typed_record_and_ticks_the_view(monkeypatch) -> None:
    monkeypatch.setattr(nv, "load_pynvml", lambda: FakeNvml(gpm=True, dram_util=50.0))
    ticks = []

    @contextlib.contextmanager
    def view(sampler):
        yield lambda: ticks.append(len(sampler.snapshot()))

    record = run_sample(interval_s=0.1, seconds=0.35, view=view)
    assert isinstance(record, SampleRecord) and record.source == "gpm" and record.exit_code is None
    assert record.samples and record.samples[0].dram_bandwidth_bytes_per_s == pytest.approx(0.5 * 1.5552e12)
    assert ticks, "the view is ticked while sampling"
    assert SampleRecord.from_dict(record.to_dict()) == record


def test_sample_around_a_command_keeps_its_exit_code_without_a_driver(monkeypatch) -> None:
    monkeypatch.setattr(nv, "load_pynvml", lambda: None)
    record = run_sample(command=[sys.executable, "-c", "import sys; sys.exit(4)"])
    assert record.source is None and record.exit_code == 4 and record.command == (sys.executable, "-c",
                                                                                  "import sys; sys.exit(4)")


def test_comm_record_fits_the_link_to_every_all_reduce_size() -> None:
    from llmroof.analytic import comm as analytic_comm

    link = analytic_comm.Link("test", 10e9, 5e-6)
    sizes = (4096, 65536, 2**20)
    per_rank = tuple(RankTime(rank=r, op="all_reduce", size_bytes=s, time_s=analytic_comm.allreduce_time_s(s, 2, link))
                     for r in range(2) for s in sizes)
    measured = CommRecord(ranks=2, backend="gloo", iterations=3, convention=CONVENTION, prediction=None, rows=(),
                          per_rank=per_rank)
    record = comm_record(measured)
    assert record.ranks == 2 and record.iterations == 3 and "every size" in record.prediction
    assert [row.size_bytes for row in record.rows] == list(sizes)
    assert all(row.measured_to_predicted == pytest.approx(1.0, rel=1e-6) for row in record.rows)
