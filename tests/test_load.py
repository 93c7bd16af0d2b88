"""``llmroof.load()`` reads every file llmroof writes: each schema named in ``llmroof/schemas.py`` has a
record, :data:`~llmroof.results.records.AnyRecord` lists them all, and a file of each loads into its record,
typed by ``kind``. A schema added to ``schemas.py`` joins these tests: give it a sample in ``SAMPLES``."""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_runner import run_cli

import llmroof
from llmroof import schemas
from llmroof.errors import LlmroofError
from llmroof.results import records

OLD = Path(__file__).parent / "data" / "v0.1.0"


def schema_names() -> list[str]:
    """Every ``llmroof.<name>/<version>`` constant of llmroof/schemas.py."""
    return sorted(v for k, v in vars(schemas).items()
                  if k.isupper() and isinstance(v, str) and re.fullmatch(r"llmroof\.[a-z_.]+/\d+", v))


def _cli_json(*args: str) -> Callable[[pytest.CaptureFixture[str], Path], Path]:
    """A sample written fresh by ``llmroof ARGS --format json`` (stdout to a file)."""
    def write(capsys: pytest.CaptureFixture[str], folder: Path) -> Path:
        code, out, err = run_cli(capsys, *args, "--format", "json")
        assert code == 0, err
        path = folder / "sample.json"
        path.write_text(out)
        return path
    return write


def _stored(name: str) -> Callable[[pytest.CaptureFixture[str], Path], Path]:
    """A file an earlier llmroof wrote (tests/data/v0.1.0/README.md: measured runs, kept as written)."""
    return lambda capsys, folder: OLD / name


def _bench(capsys: pytest.CaptureFixture[str], folder: Path) -> Path:
    from test_bench import _result

    path = folder / "results.json"
    path.write_text(json.dumps(_result().to_dict()))
    return path


def _history(capsys: pytest.CaptureFixture[str], folder: Path) -> Path:
    db = str(folder / "history.sqlite")
    code, _, err = run_cli(capsys, "history", "add", str(OLD / "profile.json"), "--db", db, "--commit", "abc",
                           "--branch", "main")
    assert code == 0, err
    return _cli_json("history", "show", "--db", db)(capsys, folder)


def _simulate(capsys: pytest.CaptureFixture[str], folder: Path) -> Path:
    """The file ``simulate --out`` writes (with every request; ``--format json`` leaves them out)."""
    path = folder / "simulate.json"
    code, _, err = run_cli(capsys, "simulate", "--model", "llama-3.2-1b", "--hardware", "h100", "--rate", "2",
                           "--requests", "50", "--seed", "1", "--out", str(path))
    assert code == 0, err
    return path


def _trace(capsys: pytest.CaptureFixture[str], folder: Path) -> Path:
    """``llmroof trace`` of a GPU trace that tests/trace_gen.py writes from the documented format."""
    from test_trace import LLAMA, STEPS
    from trace_gen import write_kineto

    write_kineto(folder / "t.json", LLAMA, STEPS)
    return _cli_json("trace", str(folder / "t.json"), "--model", "llama-3.2-1b", "--context", "1024")(capsys,
                                                                                                        folder)


def _trace_comparison(capsys: pytest.CaptureFixture[str], folder: Path) -> Path:
    """``llmroof compare`` of two ``llmroof.trace/1`` results (the same trace twice)."""
    trace = _trace(capsys, folder).replace(folder / "trace.json")
    return _cli_json("compare", str(trace), str(trace))(capsys, folder)


def _ceilings_cache(capsys: pytest.CaptureFixture[str], folder: Path) -> Path:
    """A calibration cache file, of fake figures (tests/test_ceilings.py)."""
    from test_ceilings import PRINT, CountingMeasure

    from llmroof.measure.ceilings_cache import load_or_measure

    return load_or_measure(PRINT, CountingMeasure(), directory=folder).path


SAMPLES: dict[str, Callable[[pytest.CaptureFixture[str], Path], Path]] = {
    schemas.ANALYSIS: _cli_json("analyze", "--model", "llama-3.2-1b", "--hardware", "h100"),
    schemas.SWEEP: _cli_json("analyze", "--model", "llama-3.2-1b", "--hardware", "h100", "--sweep", "batch=1,8"),
    schemas.PLAN: _cli_json("plan", "--model", "llama-3.2-1b", "--hardware", "h100", "--prompt", "512",
                            "--output", "128", "--max-gpus", "1"),
    schemas.COMPARE: _cli_json("compare", str(OLD / "profile.json"), str(OLD / "profile.json")),
    schemas.PROFILE: _stored("profile.json"),
    schemas.COMM: _stored("comm.json"),
    schemas.SAMPLE: _stored("sample.json"),
    schemas.BENCH: _bench,
    schemas.HISTORY: _history,
    schemas.SIMULATE: _simulate,
    schemas.GRID: _cli_json("analyze", "--model", "llama-3.2-1b", "--hardware", "h100", "--sweep", "batch=1,8",
                            "--sweep", "context=512,1024"),
    schemas.CEILINGS: _cli_json("ceilings", "--device", "cpu"),
    schemas.TRACE: _trace,
    schemas.COMPARE_TRACE: _trace_comparison,
    schemas.CEILINGS_CACHE: _ceilings_cache,
}
"""One file of each schema: fresh from the CLI where that needs no measurement, else a stored one."""


def test_every_schema_has_one_record_and_a_sample() -> None:
    assert sorted(records.SCHEMAS) == schema_names()
    assert set(typing.get_args(records.AnyRecord)) == set(records.RECORDS)
    assert sorted(SAMPLES) == schema_names(), "add a sample file of the new schema to SAMPLES"


@pytest.mark.parametrize("schema", schema_names())
def test_load_reads_a_file_of_every_schema(schema, capsys, tmp_path) -> None:
    path = SAMPLES[schema](capsys, tmp_path)
    kind = records.SCHEMAS[schema]
    record = llmroof.load(path)
    assert type(record) is kind and record.SCHEMA == schema
    assert llmroof.load(path, kind) == record  # typed by kind
    assert record.to_dict() == json.loads(path.read_text())
    other = next(cls for cls in records.RECORDS if cls is not kind)
    with pytest.raises(LlmroofError, match="not llmroof"):
        llmroof.load(path, other)
