import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fraud_assets.core.canonical import canonical_json, canonical_sha256

json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.text(max_size=8) | st.floats(
    allow_nan=False, allow_infinity=False)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=6), inner, max_size=4), max_leaves=20)


@given(st.dictionaries(st.text(max_size=6), json_values, max_size=8), st.randoms())
def test_hash_is_insensitive_to_dict_insertion_order(value, rnd):
    items = list(value.items())
    rnd.shuffle(items)
    assert canonical_sha256(dict(items)) == canonical_sha256(value)


@given(json_values)
def test_canonical_json_round_trips_values(value):
    import json

    assert json.loads(canonical_json(value)) == value


def test_canonical_form_is_compact_sorted_utf8_with_shortest_floats():
    assert canonical_json({"b": 1, "a": [0.1, 1e-7, "é"]}) == '{"a":[0.1,1e-07,"é"],"b":1}'.encode()


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_refused_with_their_location(bad):
    with pytest.raises(ValueError, match=r"\$\.x\[1\]"):
        canonical_json({"x": [0, bad]})


def test_non_string_keys_are_refused():
    with pytest.raises(TypeError, match="string keys"):
        canonical_json({1: "a"})
