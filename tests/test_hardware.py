"""Hardware catalog: coverage of the reference devices, figures with sources, user files, lookup errors."""

from __future__ import annotations

import json

import pytest

from llmroof.errors import LlmroofError
from llmroof.specs.hardware import builtin_hardware, get_hardware, load_hardware_catalog

# name -> (memory GiB, bandwidth B/s, bf16 dense FLOP/s or None) from shared/reference/hardware.md
REFERENCE = {
    "h100-sxm": (80, 3.35e12, 989.4e12),
    "h100-pcie": (80, 2.0e12, 756.5e12),
    "h100-nvl": (94, 3.9e12, 835.5e12),
    "h200-sxm": (141, 4.8e12, 989.4e12),
    "gh200": (144, 4.9e12, 989.4e12),
    "a100-sxm-80gb": (80, 2.039e12, 312e12),
    "a100-sxm-40gb": (40, 1.555e12, 312e12),
    "a100-pcie-80gb": (80, 1.935e12, 312e12),
    "l40s": (48, 864e9, 362e12),
    "l4": (24, 300e9, 121e12),
    "a10": (24, 600e9, 125e12),
    "a10g": (24, 600e9, None),
    "rtx-4090": (24, 1008e9, 165.2e12),
    "b200": (180, 8e12, 2250e12),
    "mi300x": (192, 5.3e12, 1307.4e12),
}


@pytest.mark.parametrize(("name", "facts"), REFERENCE.items())
def test_catalog_matches_reference(name, facts) -> None:
    gib, bandwidth, bf16 = facts
    spec = get_hardware(name)
    assert spec.memory_bytes == gib * 2**30
    assert spec.memory_bandwidth_bytes_per_s == pytest.approx(bandwidth)
    assert spec.peak_flops("bf16") == (None if bf16 is None else pytest.approx(bf16))


def test_every_device_cites_a_source_for_each_figure() -> None:
    for spec in builtin_hardware():
        assert set(spec.sources) >= {"memory", "peak_flops", "link", "internode"}, spec.name
        assert all(text.strip() for text in spec.sources.values()), spec.name


def test_fp8_and_int8_where_published() -> None:
    h100 = get_hardware("h100")
    assert h100.peak_flops("fp8") == pytest.approx(1978.9e12)
    assert h100.peak_flops("tf32") == pytest.approx(494.7e12)
    assert get_hardware("a100").peak_flops("fp8") is None  # Ampere has no fp8
    assert get_hardware("h100").ridge_point("bf16") == pytest.approx(989.4e12 / 3.35e12)


def test_link_bandwidth_is_per_direction() -> None:
    assert get_hardware("h100").link_bandwidth_bytes_per_s == 450e9  # NVLink 4: 900 GB/s bidirectional


def test_nvml_formula_reproduces_a100_40gb_bandwidth() -> None:
    # 2 x max memory clock x bus width / 8 (shared/reference/hardware.md)
    assert 2 * 1215e6 * 5120 / 8 == pytest.approx(get_hardware("a100-40gb").memory_bandwidth_bytes_per_s, rel=1e-3)


def test_aliases_and_suggestions() -> None:
    assert get_hardware("H100").name == "h100-sxm"
    assert get_hardware("a100_80gb").name == "a100-sxm-80gb"
    with pytest.raises(LlmroofError) as err:
        get_hardware("h1000")
    assert "h100" in str(err.value) and "llmroof hardware" in str(err.value)


def test_user_file_adds_devices(tmp_path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        """
[[device]]
name = "my-gpu"
aliases = ["mine"]
memory_bytes = 17179869184
memory_bandwidth_bytes_per_s = 1e12
link_bandwidth_bytes_per_s = 32e9
link_latency_s = 2e-6
internode_bandwidth_bytes_per_s = 12.5e9
internode_latency_s = 1e-5
[device.peak_flops_per_s]
bf16 = 100e12
"""
    )
    assert get_hardware("mine", path).peak_flops("bf16") == 100e12
    assert "h100-sxm" in load_hardware_catalog(path)
    as_json = tmp_path / "mine.json"
    as_json.write_text(json.dumps({"device": [get_hardware("h100").to_dict() | {"name": "h100-copy", "aliases": []}]}))
    assert get_hardware("h100-copy", as_json).memory_bytes == 80 * 2**30


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[device]]\nname = 'x'\n", "missing field(s) 'memory_bytes', 'memory_bandwidth_bytes_per_s'"),
        ("[[device]]\nname = 'x'\nmemory_bytes = -1\n", "missing field(s) 'memory_bandwidth_bytes_per_s'"),
        ("device = 3\n", "expected a list of devices"),
        ("[[device]]\nname = 'x'\ncolour = 'red'\n", "unknown field 'colour'"),
        ("[[device\n", "cannot parse"),
    ],
)
def test_bad_hardware_files(tmp_path, text, message) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(LlmroofError) as err:
        load_hardware_catalog(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_invalid_values_are_named(tmp_path) -> None:
    entry = get_hardware("h100").to_dict() | {"name": "neg", "aliases": []}
    entry["memory_bandwidth_bytes_per_s"] = 0
    path = tmp_path / "neg.json"
    path.write_text(json.dumps({"device": [entry]}))
    with pytest.raises(LlmroofError, match="memory_bandwidth_bytes_per_s must be a positive number"):
        load_hardware_catalog(path)
    entry["memory_bandwidth_bytes_per_s"] = 1e12
    entry["peak_flops_per_s"] = {"bf17": 1e12}
    path.write_text(json.dumps({"device": [entry]}))
    with pytest.raises(LlmroofError, match="unknown dtype 'bf17'"):
        load_hardware_catalog(path)
