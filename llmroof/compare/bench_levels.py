"""A bench result as ``llmroof compare`` reads a profile, so serving regressions gate CI the same way.

Each concurrency level becomes two configurations: ``decode`` at batch = concurrency, whose repetitions
are the level's per-request TPOTs (time_s: their median; roofline_time_s: the level's analytic TPOT
bound), and ``prefill`` at the same batch, whose repetitions are the per-request TTFTs (a served TTFT
includes queueing and has no roofline here: its roofline_time_s is its own median, so its "% of
roofline" row reads 100%). compare's intervals then run over requests, as its intervals over timing
repetitions do. Open-loop (rate) levels are left out: a rate is no batch.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from llmroof.compare.run import Run, RunConfig
from llmroof.errors import LlmroofError
from llmroof.results.records.bench import BenchResult, BenchSettings, Level


def bench_run(result: BenchResult, path: Path) -> Run:
    """A bench result as compare reads a profile: its concurrency levels as configurations."""
    s = result.settings
    configs = tuple(
        config
        for level in result.levels
        if level.concurrency is not None
        for config in _configs(level, level.concurrency, s)
    )
    if not configs:
        raise LlmroofError(
            f"{path}: no concurrency level with a successful request to compare",
            "compare bench runs of --concurrency levels (rate levels are no batch)",
        )
    hardware = result.hardware or {}
    return Run(
        path=path,
        model_name=s.model,
        model_spec={
            "model": s.model,
            "input_len": s.input_len,
            "output_len": s.output_len,
            "endpoint": s.endpoint,
            "tp": s.tp,
            "pp": s.pp,
        },
        device_kind="server",
        device_name=str(hardware.get("name") or s.url),
        dtype=s.dtype,
        layers_instantiated=1,
        layers_total=1,
        workload={"dtype": s.dtype, "layers_instantiated": 1, "layers_total": 1},
        environment={"url": s.url, "prompt_method": result.prompt_method},
        configs=configs,
    )


def _configs(level: Level, batch: int, settings: BenchSettings) -> list[RunConfig]:
    ok = [r for r in level.records if r.ok]
    tpots = [r.tpot_s for r in ok if r.tpot_s]
    ttfts = [r.ttft_s for r in ok if r.ttft_s]
    out = []
    if tpots:
        time_s = statistics.median(tpots)
        roof = level.roofline
        step_bytes = roof.bytes_per_output_token * roof.batch if roof else 0.0
        out.append(
            _config(
                "decode",
                batch,
                settings.input_len + settings.output_len,
                tpots,
                time_s,
                roof.tpot_bound_s if roof else time_s,
                step_bytes,
            )
        )
    if ttfts:
        time_s = statistics.median(ttfts)
        out.append(_config("prefill", batch, settings.input_len, ttfts, time_s, time_s, 0.0))
    return out


def _config(
    phase: str,
    batch: int,
    length: int,
    samples: list[float],
    time_s: float,
    roofline_time_s: float,
    nbytes: float,
) -> RunConfig:
    return RunConfig(
        phase=phase,
        batch=batch,
        length=length,
        time_s=time_s,
        roofline_time_s=roofline_time_s,
        bytes=nbytes,
        flops=0.0,
        stack_samples_s=tuple(samples),
        layer_samples_s=tuple(samples),
    )
