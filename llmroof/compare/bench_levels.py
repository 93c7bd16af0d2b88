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
from typing import Any

from llmroof.errors import LlmroofError
from llmroof.results.records.bench import BenchResult, Level


def as_profile_record(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """The fields of a ``llmroof.profile/1`` record that compare reads, from a ``llmroof.bench/1`` one."""
    result = BenchResult.from_dict(data, str(path))
    s = result.settings
    configs = [
        config
        for level in result.levels
        if level.concurrency is not None
        for config in _configs(level, s)
    ]
    if not configs:
        raise LlmroofError(
            f"{path}: no concurrency level with a successful request to compare",
            "compare bench runs of --concurrency levels (rate levels are no batch)",
        )
    hardware = result.hardware or {}
    return {
        "schema": "llmroof.profile/1",
        "source_schema": result.SCHEMA,
        "model": {
            "name": s.model,
            "spec": {
                "model": s.model,
                "input_len": s.input_len,
                "output_len": s.output_len,
                "endpoint": s.endpoint,
                "tp": s.tp,
                "pp": s.pp,
            },
        },
        "device": {"kind": "server", "name": str(hardware.get("name") or s.url)},
        "workload": {"dtype": s.dtype, "layers_instantiated": 1, "layers_total": 1},
        "environment": {"url": s.url, "prompt_method": result.prompt_method},
        "configs": configs,
    }


def _configs(level: Level, settings: Any) -> list[dict[str, Any]]:
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
                level.concurrency,
                {"context_len": settings.input_len + settings.output_len},
                tpots,
                time_s,
                roof.tpot_bound_s if roof else time_s,
                step_bytes,
            )
        )
    if ttfts:
        time_s = statistics.median(ttfts)
        out.append(
            _config(
                "prefill",
                level.concurrency,
                {"prompt_len": settings.input_len},
                ttfts,
                time_s,
                time_s,
                0.0,
            )
        )
    return out


def _config(
    phase: str,
    batch: int | None,
    length: dict[str, int],
    samples: list[float],
    time_s: float,
    roofline_time_s: float,
    nbytes: float,
) -> dict[str, Any]:
    return {
        "status": "ok",
        "phase": phase,
        "batch": batch,
        **length,
        "time_s": time_s,
        "roofline_time_s": roofline_time_s,
        "analytic": {"bytes": nbytes, "flops": 0.0},
        "stack": {"samples_s": samples},
        "layer": {"samples_s": samples},
        "ops": [],
    }
