"""What a capacity plan is asked: the model, the candidate devices, the traffic and the service-level
objectives (:class:`PlanRequest`)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from llmroof.analytic.workload import AttentionKernel
from llmroof.plan.calibration import Calibration
from llmroof.specs.dtypes import Precision
from llmroof.specs.hardware import HardwareSpec
from llmroof.specs.model import ModelSpec


class OutOfRange(ValueError):
    """A number of a plan out of its range. Names the field, its value and the range (``positive``,
    ``in [0, 1)``), so that a caller with other names and units (the CLI's flags, SLOs in ms) can say it
    in its own words."""

    def __init__(self, field: str, value: object, bound: str, integer: bool = False) -> None:
        self.field, self.value, self.bound = field, value, bound
        super().__init__(
            f"{field} must be {f'a {bound} integer' if integer else bound}, got {value!r}"
        )


def check_positive(field: str, value: float | None) -> None:
    """``value`` (when given) must be a finite number above 0 (NaN and infinity are not)."""
    if value is not None and not (value > 0 and math.isfinite(value)):
        raise OutOfRange(field, value, "positive")


def check_count(field: str, value: int) -> None:
    """``value`` must be an integer of at least 1."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise OutOfRange(field, value, "positive", integer=True)


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanRequest:
    """One capacity-planning question. Times are in seconds here; the CLI takes SLOs in milliseconds."""

    model: ModelSpec
    hardware: tuple[HardwareSpec, ...]
    """Candidate devices; every layout is planned on each (one device kind per replica)."""
    prompt_len: int = 2048
    """Prompt tokens per request, S."""
    output_len: int = 512
    """Generated tokens per request, O."""
    rate_qps: float | None = None
    """Requests per second the fleet must serve; None: plan one replica."""
    ttft_slo_s: float | None = None
    """Largest acceptable time to first token; None: no limit."""
    tpot_slo_s: float | None = None
    """Largest acceptable time between a user's output tokens; None: no limit."""
    precision: Precision = field(default_factory=Precision.uniform)
    """Weight, activation and KV-cache dtypes."""
    gpu_hour_cost_usd: tuple[float, ...] | None = None
    """Price of one GPU-hour of each device, in the order of ``hardware``; None: rank by GPU-hours."""
    kv_block_tokens: int = 16
    """Tokens per KV-cache block of the paged allocator (vLLM's default block size)."""
    memory_reserve_fraction: float = 0.1
    """Share of device memory kept back from weights and KV cache (vLLM's gpu_memory_utilization 0.9)."""
    max_gpus_per_replica: int = 16
    """Largest tp * pp tried."""
    attention_kernel: AttentionKernel = "flash"
    """Attention as serving engines run it: one fused kernel (``flash``), or ``eager``."""
    fused_qkv: bool = True
    """One fused QKV projection, as serving engines run it."""
    batch_points_per_doubling: int = 4
    """Density of the grid of concurrent sequences: points per doubling (1, 2, 3, 4, 5, 6, 7, 8, 10, ...)."""
    calibration: Mapping[str, Calibration] = field(default_factory=dict)
    """Measured efficiencies by hardware name; when given, every planned device must have one."""

    def __post_init__(self) -> None:
        if not self.hardware:
            raise ValueError("name at least one device to plan on")
        names = [hw.name for hw in self.hardware]
        if len(set(names)) != len(names):
            raise ValueError(f"a device is named twice in the hardware list: {', '.join(names)}")
        for name in (
            "prompt_len",
            "output_len",
            "rate_qps",
            "ttft_slo_s",
            "tpot_slo_s",
            "kv_block_tokens",
            "max_gpus_per_replica",
            "batch_points_per_doubling",
        ):
            value = getattr(self, name)
            if name.endswith(("_s", "_qps")):
                check_positive(name, value)
            else:
                check_count(name, value)
        if self.gpu_hour_cost_usd is not None:
            if len(self.gpu_hour_cost_usd) != len(self.hardware):
                raise ValueError(
                    f"{len(self.gpu_hour_cost_usd)} GPU-hour prices for {len(self.hardware)} devices: "
                    "give one price, or one per device"
                )
            if any(not cost >= 0 for cost in self.gpu_hour_cost_usd):
                raise ValueError(
                    f"GPU-hour prices must not be negative, got {list(self.gpu_hour_cost_usd)}"
                )
        if not 0 <= self.memory_reserve_fraction < 1:
            raise OutOfRange("memory_reserve_fraction", self.memory_reserve_fraction, "in [0, 1)")
        if self.attention_kernel not in ("eager", "flash"):
            raise ValueError(
                f"attention_kernel must be 'eager' or 'flash', got {self.attention_kernel!r}"
            )
        if self.calibration:
            missing = [name for name in names if name not in self.calibration]
            extra = [name for name in self.calibration if name not in names]
            if extra:
                raise ValueError(
                    f"a calibration profile of {extra[0]} was given, but the plan is for "
                    f"{', '.join(names)}"
                )
            if missing:
                raise ValueError(
                    f"calibrated plans need a profile of every device; none was given for "
                    f"{', '.join(missing)}"
                )
        object.__setattr__(self, "calibration", MappingProxyType(dict(self.calibration)))

    @property
    def decode_context_len(self) -> int:
        """KV length of the decode step that stands for all of a request's steps: S + ceil(O/2).

        A request's steps see S+1 ... S+O tokens (the new one included), whose mean is S + (O+1)/2; this is
        that mean, rounded down for even O.
        """
        return self.prompt_len + (self.output_len + 1) // 2

    @property
    def kv_blocks_per_sequence(self) -> int:
        """Blocks a sequence holds at its longest: ceil((S + O) / block), the partly filled last one included."""
        return -(-(self.prompt_len + self.output_len) // self.kv_block_tokens)

    def gpu_hour_cost(self, hardware_name: str) -> float | None:
        if self.gpu_hour_cost_usd is None:
            return None
        index = [hw.name for hw in self.hardware].index(hardware_name)
        return self.gpu_hour_cost_usd[index]


def with_gpus_per_node(hardware: HardwareSpec, gpus_per_node: int | None) -> HardwareSpec:
    """The device with another node size (the largest tensor-parallel group, and where links turn inter-node)."""
    if gpus_per_node is not None:
        check_count("gpus_per_node", gpus_per_node)
    if gpus_per_node is None or gpus_per_node == hardware.gpus_per_node:
        return hardware
    return dataclasses.replace(hardware, gpus_per_node=gpus_per_node)
