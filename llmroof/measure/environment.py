"""What a measurement ran on: versions, host, device, driver, threads and clocks where readable."""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import socket
import sys
from pathlib import Path
from typing import Any

from llmroof.measure.device import Device, cpu_model_name
from llmroof.version import __version__


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def cpu_clocks_mhz() -> dict[str, float | None]:
    """Current and maximum clock of CPU 0 from cpufreq, where the kernel exposes it (often not in VMs)."""
    cur = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
    top = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    return {
        "cpu_clock_mhz": int(cur) / 1e3 if cur else None,
        "cpu_max_clock_mhz": int(top) / 1e3 if top else None,
    }


def capture(device: Device, argv: list[str] | None = None) -> dict[str, Any]:
    """The environment record of a results file."""
    torch = device.torch
    env: dict[str, Any] = {
        "llmroof_version": __version__,
        "command_line": shlex.join(argv if argv is not None else sys.argv),
        "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "torch": getattr(torch, "__version__", None),
        "cuda": getattr(getattr(torch, "version", None), "cuda", None),
        "device_kind": device.kind,
        "device_name": device.name,
        "cpu_model": cpu_model_name(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads() if hasattr(torch, "get_num_threads") else None,
        "driver": None,
    }
    env.update(cpu_clocks_mhz())
    if device.is_cuda:
        props = torch.cuda.get_device_properties(device.index)
        env["gpu_memory_bytes"] = int(getattr(props, "total_memory", 0))
        env["gpu_sm_count"] = getattr(props, "multi_processor_count", None)
        env["gpu_capability"] = f"{getattr(props, 'major', '?')}.{getattr(props, 'minor', '?')}"
        env["driver"] = _nvidia_driver()
    return env


def _nvidia_driver() -> str | None:
    text = _read("/proc/driver/nvidia/version")
    if not text:
        return None
    for word in text.split():
        if word.count(".") >= 1 and word.replace(".", "").isdigit():
            return word
    return None
