"""Where a run comes from: commit, branch and time from the options, else the CI's environment (GitHub
Actions, GitLab CI, Buildkite), else git in the working directory, else the clock; and the base of the
current branch (``history check``'s default ``--since``)."""

from __future__ import annotations

import datetime
import os
import re
import subprocess
from collections.abc import Mapping

from llmroof.errors import LlmroofError
from llmroof.history.store import Provenance, utc_text

CI_COMMIT = ("GITHUB_SHA", "CI_COMMIT_SHA", "BUILDKITE_COMMIT")
CI_BRANCH = ("GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME", "BUILDKITE_BRANCH")
"""In order: a pull request's head branch (GITHUB_HEAD_REF, empty on a push) before GITHUB_REF_NAME
(``123/merge`` on a pull request)."""
DEFAULT_BRANCHES = ("main", "master")


def _git(*args: str, cwd: str | None = None) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def _first(environ: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((environ[n] for n in names if environ.get(n)), None)


def now_utc() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def parse_time(text: str) -> str:
    """ISO 8601 (a date, or a time with or without offset; naive means UTC) -> ISO 8601 in UTC."""
    return utc_text(text)


def provenance(
    *,
    commit: str | None = None,
    branch: str | None = None,
    time: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> Provenance:
    """The options, else the CI's variables, else git; the time: ``--time``, else the commit's time in git
    when ``HEAD`` is that commit, else now."""
    env = os.environ if environ is None else environ
    commit = commit or _first(env, CI_COMMIT) or _git("rev-parse", "HEAD", cwd=cwd)
    branch = branch or _first(env, CI_BRANCH) or _git("rev-parse", "--abbrev-ref", "HEAD", cwd=cwd)
    if not commit:
        raise LlmroofError(
            "no commit: not in a git checkout and no CI variable names one",
            "pass --commit (and --branch)",
        )
    if time is None:
        stamp = (
            _git("show", "-s", "--format=%cI", commit, cwd=cwd)
            if re.fullmatch(r"[0-9a-fA-F]{7,64}", commit)
            else None
        )
        # The commit's time orders a history of pushes; runs of one commit keep the order they were added.
        time = stamp or now_utc()
    return Provenance(commit=commit, branch=branch or "unknown", time_utc=parse_time(time))


def merge_base(cwd: str | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """The commit where the current branch left the default branch (a pull request's base), or None on
    the default branch itself or outside git."""
    env = os.environ if environ is None else environ
    bases = [f"origin/{env['GITHUB_BASE_REF']}"] if env.get("GITHUB_BASE_REF") else []
    bases += [f"origin/{b}" for b in DEFAULT_BRANCHES] + list(DEFAULT_BRANCHES)
    head = _git("rev-parse", "HEAD", cwd=cwd)
    for base in bases:
        found = _git("merge-base", "HEAD", base, cwd=cwd)
        if found:
            return None if found == head else found
    return None
