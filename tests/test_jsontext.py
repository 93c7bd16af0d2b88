"""llmroof.jsontext writes what ``json.dumps(clean(data), indent=2, allow_nan=False)`` writes, byte for byte."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from llmroof.jsontext import dumps
from llmroof.writers import clean

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
keys = (
    st.text()
    | st.integers()
    | st.booleans()
    | st.none()
    | st.floats(allow_nan=False, allow_infinity=False)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner) | st.tuples(inner, inner) | st.dictionaries(keys, inner),
    max_leaves=40,
)


def reference(data) -> str:
    return json.dumps(clean(data), indent=2, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(values)
def test_the_text_is_the_standard_librarys(data) -> None:
    assert dumps(data) == reference(data)


def test_a_sweeps_rows_and_special_floats() -> None:
    rows = [
        {
            "axis": "batch",
            "value": b,
            "tpot_s": 1 / b,
            "fits": b < 3,
            "bound": None,
            "x": float("nan"),
        }
        for b in range(1, 5)
    ]
    data = {
        "schema": "llmroof.sweep/1",
        "rows": rows,
        "empty": [],
        "none": {},
        "inf": float("inf"),
        "nested": {"a": [1, [2, {"b": -0.0}]], "é": "ü\n"},
    }
    assert dumps(data) == reference(data)
