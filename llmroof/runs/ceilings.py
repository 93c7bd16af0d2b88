"""``llmroof ceilings``: calibrate (or read back from the cache) this machine's roofs and return the
``llmroof.ceilings/1`` record."""

from __future__ import annotations

from collections.abc import Callable

from llmroof.results.records.ceilings import CeilingsRecord


def run_ceilings(
    device: str = "auto",
    *,
    threads: int | None = None,
    refresh: bool = False,
    progress: Callable[[str], None] = lambda _: None,
    note: Callable[[str], None] = lambda _: None,
) -> CeilingsRecord:
    """The ceilings of ``device`` (auto, cpu, cuda or cuda:N): the cached calibration of this
    machine, or a new one (``refresh``, or none cached); ``threads``: torch's CPU threads.
    ``progress`` gets a line per measurement, ``note`` what the calibration says of itself."""
    import torch

    from llmroof.measure.ceilings_cache import calibrated, ceilings_result, check_threads
    from llmroof.measure.device import open_device

    check_threads(threads)
    if threads is not None:
        torch.set_num_threads(threads)
    dev = open_device(device, torch)
    calibration = calibrated(
        dev,
        threads=None if dev.is_cuda else torch.get_num_threads(),
        refresh=refresh,
        progress=progress,
    )
    if calibration.note:
        note(calibration.note)
    return ceilings_result(calibration)
