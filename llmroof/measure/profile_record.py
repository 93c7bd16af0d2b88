"""The ``llmroof.profile/1`` record as a measurement assembles it, one way for a single-device and a parallel
run: the record of a run that has just started, the run in progress, the roofline section, a configuration's
per-token figures and its op rows. Keys are documented in ``docs/results-schema.md``; everything here is built
as the typed record (``llmroof.results.records.ProfileRecord`` and its parts), which alone writes the JSON
(``Record.to_dict``, the ``schema`` key included): the run in progress is a ``ProfileRecord`` that each step
replaces with the next, and the caller's save callback writes its JSON after every step."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmroof.measure.stats import summarize
from llmroof.results.records.analysis import OpRow
from llmroof.results.records.profile import (
    ConfigResult,
    DeviceInfo,
    NvmlSampling,
    OpResult,
    ProfileModel,
    ProfileRecord,
    ProfileWorkload,
    RooflineInfo,
    Rooflines,
    TimingStats,
)

if TYPE_CHECKING:
    from llmroof.analytic.analysis import Roofline
    from llmroof.analytic.ops import OpCost
    from llmroof.specs.model import ModelSpec

Save = Callable[[dict[str, Any]], object]
"""Called with the record's JSON object (:meth:`~llmroof.results.records.base.Record.to_dict`) after every
step; it must write (or copy) it before returning. The caller decides where it goes (the CLI:
``results.json``, atomically); a callable that pickles, so the launcher can hand it to the ranks."""


def device_info(device: Any) -> DeviceInfo:
    """The device as the profiler saw it (``index``: the CUDA index, None on a CPU)."""
    return DeviceInfo(
        kind=device.kind, index=device.index, name=device.name, cache_bytes=device.cache_bytes
    )


def profile_model(model: ModelSpec) -> ProfileModel:
    """The model profiled, with every field of its spec."""
    return ProfileModel(
        name=model.name, attention=model.attention_kind, spec=dataclasses.asdict(model)
    )


def header(
    device: Any,
    model: ModelSpec,
    workload: ProfileWorkload,
    argv: list[str] | None,
    nvml: NvmlSampling,
    hardware: Any = None,
    **parts: Any,
) -> ProfileRecord:
    """The record of a run that has just started (status ``running``, no configuration yet): environment,
    device, the datasheet entry (``hardware``, None on a CPU), model, ``workload`` and the NVML sampling;
    ``parts``: other fields known at the start (``timing``, ``notes``, ``parallel``...)."""
    from llmroof.measure import environment

    return ProfileRecord(
        status="running",
        environment=environment.capture(device, argv),
        device=device_info(device),
        hardware=hardware.to_dict() if hardware else None,
        model=profile_model(model),
        workload=workload,
        configs=(),
        nvml=nvml,
        **parts,
    )


def roofline(
    peak_flops_per_s: float,
    bandwidth_bytes_per_s: float,
    label: str,
    datasheet: Any = None,
    dtype: str = "bf16",
) -> Rooflines:
    """The ``roofline`` section: the measured roof, and the datasheet's where the device has an entry."""
    return Rooflines(
        measured=RooflineInfo(
            peak_flops_per_s=peak_flops_per_s,
            bandwidth_bytes_per_s=bandwidth_bytes_per_s,
            label=label,
        ),
        datasheet=None
        if datasheet is None
        else RooflineInfo(
            peak_flops_per_s=datasheet.peak_flops(dtype),
            bandwidth_bytes_per_s=datasheet.memory_bandwidth_bytes_per_s,
            label=f"{datasheet.display_name} datasheet",
        ),
    )


def config_head(phase: str, batch: int, length: int) -> dict[str, Any]:
    """A configuration's first fields (keyword arguments of :class:`ConfigResult`): phase, batch, and its
    prompt (prefill) or context (decode) length."""
    return {
        "phase": phase,
        "batch": batch,
        ("prompt_len" if phase == "prefill" else "context_len"): length,
    }


