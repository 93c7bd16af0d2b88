"""The one library call behind ``llmroof trace``: options as typed -> :class:`TraceRecord`."""

from __future__ import annotations

from pathlib import Path

from llmroof.errors import LlmroofError
from llmroof.results.records.trace import TraceRecord
from llmroof.trace.analyze import TraceOptions, run_trace


def trace_command(
    paths: list[Path],
    *,
    model: str,
    hardware: str | None = None,
    hardware_file: Path | None = None,
    ceilings_file: Path | None = None,
    batch: int | None = None,
    context: int | None = None,
    prompt: int | None = None,
    dtype: str | None = None,
    tp: int | None = None,
    pp: int | None = None,
    ep: int | None = None,
    rules: Path | None = None,
    launch_floor_s: float | None = None,
) -> TraceRecord:
    """Resolve the names (model, device, dtype, rules) and run the analysis."""
    from llmroof.specs.dtypes import get_dtype
    from llmroof.specs.hardware import get_hardware
    from llmroof.specs.model import get_model
    from llmroof.trace.analyze import read_trace  # noqa: F401 (the reader is chosen there)
    from llmroof.trace.roofs import datasheet_roofs, machine_roofs
    from llmroof.trace.rules import read_rules

    spec = get_model(model)
    cpu = hardware is not None and hardware.lower() in ("cpu", "this machine", "local")
    chosen = dtype or ("fp32" if cpu or ceilings_file is not None else None)
    if chosen is not None:
        get_dtype(chosen)  # an unknown dtype is a one-line error
    roofs = None
    if ceilings_file is not None or cpu:
        roofs = machine_roofs(
            chosen or "fp32", None if ceilings_file is None else str(ceilings_file)
        )
    elif hardware is not None:
        spec_hw = get_hardware(hardware, hardware_file)
        gpus = (tp or 1) * (pp or 1) * (ep or 1)
        roofs = datasheet_roofs(spec_hw, chosen or "bf16", gpus, launch_floor_s)
    options = TraceOptions(
        model=spec,
        roofs=roofs,
        dtype=chosen,
        batch=batch,
        context=context,
        prompt=prompt,
        tp=tp,
        pp=pp,
        ep=ep,
        rules=read_rules(rules) if rules else (),
        launch_floor_s=launch_floor_s,
    )
    if not paths:
        raise LlmroofError("no trace file given", "llmroof trace TRACE.json --model M")
    return run_trace(list(paths), options)
