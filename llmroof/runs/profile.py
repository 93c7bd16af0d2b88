"""``llmroof profile``: the run sized for the device at hand (defaults, and the rules between options), then
measured on one device, in ``--repeat`` fresh processes, or on ``tp x pp`` ranks (started here, or joined under
torchrun). The CLI and the Python API (:func:`llmroof.profile`) share it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmroof import schemas
from llmroof.errors import LlmroofError
from llmroof.measure.defaults import CPU_DEFAULTS, GPU_DEFAULTS
from llmroof.measure.profile import ProfileConfig

if TYPE_CHECKING:
    from llmroof.results.records import ProfileRecord

Progress = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class ProfileJob:
    """A profile ready to run: what to measure, on which device, and how (one device, repeated, or ranks)."""

    config: ProfileConfig
    device: Any
    """The opened :class:`~llmroof.measure.device.Device`."""
    device_arg: str = "auto"
    """``--device`` as given (a repeated run's worker processes open it again)."""
    threads: int | None = None
    """CPU threads for torch (repeated workers set it again)."""
    tp: int = 1
    pp: int = 1
    micro_batches: int = 1
    timeout_s: float = 120.0
    """Seconds a rank waits for the others before failing."""
    repeat: int = 1
    """Fresh processes, one after another (single-device runs)."""

    @property
    def parallel(self) -> bool:
        return self.tp * self.pp > 1

    @property
    def mode(self) -> str:
        """``parallel``, ``repeat`` or ``single``."""
        return "parallel" if self.parallel else "repeat" if self.repeat > 1 else "single"

    @property
    def steps(self) -> int:
        """Progress messages of a single-device run that advance it: ceilings, building, each configuration."""
        return 2 + len(self.config.batches) * (1 + len(self.config.contexts))


def prepare_profile(
    *,
    model: str | None = None,
    device: str = "auto",
    batches: Sequence[int] | None = None,
    prompt_len: int | None = None,
    contexts: Sequence[int] | None = None,
    dtype: str = "bf16",
    kv_dtype: str | None = None,
    layers: int | None = None,
    threads: int | None = None,
    cuda_graphs: bool = False,
    per_op: bool = True,
    nvml: bool = True,
    nvml_window_ms: float = 300.0,
    warmup_ms: float = 25.0,
    rep_ms: float = 100.0,
    hardware: str | None = None,
    tp: int = 1,
    pp: int = 1,
    micro_batches: int = 1,
    timeout_s: float = 120.0,
    tp_simulate: int = 1,
    repeat: int = 1,
    refresh_ceilings: bool = False,
) -> ProfileJob:
    """Open the device and size the run for it (on a CPU: Llama-3.2-1B, 2 layers, batches 1 and 4, prompt 128,
    contexts 512 and 2048; on a GPU: Llama-3-8B whole, batches 1, 8, 32, prompt 512); options that cannot go
    together are one :class:`LlmroofError` before anything is measured."""
    _check_options(
        batches=batches,
        prompt_len=prompt_len,
        contexts=contexts,
        layers=layers,
        threads=threads,
        nvml_window_ms=nvml_window_ms,
        warmup_ms=warmup_ms,
        rep_ms=rep_ms,
        tp=tp,
        pp=pp,
        micro_batches=micro_batches,
        timeout_s=timeout_s,
        tp_simulate=tp_simulate,
        repeat=repeat,
    )
    import torch

    from llmroof.measure.device import open_device
    from llmroof.specs.dtypes import get_dtype
    from llmroof.specs.hardware import get_hardware
    from llmroof.specs.model import get_model

    if threads is not None:
        from llmroof.measure.ceilings_cache import check_threads

        check_threads(threads)
        torch.set_num_threads(threads)
    dev = open_device(device, torch)
    defaults = GPU_DEFAULTS if dev.is_cuda else CPU_DEFAULTS
    spec = get_model(model if model is not None else defaults["model"])
    if (spec.is_moe or spec.is_mla) and (tp * pp > 1 or tp_simulate > 1):
        raise LlmroofError(
            f"{spec.name}: --tp/--pp/--tp-simulate profiles of mixture-of-experts and latent-attention "
            "models are not built yet",
            f"profile one device, or `llmroof analyze --model {spec.name} --tp N --ep N`",
        )
    compute = get_dtype(dtype).name
    if kv_dtype is not None and get_dtype(kv_dtype).name != compute:
        raise LlmroofError(
            f"--kv-dtype {kv_dtype}: llmroof's torch kernels keep the KV cache in --dtype ({compute})",
            "model other KV dtypes with `llmroof analyze --kv-dtype`",
        )
    parallel = tp * pp > 1
    if tp_simulate > 1 and not dev.is_cuda and hardware is None:
        raise LlmroofError(
            "--tp-simulate on a CPU needs --hardware NAME: the comm cost is modelled on that "
            "device's link",
            "e.g. --tp-simulate 8 --hardware h100",
        )
    if parallel and repeat > 1:
        raise LlmroofError(
            "--repeat runs single-device profiles",
            "repeat a --tp/--pp profile with a shell loop into folders, and compare the folders",
        )
    if parallel and tp_simulate > 1:
        raise LlmroofError(
            "--tp/--pp run real shards on their ranks; --tp-simulate times one shard on one device",
            "drop --tp-simulate",
        )
    if parallel and layers is not None and layers < pp:
        raise LlmroofError(
            f"--layers {layers} is fewer than the {pp} pipeline stages",
            f"instantiate at least one layer per stage: --layers {pp} or more",
        )
    if tp_simulate > 1:
        _check_tp_simulate(spec, tp_simulate)
    if layers is None and not parallel and defaults["layers"] is not None:
        layers = min(
            defaults["layers"], spec.num_layers
        )  # a CPU instantiates 2 layers unless told otherwise
    config = ProfileConfig(
        model=spec,
        batches=tuple(batches or default_ints(defaults["batch"])),
        prompt_len=prompt_len if prompt_len is not None else defaults["prompt"],
        contexts=tuple(contexts or default_ints(defaults["context"])),
        dtype=compute,
        layers=layers,
        per_op=per_op,
        warmup_ms=warmup_ms,
        rep_ms=rep_ms,
        cuda_graphs=cuda_graphs,
        nvml=nvml,
        nvml_window_s=nvml_window_ms / 1e3,
        tp_simulate=tp_simulate,
        refresh_ceilings=refresh_ceilings,
        hardware=get_hardware(hardware) if hardware else None,
    )
    return ProfileJob(
        config=config,
        device=dev,
        device_arg=device,
        threads=threads,
        tp=tp,
        pp=pp,
        micro_batches=micro_batches,
        timeout_s=timeout_s,
        repeat=repeat,
    )


def _check_options(
    *,
    batches: Sequence[int] | None,
    prompt_len: int | None,
    contexts: Sequence[int] | None,
    layers: int | None,
    threads: int | None,
    nvml_window_ms: float,
    warmup_ms: float,
    rep_ms: float,
    tp: int,
    pp: int,
    micro_batches: int,
    timeout_s: float,
    tp_simulate: int,
    repeat: int,
) -> None:
    """The bounds of every numeric option, for the CLI and the API alike (the CLI's own parse-time checks
    say the same, earlier)."""
    from llmroof.errors import INT_LIMIT, check_range

    for name, values in (("--batch", batches), ("--context", contexts)):
        for item in values or ():
            check_range(name, item, 1, INT_LIMIT, integer=True)
    for name, value in (
        ("--prompt", prompt_len),
        ("--layers", layers),
        ("--threads", threads),
        ("--tp", tp),
        ("--pp", pp),
        ("--micro-batches", micro_batches),
        ("--tp-simulate", tp_simulate),
        ("--repeat", repeat),
    ):
        check_range(name, value, 1, INT_LIMIT, integer=True)
    check_range("--nvml-window-ms", nvml_window_ms, 100.0)
    check_range("--warmup-ms", warmup_ms, 0.0)
    check_range("--rep-ms", rep_ms, 1.0)
    check_range("--timeout", timeout_s, 1.0)


def default_ints(text: str) -> tuple[int, ...]:
    """A default such as ``"1,4"`` as integers."""
    return tuple(int(part) for part in text.split(","))


def _check_tp_simulate(spec: Any, tp: int) -> None:
    """The shapes must divide for the simulated degree too; the error names --tp-simulate, not --tp."""
    from llmroof.analytic.sharding import shard_model

    try:
        shard_model(spec, tp)
    except LlmroofError as exc:
        message = exc.message.replace(f"--tp {tp}", f"--tp-simulate {tp}", 1)
        hint = (exc.hint or "").replace("choose a tp", "choose a --tp-simulate") or None
        raise LlmroofError(message, hint) from None


def run_profile(
    job: ProfileJob,
    path: Path | None,
    *,
    argv: list[str],
    progress: Progress = lambda _: None,
    announce: Progress = lambda _: None,
    warn: Progress = lambda _: None,
) -> ProfileRecord | None:
    """Measure ``job``; the record is written to ``path`` (``results.json``) atomically after every finished
    configuration, so an interrupted or failing run keeps what it finished (a repeated or parallel run needs
    ``path``: its processes hand their records over through files). Returns the ``llmroof.profile/1`` record
    (:class:`~llmroof.results.records.ProfileRecord`); None on a torchrun rank other than 0. ``progress`` gets a line per step; ``announce`` a line before
    processes start; ``warn`` what the calibration says of itself (:func:`calibration_warnings`). Ctrl-C
    (or SIGTERM) re-raises after the record says "interrupted"."""
    if job.mode == "parallel":
        record = _run_parallel(job, _needs(path), argv, announce)
    elif job.mode == "repeat":
        from llmroof.measure.profile import config_plan
        from llmroof.results.repeat import run_repeated

        record = run_repeated(
            job.config,
            device=job.device_arg,
            threads=job.threads,
            path=_needs(path),
            processes=job.repeat,
            argv=argv,
            progress=progress,
            plan_size=len(config_plan(job.config)),
        )
    else:
        from llmroof.measure.profile import profile
        from llmroof.results.save import saver

        record = profile(
            job.config, job.device, None if path is None else saver(path), progress, argv=argv
        )
    if record is None:
        return None
    for warning in calibration_warnings(record):
        warn(warning)
    return record


def calibration_warnings(record: ProfileRecord) -> list[str]:
    """A re-measured (corrupt or foreign) calibration cache, and drift beyond the calibration's spread."""
    from llmroof.measure.profile import drift_notes

    calibration = record.calibration
    note = calibration.note if calibration is not None else None
    return ([note] if note else []) + drift_notes(calibration)


def _needs(path: Path | None) -> Path:
    if path is None:
        raise LlmroofError(
            "a repeated or parallel profile needs a results folder", "pass out=FOLDER"
        )
    return path


def _run_parallel(
    job: ProfileJob, path: Path, argv: list[str], announce: Progress
) -> ProfileRecord | None:
    """Start tp x pp ranks here (or join torchrun's group) and return the record rank 0 wrote (the ranks
    are other processes: their record comes back through the results file; None on a rank other than
    0)."""
    from llmroof.analytic.sharding import shard_model, stage_layers
    from llmroof.measure import distributed, parallel
    from llmroof.results.io import read_json
    from llmroof.results.records import ProfileRecord
    from llmroof.results.save import saver

    config, dev, tp, pp = job.config, job.device, job.tp, job.pp
    shard_model(
        config.model, tp
    )  # shapes that do not divide: a clear error before any process starts
    stage_layers(config.model.num_layers, pp)
    world = tp * pp
    pconfig = parallel.ParallelConfig(
        profile=config,
        tp=tp,
        pp=pp,
        micro_batches=job.micro_batches,
        timeout_s=job.timeout_s,
        device="cuda" if dev.is_cuda else "cpu",
    )
    save = saver(path)  # rank 0 saves after every configuration
    if distributed.under_torchrun():
        if int(os.environ["WORLD_SIZE"]) != world:
            raise LlmroofError(
                f"torchrun started {os.environ['WORLD_SIZE']} ranks, --tp {tp} x --pp {pp} needs {world}"
            )
        rank = int(os.environ["RANK"])
        parallel.rank_main(rank, world, pconfig, save, argv)
        if rank != 0:
            return None
    else:
        if dev.is_cuda and dev.torch.cuda.device_count() < world:
            raise LlmroofError(
                f"--tp {tp} x --pp {pp} needs {world} GPUs, this machine has "
                f"{dev.torch.cuda.device_count()}",
                "use torchrun across nodes, or --tp-simulate",
            )
        distributed.check_local_ranks(
            world,
            "cuda" if dev.is_cuda else "cpu",
            dev.torch.cuda.device_count() if dev.is_cuda else 0,
            label=f"--tp {tp} x --pp {pp}",
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        announce(f"starting {world} ranks (tp {tp} x pp {pp})...")
        with (
            tempfile.TemporaryDirectory() as tmp
        ):  # the ranks' error files: never a link in the results folder
            distributed.launch(
                world,
                parallel.rank_main,
                (pconfig, save, argv),
                timeout_s=job.timeout_s,
                error_file=str(Path(tmp) / "rank-error"),
            )
    return ProfileRecord.from_dict(read_json(path, schemas.prefix(schemas.PROFILE)), str(path))


def results_folder(out: Path | None, force: bool) -> Path:
    """The folder this run writes to, checked before anything is measured
    (:func:`llmroof.results.save.results_folder`: writable, not holding an earlier run nor a user's file
    under a name the run writes, unless ``force``)."""
    from llmroof.results.save import results_folder as checked_folder

    return checked_folder(out, force=force)
