"""The calibration cache: one :class:`~llmroof.measure.ceilings.Ceilings` per machine fingerprint in the
user cache directory (``$XDG_CACHE_HOME/llmroof/ceilings/``, default ``~/.cache``), written atomically and
reused by every ``llmroof profile``.

The fingerprint names what the figures depend on: the CPU (or GPU model and UUID, and the driver), the host,
torch's version, the thread count, the calibration plan and the method version. A changed fingerprint is a
different file; a corrupt file, one of another method version or one whose fingerprint does not match is
measured again (with a note), never a crash.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmroof import schemas
from llmroof.errors import LlmroofError
from llmroof.measure.ceilings import METHOD_VERSION, PATTERNS, CalibrationPlan, Ceilings
from llmroof.measure.device import Device, cpu_model_name
from llmroof.results.records.ceilings import (
    CalibrationInfo,
    CeilingsCacheRecord,
    CeilingsRecord,
    DriftCheck,
    DriftJudgement,
    DriftProbe,
)

READ_SCHEMAS = (schemas.CEILINGS_CACHE, schemas.CEILINGS)
"""The cache's schema, and the results schema that caches written before it had its own (0.2.0) name."""


def check_threads(threads: int | None, cpus: int | None = None) -> None:
    """``--threads`` must be a count this machine runs: the calibration sizes its working sets by
    the cache instances that many threads hold (``--threads 512`` on 2 cores asked for 322 GB)."""
    cpus = cpus or os.cpu_count() or 1
    if threads is not None and not 1 <= threads <= cpus:
        raise LlmroofError(
            f"--threads {threads}: this machine has {cpus} CPUs",
            f"give 1 to {cpus}, or leave --threads out for torch's default",
        )


