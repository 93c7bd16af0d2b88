"""Property-based fuzzing of the readers of user files: config.json, hardware TOML and JSON, results JSON
(as report, compare and plan --calibrate read them). Any input either loads or raises LlmroofError; never
another exception. Example counts stay modest so the module runs in a few seconds."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile import GOOD_DEVICE, TINY_CONFIG
from llmroof.errors import LlmroofError
from test_compare import synthetic

FUZZ = settings(max_examples=50, deadline=None, database=None,  # no .hypothesis/ folder outside tmp
                suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20))
json_values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)), max_leaves=12)


def _json_bytes(value) -> bytes:
    return json.dumps(value).encode()  # NaN and Infinity as Python writes them (hostile, but seen in the wild)


def _mutate(base: dict, draw_key, value):
    data = json.loads(json.dumps(base))
    node = data
    path = draw_key
    for key in path[:-1]:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            break
    if isinstance(node, dict):
        node[path[-1]] = value
    elif isinstance(node, list) and node:
        node[0] = value
    return data


def _paths(data, prefix=()):
    """Every key path into a record (objects and the first item of lists)."""
    yield prefix or ("schema",)
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(data, list) and data:
        yield from _paths(data[0], (*prefix, 0))


RECORD = synthetic(seed=1, n=3)
RECORD_PATHS = sorted(set(_paths(RECORD)), key=repr)
CONFIG_PATHS = [(key,) for key in [*TINY_CONFIG, "head_dim", "text_config", "_name_or_path", "hidden_act",
                                   "tie_word_embeddings", "num_local_experts", "sliding_window"]]
DEVICE_PATHS = [("device", 0, key) for key in [*GOOD_DEVICE, "aliases", "sources", "gpus_per_node", "vendor"]]


def _loads_or_user_error(read, path) -> None:
    try:
        read(path)
    except LlmroofError as exc:
        assert exc.message  # any other exception fails the test with its traceback


def _read_config(path):
    from llmroof.specs.model import load_hf_config

    return load_hf_config(path)


def _read_hardware(path):
    from llmroof.specs.hardware import read_hardware_file

    return read_hardware_file(path)


def _read_results_for_compare(path):
    """As `compare FILE FILE` does: load both sides, then compare them (every key compare reads)."""
    from llmroof.compare.comparison import CompareSettings, compare_paths

    return compare_paths(path, path, CompareSettings())


def _read_results_for_plan(path):
    from llmroof.plan.calibration import read_calibration

    return read_calibration(path)


def _read_results_for_report(path):
    from llmroof.report.render import check_shape, RECORD_LISTS, RECORD_OBJECTS, kind_of
    from llmroof.results.io import read_json

    data = read_json(path, "llmroof.")
    kind_of(data)
    check_shape(data, str(path), objects=RECORD_OBJECTS, lists=RECORD_LISTS, required=("model",),
                nullable=("hardware", "parallel"))


@FUZZ
@given(raw=st.binary(max_size=200))
def test_any_bytes(tmp_path, raw) -> None:
    for suffix, read in ((".json", _read_config), (".toml", _read_hardware), (".json", _read_hardware),
                         (".json", _read_results_for_compare), (".json", _read_results_for_plan),
                         (".json", _read_results_for_report)):
        path = tmp_path / f"input{suffix}"
        path.write_bytes(raw)
        _loads_or_user_error(read, path)


@FUZZ
@given(value=json_values)
def test_any_json_value(tmp_path, value) -> None:
    path = tmp_path / "input.json"
    path.write_bytes(_json_bytes(value))
    for read in (_read_config, _read_hardware, _read_results_for_compare, _read_results_for_plan,
                 _read_results_for_report):
        _loads_or_user_error(read, path)


@FUZZ
@given(key=st.sampled_from(CONFIG_PATHS), value=json_values)
def test_config_with_one_field_replaced(tmp_path, key, value) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(_json_bytes(_mutate(TINY_CONFIG, key, value)))
    _loads_or_user_error(_read_config, path)


@FUZZ
@given(key=st.sampled_from(DEVICE_PATHS), value=json_values, as_toml=st.booleans())
def test_hardware_with_one_field_replaced(tmp_path, key, value, as_toml) -> None:
    data = _mutate({"device": [GOOD_DEVICE]}, key, value)
    if as_toml:
        text = _to_toml(data)
        if text is None:
            return
        path = tmp_path / "hw.toml"
        path.write_text(text)
    else:
        path = tmp_path / "hw.json"
        path.write_bytes(_json_bytes(data))
    _loads_or_user_error(_read_hardware, path)


def _to_toml(data: dict) -> str | None:
    """A [[device]] table in TOML, where the value has a TOML spelling (no null)."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
        if isinstance(v, int):
            return str(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            items = [value(x) for x in v]
            return None if None in items else "[" + ", ".join(items) + "]"
        if isinstance(v, dict):
            items = [(json.dumps(k), value(x)) for k, x in v.items()]
            return None if any(x is None for _, x in items) else "{" + ", ".join(f"{k} = {x}" for k, x in items) + "}"
        return None

    lines = ["[[device]]"]
    for key, v in data["device"][0].items() if isinstance(data["device"][0], dict) else []:
        text = value(v)
        if text is None:
            return None
        lines.append(f"{json.dumps(key)} = {text}")
    return "\n".join(lines) + "\n"


@FUZZ
@given(key=st.sampled_from(RECORD_PATHS), value=json_values)
def test_results_with_one_field_replaced(tmp_path, key, value) -> None:
    record = _mutate(RECORD, key, value)
    record["device"] = record.get("device") if not isinstance(record.get("device"), dict) else {
        **record["device"], "kind": "cuda", "name": "NVIDIA H100 80GB HBM3"}
    path = tmp_path / "results.json"
    path.write_bytes(_json_bytes(record))
    for read in (_read_results_for_compare, _read_results_for_plan, _read_results_for_report):
        _loads_or_user_error(read, path)


def test_nesting_beyond_the_recursion_limit(tmp_path) -> None:
    for read, text in ((_read_config, '{"a":' * 100_000 + "1" + "}" * 100_000),
                       (_read_hardware, "[" * 100_000 + "]" * 100_000)):
        path = tmp_path / "deep.json"
        path.write_text(text)
        with pytest.raises(LlmroofError, match="nested too deeply"):
            read(path)