def per_token(
    phase: str, batch: int, length: int, time_s: float, bytes_moved: float
) -> dict[str, Any]:
    """A configuration's figures per token (keyword arguments of :class:`ConfigResult`): TPOT (decode: one
    token per sequence) or TTFT (prefill: the whole prompt), tokens/s, and the analytic bytes per token."""
    if phase == "decode":
        return {
            "tpot_s": time_s,
            "tokens_per_s": batch / time_s,
            "bytes_per_token": bytes_moved / batch,
        }
    tokens = batch * length
    return {
        "ttft_s": time_s,
        "tokens_per_s": tokens / time_s,
        "bytes_per_token": bytes_moved / tokens,
    }


def timing_stats(samples_s: list[float]) -> TimingStats:
    """The raw samples with their statistics (:func:`~llmroof.measure.stats.summarize`)."""
    return TimingStats.from_dict({"samples_s": samples_s, **summarize(samples_s)})


def op_row(
    op: OpCost,
    roof: Roofline,
    measured: TimingStats | None,
    roof_time_s: float | None = None,
    **placed: Any,
) -> OpResult:
    """One op's row: the analytic instance (the fields of ``llmroof analyze``'s op rows), its place on
    the hierarchical roofline (``placed``: ``roof_level``...) and, where its kernel was timed, the timing
    and the rates achieved; ``roofline_fraction`` sets the op's roof time (``roof_time_s``, the roof of
    its memory level, where given; else its roofline time) against the measured median."""
    analytic = OpRow.of(op, roof)
    row = {name: getattr(analytic, name) for name in ANALYTIC_FIELDS} | placed
    if roof_time_s is not None:
        row["roof_time_s"] = roof_time_s
    if measured is not None:
        median = measured.median_s
        row |= {name: getattr(measured, name) for name in TIMING_FIELDS}
        row["achieved_bytes_per_s"] = op.bytes / median
        row["achieved_flops_per_s"] = op.flops / median
        row["roofline_fraction"] = (
            roof.time_s(op) if roof_time_s is None else roof_time_s
        ) / median
    return OpResult(**row)


ANALYTIC_FIELDS = tuple(
    f.name for f in dataclasses.fields(OpRow) if f.name not in ("extra", "implementation")
)
"""The fields of an analytic op row that a profiled op row repeats (the op set is the eager one)."""
TIMING_FIELDS = tuple(f.name for f in dataclasses.fields(TimingStats) if f.name != "extra")
"""The timing statistics a timed op's row carries."""


@dataclass
class ProfileRun:
    """A run in progress: its record (frozen; each step replaces it with the next one, :meth:`advance`)
    and the caller's save callback, which gets the whole record's JSON object after every step."""

    saver: Save | None
    record: ProfileRecord

    def advance(self, **changes: Any) -> ProfileRecord:
        """The record with ``changes`` (fields by name), kept as the run's record (not saved yet)."""
        self.record = dataclasses.replace(self.record, **changes)
        return self.record

    def add(self, config: ConfigResult) -> None:
        """A finished configuration, appended and saved."""
        self.advance(configs=(*self.record.configs, config))
        self.save()

    def save(self) -> None:
        if self.saver is not None:
            self.saver(self.record.to_dict())

    @contextlib.contextmanager
    def recording(self, finish: Callable[[], None] = lambda: None) -> Iterator[ProfileRecord]:
        """Around the measurements: the status becomes ``complete``, ``interrupted`` (Ctrl-C, a signal) or
        ``failed`` (with ``error``); ``finish`` runs, and the record is saved, whatever happened."""
        try:
            yield self.record
            self.advance(status="complete")
        except KeyboardInterrupt:
            self.advance(status="interrupted")
            raise
        except BaseException as exc:
            self.advance(status="failed", error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            finish()
            self.save()