def cache_dir(environ: dict[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/llmroof/ceilings`` (``~/.cache`` when unset or not absolute, as the XDG spec says)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "llmroof" / "ceilings"


def fingerprint(device: Device, *, threads: int | None, plan: CalibrationPlan) -> dict[str, Any]:
    """What the calibrated figures depend on."""
    from llmroof.measure.environment import _nvidia_driver

    torch = device.torch
    print_: dict[str, Any] = {
        "device_kind": device.kind,
        "device_name": device.name,
        "cpu_model": cpu_model_name(),
        "host": socket.gethostname(),
        "torch": getattr(torch, "__version__", None),
        "threads": threads if not device.is_cuda else None,
        "plan": plan.name,
        "method_version": METHOD_VERSION,
    }
    if device.is_cuda:
        props = torch.cuda.get_device_properties(device.index)
        print_.update(
            gpu_uuid=str(getattr(props, "uuid", "") or "") or None,
            driver=_nvidia_driver(),
            cuda=getattr(getattr(torch, "version", None), "cuda", None),
        )
    return print_


def fingerprint_id(print_: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(print_, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True, kw_only=True)
class Calibration:
    """Ceilings and where they came from."""

    ceilings: Ceilings
    path: Path
    fingerprint: dict[str, Any]
    fingerprint_id: str
    measured_at: str
    """UTC time of the measurement (ISO 8601)."""
    status: str
    """``reused`` (read from the cache), ``measured`` (no cache yet), ``refreshed`` (``--refresh``) or
    ``remeasured`` (the cache file was unusable; ``note`` says why)."""
    note: str | None = None

    def info(self) -> CalibrationInfo:
        """Where the ceilings came from, as results files record it (``calibration``)."""
        return CalibrationInfo(
            cache_path=str(self.path),
            fingerprint=self.fingerprint,
            fingerprint_id=self.fingerprint_id,
            measured_at=self.measured_at,
            status=self.status,
            note=self.note,
            plan=self.ceilings.plan,
            method_version=self.ceilings.method_version,
        )


def ceilings_result(calibration: Calibration) -> CeilingsRecord:
    """The ``llmroof.ceilings/1`` record of a calibration (``llmroof ceilings``): the roofs its figures
    give, the figures, and where they came from."""
    ceilings = calibration.ceilings
    memory = ceilings.memory_roof()
    return CeilingsRecord(
        device_kind=ceilings.device_kind,
        device_name=ceilings.device_name,
        threads=ceilings.threads,
        plan=ceilings.plan,
        memory_bandwidth_bytes_per_s=memory.best_bytes_per_s,
        cache_bandwidth_bytes_per_s={
            name: f.best_bytes_per_s for name, f in ceilings.cache_roofs().items()
        },
        compute_flops_per_s=ceilings.compute_roofs(),
        overhead_bound_levels_bytes_per_s=ceilings.overhead_bound_levels(),
        dispatch_floor_s=ceilings.launch_floor_s,
        calibration=calibration.info(),
        memory_bandwidth_pattern=memory.pattern,
        memory_bandwidth_working_set_bytes=memory.working_set_bytes,
        memory_bandwidth_spread_bytes_per_s=dict(
            zip(("min", "median", "max"), ceilings.spread(memory))
        ),
        memory_bandwidth_by_pattern_bytes_per_s={p: ceilings.best_of_pattern(p) for p in PATTERNS},
        dispatch_rounds_s=ceilings.dispatch_rounds_s,
        dispatch_kind="kernel launch" if ceilings.device_kind == "cuda" else "op dispatch",
        cache_capacity_bytes={c.name: c.capacity_bytes for c in ceilings.caches},
        method_version=ceilings.method_version,
        elapsed_s=ceilings.elapsed_s,
        method=ceilings.method(),
        caches=ceilings.caches,
        bandwidth=ceilings.bandwidth,
        compute=ceilings.compute,
        # a calibration made before the floor was measured: its floor written null, as before
        extra={"dispatch_floor_s": None} if ceilings.launch_floor_s is None else {},
    )


def _read(path: Path, print_: dict[str, Any]) -> tuple[Ceilings, str] | str:
    """(ceilings, measured_at) from a cache file, or why it cannot be used. The file is input like
    any other (docs/io-policy.md): only a regular file is read (a FIFO would block, a link to
    /dev/zero never end), through the one bounded reader, and every figure is checked
    (:func:`implausible`) before it is used."""
    from llmroof.readers import parse_json, read_bytes

    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return "not a regular file (a link, FIFO or device that llmroof did not write)"
        data = parse_json(read_bytes(path), str(path))
    except OSError as exc:
        return f"cannot read it ({exc.strerror})"
    except LlmroofError as exc:
        return f"cannot read it ({exc.message.removeprefix(f'{path}: ')})"
    if not isinstance(data, dict) or data.get("schema") not in READ_SCHEMAS:
        return "not a calibration file of this llmroof"
    try:
        cache = CeilingsCacheRecord.from_cache(data, str(path))
    except LlmroofError as exc:
        return f"malformed ({exc.message.removeprefix(f'{path}: ').removeprefix(f'{path}.')})"
    if cache.method_version != METHOD_VERSION:
        return (
            f"method version {cache.method_version}, this llmroof measures version {METHOD_VERSION}"
        )
    if cache.fingerprint != print_:
        return "its machine fingerprint differs"
    problem = implausible(cache.ceilings)  # checked before it is read
    if problem:
        return f"malformed ({problem})"
    try:
        return Ceilings.from_dict(cache.ceilings), cache.measured_at
    except LlmroofError as exc:
        return f"malformed ({exc.message})"
    except (ValueError, OverflowError) as exc:
        return f"malformed ({type(exc).__name__}: {exc})"


BANDWIDTH_RANGE_BYTES_PER_S = (1e6, 1e16)
"""A measured bandwidth outside this is no machine's (1 MB/s to 10 PB/s: an H100's L1, all SMs, is
~3e13)."""
FLOPS_RANGE_PER_S = (1e6, 1e18)
"""Likewise for compute (a B200's dense FP4 is ~9e15)."""
MAX_BYTES = 2**50
MAX_ITEMS = 100_000
_Spec = Any  # a type, (low, high) for a number, a dict of key -> spec for an object, or [spec] for a list
_FIGURES = {
    "pattern": str,
    "working_set_bytes": (int, 1, MAX_BYTES),
    "rounds_bytes_per_s": [(float, *BANDWIDTH_RANGE_BYTES_PER_S)],
}
_COMPUTE = {"dtype": str, "n": (int, 1, 2**20), "rounds_flops_per_s": [(float, *FLOPS_RANGE_PER_S)]}
_CACHES = {
    "name": str,
    "capacity_bytes": (int, 1, MAX_BYTES),
    "instance_bytes": (int, 1, MAX_BYTES),
    "instances": (int, 1, 2**20),
}
CEILINGS_SPEC: dict[str, _Spec] = {
    "device_kind": str,
    "device_name": str,
    "plan": str,
    "threads": (int, 1, 2**16, "or null"),
    "elapsed_s": (float, 0, 1e7),
    "method_version": (int, 0, 2**31),
    "caches": [_CACHES],
    "bandwidth": [_FIGURES],
    "compute": [_COMPUTE],
}


def implausible(ceilings: Any) -> str | None:
    """What is wrong with the ``ceilings`` of a cache file (by type, finiteness and plausible
    range), or None: a file edited by hand, or damaged, is measured again rather than trusted."""
    return _check(ceilings, CEILINGS_SPEC, "ceilings")


def _check(value: Any, spec: _Spec, where: str) -> str | None:
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return f"{where} is {_show(value)}, expected an object"
        return next(
            (
                p
                for key, inner in spec.items()
                if (p := _check(value.get(key), inner, f"{where}.{key}"))
            ),
            None,
        )
    if isinstance(spec, list):
        if not isinstance(value, list) or not 0 < len(value) <= MAX_ITEMS:
            return f"{where} is {_show(value)}, expected a list of 1 to {MAX_ITEMS:,}"
        return next(
            (p for i, item in enumerate(value) if (p := _check(item, spec[0], f"{where}[{i}]"))),
            None,
        )
    if isinstance(spec, tuple):
        kind, low, high, *nullable = spec
        if value is None and nullable:
            return None
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not numeric or (kind is int and not isinstance(value, int)) or not low <= value <= high:
            what = "an integer" if kind is int else "a number"
            return f"{where} is {_show(value)}, expected {what} from {low:g} to {_bound(high)}" + (
                f" {nullable[0]}" if nullable else ""
            )
        return None
    return (
        None if isinstance(value, spec) else f"{where} is {_show(value)}, expected {spec.__name__}"
    )


def _bound(value: float) -> str:
    return (
        f"2^{int(value).bit_length() - 1}"
        if isinstance(value, int) and value >= 2**16
        else f"{value:g}"
    )


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def load_or_measure(
    print_: dict[str, Any],
    measure: Callable[[], Ceilings],
    *,
    refresh: bool = False,
    directory: Path | None = None,
) -> Calibration:
    """The cached ceilings of this fingerprint, or ``measure()``'s (then written to the cache)."""
    ident = fingerprint_id(print_)
    path = (directory or cache_dir()) / f"{print_['device_kind']}-{ident}.json"
    status, note = ("refreshed", None) if refresh else ("measured", None)
    if not refresh and os.path.lexists(path):
        found = _read(path, print_)
        if not isinstance(found, str):
            ceilings, measured_at = found
            return Calibration(
                ceilings=ceilings,
                path=path,
                fingerprint=print_,
                fingerprint_id=ident,
                measured_at=measured_at,
                status="reused",
            )
        status, note = "remeasured", f"calibration cache {path}: {found}; measured again"
    ceilings = measure()
    measured_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    from llmroof.writers import write_json_atomic

    try:
        write_json_atomic(
            path,
            CeilingsCacheRecord(
                method_version=METHOD_VERSION,
                fingerprint=print_,
                fingerprint_id=ident,
                measured_at=measured_at,
                ceilings=ceilings.to_dict(),
            ).to_dict(),
            special_in_place=False,
        )  # a FIFO or link here is replaced, never written through
    except LlmroofError as exc:  # the writer's one error type, naming the path and why
        note = ((note + "; ") if note else "") + f"not cached: {exc.message}"
    return Calibration(
        ceilings=ceilings,
        path=path,
        fingerprint=print_,
        fingerprint_id=ident,
        measured_at=measured_at,
        status=status,
        note=note,
    )


def calibrated(
    device: Device,
    *,
    threads: int | None,
    refresh: bool = False,
    plan: CalibrationPlan | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Calibration:
    """The ceilings of this device at ``threads`` (torch's count when None on a CPU): cached, or measured now."""
    from llmroof.measure.ceilings import calibrate, plan_from_env

    plan = plan or plan_from_env()
    if threads is None and not device.is_cuda:
        threads = device.torch.get_num_threads()
    print_ = fingerprint(device, threads=threads, plan=plan)
    return load_or_measure(
        print_,
        lambda: calibrate(device, threads=threads, plan=plan, progress=progress),
        refresh=refresh,
    )


def save_raised(path: Path, ceilings: Ceilings) -> str | None:
    """Write ``ceilings`` (raised by a drift probe, :func:`~llmroof.measure.ceilings.raise_roofs`) over the
    cache file it came from, keeping its fingerprint; returns a note when it cannot."""
    try:
        cache = _cache_record(path)
        _write_cache(
            path,
            dataclasses.replace(
                cache,
                ceilings=ceilings.to_dict(),
                raised_at=datetime.datetime.now(datetime.timezone.utc).isoformat(
                    timespec="seconds"
                ),
            ),
        )
    except (OSError, ValueError, TypeError, LlmroofError) as exc:
        return f"calibration cache {path}: not updated: {getattr(exc, 'message', exc)}"
    return None


def _cache_record(path: Path) -> CeilingsCacheRecord:
    """The cache file at ``path`` as its record (a 0.2.0 cache, named by the results schema, read as the
    cache's). Raises OSError, ValueError (not JSON) or LlmroofError (not a cache file)."""
    return CeilingsCacheRecord.from_cache(json.loads(path.read_text(encoding="utf-8")), str(path))


def _write_cache(path: Path, cache: CeilingsCacheRecord) -> None:
    """The record over the file at ``path``, atomically (its JSON written by ``Record.to_dict``)."""
    from llmroof.writers import write_json_atomic

    write_json_atomic(path, cache.to_dict())


# --- drift history ---------------------------------------------------------------------------------

DRIFT_HISTORY = 10
"""Drift probes kept in a cache file (the newest last); a new calibration starts a new history."""
DRIFT_WINDOW = 5
"""A probe is drift only beyond the range of this machine's last this-many probes (widened by
:data:`~llmroof.measure.ceilings.DRIFT_TOLERANCE`): a shared VM's run-to-run noise is its normal, not drift."""
DRIFT_MIN_HISTORY = 3
"""With fewer earlier probes, the calibration's own spread across rounds is the range (as before a history)."""


def drift_history(path: Path) -> list[DriftProbe]:
    """The drift probes recorded in the cache file at ``path``, oldest first; empty when there are none
    or the file cannot be read."""
    try:
        return _cache_record(path).drift_probes()
    except (OSError, ValueError, LlmroofError):  # UnicodeDecodeError is a ValueError
        return []


def judge_drift(drift: DriftCheck, history: list[DriftProbe]) -> DriftJudgement:
    """Whether a drift check (:func:`~llmroof.measure.ceilings.drift_check`) left this machine's usual range:
    per probed pattern, beyond the [min, max] of the last :data:`DRIFT_WINDOW` probes' fractions widened by
    the tolerance, or, with fewer than :data:`DRIFT_MIN_HISTORY` of them, beyond the calibration's spread.
    The caller keeps it in the drift check as ``history``."""
    from llmroof.measure.ceilings import DRIFT_TOLERANCE

    recent = history[-DRIFT_WINDOW:]
    ranges: dict[str, list[float]] = {}
    moved: dict[str, float] = {}
    for pattern, probe in drift.probes.items():
        past = [float(p.fractions[pattern]) for p in recent if pattern in p.fractions]
        fraction = float(probe.drift_fraction)
        if len(past) >= DRIFT_MIN_HISTORY:
            ranges[pattern] = [min(past), max(past)]
            beyond = not min(past) - DRIFT_TOLERANCE <= fraction <= max(past) + DRIFT_TOLERANCE
        else:
            beyond = probe.beyond_spread
        if beyond:
            moved[pattern] = fraction
    return DriftJudgement(warn=bool(moved), probes=len(recent), range=ranges, moved=moved)


def record_drift(path: Path, drift: DriftCheck, when: str) -> str | None:
    """Append a drift check's fractions to the history in the cache file at ``path`` (the newest
    :data:`DRIFT_HISTORY` kept); returns a note when the file cannot be updated."""
    fractions = {pattern: probe.drift_fraction for pattern, probe in drift.probes.items()}
    if not fractions:
        return None
    entry = DriftProbe(
        at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        when=when,
        fractions=fractions,
    )
    try:
        cache = _cache_record(path)
        history = [*cache.drift_probes(), entry][-DRIFT_HISTORY:]
        _write_cache(
            path, dataclasses.replace(cache, drift_history=tuple(p.to_dict() for p in history))
        )
    except (OSError, ValueError, TypeError, LlmroofError) as exc:
        return (
            f"calibration cache {path}: drift history not updated: {getattr(exc, 'message', exc)}"
        )
    return None
