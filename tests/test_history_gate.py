"""``llmroof compare --history DB NEW``: NEW against the base branch's last runs on the same machine, with
compare's verdicts and the base's spread as the noise floor."""

from __future__ import annotations

import json

from cli_runner import run_cli
from history_fixtures import write_profile

from llmroof.history.store import Provenance, open_store
from llmroof.history.trend import add_files


def history(tmp_path, runs: int = 10, branch: str = "main") -> str:
    db = str(tmp_path / "h.sqlite")
    with open_store(db, create=True) as store:
        for i in range(runs):
            add_files(
                store,
                [write_profile(tmp_path / f"base{i}" / "results.json", seed=i)],
                Provenance(
                    commit=f"{i:02d}" + "b" * 38,
                    branch=branch,
                    time_utc=f"2026-03-01T00:{i:02d}:00Z",
                ),
            )
        add_files(
            store,
            [write_profile(tmp_path / "other" / "results.json", seed=99, scale=2.0)],
            Provenance(commit="f" * 40, branch="feature", time_utc="2026-03-01T01:00:00Z"),
        )
    return db


def test_a_20_percent_slower_repeat_run_is_a_regression(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_BASE_REF", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    db = history(tmp_path)
    slow = write_profile(tmp_path / "new" / "results.json", seed=50, scale=1.2, processes=3)
    code, out, err = run_cli(capsys, "compare", "--history", db, str(slow), "--format", "json")
    assert code == 1, err
    data = json.loads(out)
    tpot = [r for r in data["rows"] if r["metric"] == "tpot_s"]
    assert tpot and all(r["verdict"] == "regression" for r in tpot)
    assert all(
        r["base"]["n"] == 10 and r["new"]["n"] == 3 for r in tpot
    )  # the feature branch's run is not BASE
    assert data["noise"]["unit_of_replication"] == "process" and 0 < data["noise"]["floor"] < 0.1
    assert tpot[0]["ratio"] == __import__("pytest").approx(1.2, rel=0.03)


def test_the_same_code_is_unchanged_and_exits_0(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_BASE_REF", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    db = history(tmp_path)
    same = write_profile(tmp_path / "new" / "results.json", seed=60, processes=3)
    code, out, err = run_cli(capsys, "compare", "--history", db, str(same), "--format", "markdown")
    assert code == 0, err
    assert "regression" not in out.split("\n", 2)[0]


def test_one_process_uses_its_repetitions_with_compare_s_caveat(
    tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    db = history(tmp_path)
    slow = write_profile(tmp_path / "new" / "results.json", seed=50, scale=1.3)
    code, out, _err = run_cli(
        capsys, "compare", "--history", db, str(slow), "--format", "json", "-M", "tpot_s"
    )
    data = json.loads(out)
    assert (
        code == 1 and data["caveat"] and 0 < data["noise"]["floor"] < 0.05
    )  # the base's spread, not 105%


def test_another_machine_or_too_few_base_runs_is_bad_input(tmp_path, capsys) -> None:
    db = history(tmp_path, runs=1)
    new = write_profile(tmp_path / "new" / "results.json", seed=5, processes=2)
    code, _, err = run_cli(capsys, "compare", "--history", db, str(new))
    assert code == 2 and "2 or more runs of main" in err
    db = history(tmp_path / "more")
    elsewhere = write_profile(
        tmp_path / "x" / "results.json", seed=5, processes=2, fingerprint="0123456789abcdef"
    )
    code, _, err = run_cli(capsys, "compare", "--history", db, str(elsewhere))
    assert code == 2 and "machine 0123456789abcdef" in err
    code, _, err = run_cli(capsys, "compare", "--history", db, str(new), str(new))
    assert code == 2 and "only NEW" in err
