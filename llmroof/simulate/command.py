"""The one library call behind ``llmroof simulate``: its options as typed (names, texts, ms) ->
:class:`~llmroof.results.records.simulate.SimulateResult`. The use case: the traffic (``--rate``,
``--trace-file`` or a bench result to replay), the calibration and the device it names, the
scheduler, the fleet, and the predicted-against-measured rows of ``--against``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from llmroof.errors import LlmroofError
from llmroof.results.records.simulate import SimulateResult
from llmroof.specs.hardware import HardwareSpec

ROUTERS = ("round-robin", "least-loaded")
PERCENTILES = (50, 90, 95, 99)
UNBOUNDED_KV_BLOCKS = 1_000_000
"""KV blocks of a replica when ``kv_blocks`` is not given: replaced by what fits beside the weights
(one request at a time: left as is, the cache never binds)."""


def parse_rates(text: str | None) -> tuple[float, ...]:
    """``--rate 2,4,8``: positive, finite arrivals per second."""
    if not text:
        return ()
    try:
        rates = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise LlmroofError(
            f"--rate {text!r}: expected numbers separated by commas", "e.g. --rate 2,4,8"
        ) from None
    if any(not r > 0 or r == float("inf") for r in rates):
        raise LlmroofError(f"--rate {text!r}: rates must be positive", "e.g. --rate 2,4,8")
    return rates


def simulate_command(
    *,
    model: str,
    hardware: str | None = None,
    prompt: int = 1024,
    output: int = 256,
    rate: str | None = None,
    requests: int = 1000,
    seed: int = 0,
    cv: float = 1.0,
    trace_file: Path | None = None,
    max_num_seqs: int = 256,
    max_num_batched_tokens: int = 8192,
    chunked_prefill: bool = True,
    one_at_a_time: bool = False,
    block_size: int = 16,
    kv_blocks: int | None = None,
    prefix_hit_rate: float | None = None,
    speculative_k: int = 0,
    acceptance_rate: float = 0.7,
    draft_model: str | None = None,
    tp: int = 1,
    pp: int = 1,
    replicas: int = 1,
    disaggregate: str | None = None,
    prefill_tp: int | None = None,
    decode_tp: int | None = None,
    router: str = "round-robin",
    dtype: str = "bf16",
    calibrate: list[Path] | None = None,
    ttft_slo_ms: float | None = None,
    tpot_slo_ms: float | None = None,
    slo_percentile: float = 90.0,
    against: Path | None = None,
    hardware_file: Path | None = None,
) -> SimulateResult:
    """Check the options, resolve the names, simulate; with ``against`` (a bench result of
    open-loop levels) its traffic replayed and the result compared with it metric by metric."""
    from llmroof.analytic.workload import Workload
    from llmroof.bench.traffic import read_trace
    from llmroof.simulate.engine import SchedulerConfig
    from llmroof.simulate.run import Disaggregation, Simulation, simulate
    from llmroof.simulate.steps import StepModel
    from llmroof.specs.dtypes import resolve_precision
    from llmroof.specs.model import get_model

    rates = parse_rates(rate)
    measured = None
    if against is not None:
        from llmroof.results.records.bench import BenchResult
        from llmroof.simulate.against import bench_traffic
        from llmroof.simulate.calibrate import read_source

        measured = BenchResult.from_dict(read_source(against), str(against))
        traffic = bench_traffic(measured)
        if not traffic.rates:
            raise LlmroofError(
                f"{against}: no open-loop (--rate) level to replay", "bench with --rate R"
            )
        rates, requests, seed = traffic.rates, traffic.requests, traffic.seed
        prompt, output = traffic.prompt_tokens, traffic.output_tokens
    if not rates and trace_file is None:
        raise LlmroofError(
            "give --rate or --trace-file", "e.g. --rate 2,4 or --trace-file azure.csv"
        )
    if slo_percentile not in PERCENTILES:
        raise LlmroofError(f"--slo-percentile {slo_percentile:g}: one of 50, 90, 95, 99")
    if router not in ROUTERS:
        raise LlmroofError(f"--router {router!r}: round-robin or least-loaded")
    calibration, device = _calibration(calibrate or [], hardware, hardware_file)
    spec = get_model(model)
    workload = Workload(
        precision=resolve_precision(dtype, None, None, None),
        tp=tp,
        pp=pp,
        implementation="fused",
        attention_kernel="flash",
        fused_qkv=True,
    )
    try:
        if one_at_a_time:
            scheduler = SchedulerConfig.one_at_a_time(kv_blocks=kv_blocks or UNBOUNDED_KV_BLOCKS)
        else:
            scheduler = SchedulerConfig(
                max_num_seqs=max_num_seqs,
                max_num_batched_tokens=max_num_batched_tokens,
                chunked_prefill=chunked_prefill,
                block_tokens=block_size,
                kv_blocks=kv_blocks or UNBOUNDED_KV_BLOCKS,
                speculative_k=speculative_k,
                acceptance_rate=acceptance_rate if speculative_k else 0.0,
                prefix_hit_rate=prefix_hit_rate,
                prefix_block_tokens=512 if trace_file else block_size,
            )
        split = None
        if disaggregate is not None:
            split = dataclasses.replace(
                Disaggregation.parse(disaggregate), prefill_tp=prefill_tp, decode_tp=decode_tp
            )
        trace = tuple(read_trace(trace_file)) if trace_file is not None else ()
        draft = StepModel.of(get_model(draft_model), device, workload) if draft_model else None
        result = simulate(
            Simulation(
                model=spec,
                hardware=device,
                workload=workload,
                scheduler=scheduler,
                kv_blocks_given=kv_blocks is not None or one_at_a_time,
                replicas=replicas,
                router=router,
                prompt_tokens=prompt,
                output_tokens=output,
                rates=rates,
                requests=requests,
                seed=seed,
                cv=cv,
                trace=trace,
                trace_name=None if trace_file is None else trace_file.name,
                ttft_slo_s=None if ttft_slo_ms is None else ttft_slo_ms / 1e3,
                tpot_slo_s=None if tpot_slo_ms is None else tpot_slo_ms / 1e3,
                slo_percentile=slo_percentile,
                draft=draft,
                calibration=calibration,
                disaggregation=split,
            )
        )
    except ValueError as exc:
        raise LlmroofError(str(exc), "see llmroof simulate --help") from None
    if measured is None:
        return result
    from llmroof.simulate.against import against as compare_rows

    rows = compare_rows(result, measured, str(against))
    return dataclasses.replace(result, against=tuple(rows))


def _calibration(
    paths: list[Path], hardware: str | None, hardware_file: Path | None
) -> tuple[tuple[tuple[dict[str, Any], str], ...], HardwareSpec]:
    """The calibration files, parsed, and the device: ``hardware``, else the first bench's."""
    from llmroof.simulate.calibrate import bench_hardware, read_source
    from llmroof.specs.hardware import get_hardware

    calibration = []
    device = None
    for path in paths:
        data = read_source(path)
        calibration.append((data, str(path)))
        device = device or bench_hardware(data, str(path))
    if hardware is not None:
        device = get_hardware(hardware, hardware_file)
    if device is None:
        raise LlmroofError(
            "--hardware is needed (no --calibrate bench names the device)", "e.g. --hardware h100"
        )
    return tuple(calibration), device
