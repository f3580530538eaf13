"""core.alias: codec fa.alias.v1 — build, decode, audit bounds, blob."""

from __future__ import annotations

import hashlib
import math
import struct
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_assets.core import alias, rng
from fraud_assets.core.errors import E_ALIAS_CODEC_MISMATCH, EngineFailure

ONE = 2**31

_weight = st.one_of(
    st.just(0.0),
    st.floats(min_value=1e-12, max_value=1e12, allow_nan=False, allow_infinity=False),
    st.integers(1, 1000).map(float),
)
weights_st = st.lists(_weight, min_size=1, max_size=60).filter(lambda w: sum(w) > 0)


def _reference_masses(weights: list[float]) -> list[int]:
    """Largest remainder on exact rationals, ties to the lower index."""
    n = len(weights)
    total = sum(Fraction(w) for w in weights)
    quotas = [Fraction(w) * n * ONE / total for w in weights]
    floors = [math.floor(q) for q in quotas]
    order = sorted(range(n), key=lambda i: (-(quotas[i] - floors[i]), i))
    for i in order[: n * ONE - sum(floors)]:
        floors[i] += 1
    return floors


# --------------------------------------------------------------------------- build


def test_build_literals():
    prob, al = alias.build([1.0, 2.0, 3.0])
    assert prob.dtype == np.uint32 and al.dtype == np.uint32
    assert prob.tolist() == [2**30, 2**30, 2**31]
    assert al.tolist() == [1, 2, 2]
    prob, al = alias.build([5.0])
    assert (prob.tolist(), al.tolist()) == ([2**31], [0])
    prob, al = alias.build([0.0, 1.0, 0.0, 0.5])
    assert prob.tolist() == [0, 2**31, 0, 715827883]
    assert al.tolist() == [1, 1, 3, 1]
    assert alias.implied_masses(prob, al).tolist() == [0, 5726623061, 0, 2863311531]


def test_largest_remainder_ties_go_to_the_lower_index():
    # T = 5·2^31: quota T/7 (remainder 3/7) four times, 3T/7 (remainder 2/7) once;
    # two units are left over and go to the first two of the four tied 3/7 remainders
    m = alias.masses([1.0, 1.0, 1.0, 1.0, 3.0])
    assert m.tolist() == [1533916892, 1533916892, 1533916891, 1533916891, 4601750674]
    assert m.tolist() == _reference_masses([1.0, 1.0, 1.0, 1.0, 3.0])
    assert int(m.sum()) == 5 * ONE


def test_largest_remainder_exact_when_floats_tie():
    # remainders whose ratios to the total round to the same float64: the exact pass decides
    total = 2**80 + 1
    rems = np.array([total // 2, total // 2 + 1, 5, total // 2 + 1, total // 2 + 1], dtype=object)
    assert len({r / total for r in rems[[0, 1, 3, 4]]}) == 1
    assert sorted(alias._largest_remainders(rems, total, 2).tolist()) == [1, 3]
    assert sorted(alias._largest_remainders(rems, total, 4).tolist()) == [0, 1, 3, 4]
    assert sorted(alias._largest_remainders(rems, total, 5).tolist()) == [0, 1, 2, 3, 4]
    w = [1.0, 1.0 + 2**-52, 1.0, 2.0**60, 3.0]
    assert alias.masses(w).tolist() == _reference_masses(w)


@settings(max_examples=150, deadline=None)
@given(weights_st)
def test_masses_exact_and_table_consistent(weights):
    n = len(weights)
    m = alias.masses(weights)
    assert m.tolist() == _reference_masses(weights)
    assert int(m.sum()) == n * ONE
    prob, al = alias.build(weights)
    assert (alias.implied_masses(prob, al) == m).all()
    assert (prob <= ONE).all() and (al < n).all()
    full = prob == ONE
    assert (al[full] == np.flatnonzero(full)).all()
    zero = np.asarray(weights) == 0.0
    assert (m[zero] == 0).all()
    assert not np.isin(np.flatnonzero(zero), al[~full]).any()  # a zero weight is never an alias target
    ref_prob, ref_alias = alias.vose_py(m)
    assert (ref_prob == prob).all() and (ref_alias == al).all()


@settings(max_examples=150, deadline=None)
@given(weights_st)
def test_implied_probabilities_within_the_declared_bound(weights):
    n = len(weights)
    prob, al = alias.build(weights)
    implied = alias.implied_probabilities(prob, al)
    total = sum(Fraction(w) for w in weights)
    bound = Fraction(alias.quantisation_bound(n))
    for j, w in enumerate(weights):
        exact = Fraction(int(alias.implied_masses(prob, al)[j]), n * ONE)
        assert abs(exact - Fraction(w) / total) < bound  # exact rationals: strict
        assert abs(implied[j] - w / float(sum(weights))) <= float(bound) + 4e-16  # float audit slack


def test_single_entry_and_extreme_dynamic_range():
    prob, al = alias.build([1e-300])
    assert (prob.tolist(), al.tolist()) == ([ONE], [0])
    w = [1e-300, 1e300, 1.0, 0.0]
    assert alias.masses(w).tolist() == _reference_masses(w)


@pytest.mark.parametrize(
    "weights",
    [[], [[1.0, 2.0]], [1.0, -0.5], [1.0, math.nan], [1.0, math.inf], [0.0, 0.0]],
)
def test_bad_weights_refused(weights):
    with pytest.raises(EngineFailure) as err:
        alias.build(weights)
    assert err.value.code == alias.E_ALIAS_WEIGHTS_INVALID


def test_build_is_deterministic():
    w = np.random.default_rng(3).random(5000)
    w[::7] = 0.0
    a = alias.write_blob([alias.build(w)])[0]
    b = alias.write_blob([alias.build(w.copy())])[0]
    assert a == b


# --------------------------------------------------------------------------- decode


def test_decode_literal_words():
    prob, al = alias.build([1.0, 2.0, 3.0])  # prob [2^30, 2^30, 2^31], alias [1, 2, 2]
    col1 = (2**32 // 3 + 1) << 32  # ((hi·3) >> 32) == 1
    assert alias.decode(prob, al, col1 | (2**30 - 1)) == 1  # r < prob[1]
    assert alias.decode(prob, al, col1 | 2**30) == 2  # r >= prob[1] → alias
    assert alias.decode(prob, al, col1 | 2**31 | 5) == 1  # bit 31 is not part of r
    assert alias.decode(prob, al, 2**64 - 1) == 2
    assert alias.decode(prob, al, 0) == 0


def test_decode_numpy_numba_python_identical():
    w = np.random.default_rng(4).random(37)
    w[[3, 9]] = 0.0
    prob, al = alias.build(w)
    words = rng.words(rng.Stream(1, 2, 3), 2000).ravel()
    vec = alias.decode(prob, al, words)
    assert (vec == alias.decode_many_nb(prob, al, words)).all()
    assert [alias.decode(prob, al, int(x)) for x in words[:300]] == vec[:300].tolist()
    assert [alias.decode_nb(prob, al, x) for x in words[:300]] == vec[:300].tolist()
    assert not np.isin(vec, [3, 9]).any()


def test_decoded_frequencies_match_weights_chi_square():
    weights = np.array([5.0, 1.0, 0.0, 3.0, 0.25, 8.0, 2.0, 0.0, 4.0, 1.5, 6.0, 0.5])
    prob, al = alias.build(weights)
    root = rng.RngRoot("f" * 64, "e" * 64)
    words = rng.words(root.stream("test.alias", 0, seed=42), 500_000).ravel()  # 10^6 words
    counts = np.bincount(alias.decode(prob, al, words), minlength=weights.size).astype(float)
    assert counts[weights == 0].sum() == 0
    live = weights > 0
    expected = alias.implied_probabilities(prob, al)[live] * words.size
    stat = float(((counts[live] - expected) ** 2 / expected).sum())
    df = int(live.sum()) - 1
    # Wilson–Hilferty: chi2(df) → N(0, 1); fixed seed, so the z below is a fixed number
    z = ((stat / df) ** (1 / 3) - (1 - 2 / (9 * df))) / math.sqrt(2 / (9 * df))
    assert 0.5 * math.erfc(z / math.sqrt(2)) > 1e-3


@pytest.mark.parametrize("weights", [[1.0, 2.0, 3.0], [1.0] * 7, [0.1, 0.0, 0.7, 0.2, 0.3], [1.0, 3.0]])
def test_column_bias_bound_exact(weights):
    """Exact decode probabilities of a uniform 64-bit word against implied ± the bound."""
    n = len(weights)
    prob, al = alias.build(weights)
    starts = [-(-(c * 2**32) // n) for c in range(n + 1)]  # first h with (h·n) >> 32 == c: ceil(c·2^32/n)
    col_count = [starts[c + 1] - starts[c] for c in range(n)]
    assert sum(col_count) == 2**32
    exact = [Fraction(0)] * n
    for c in range(n):
        p_col = Fraction(col_count[c], 2**32)
        exact[c] += p_col * Fraction(int(prob[c]), ONE)
        exact[int(al[c])] += p_col * Fraction(ONE - int(prob[c]), ONE)
    masses = alias.implied_masses(prob, al)
    rel = Fraction(alias.column_bias_bound(n))
    for j in range(n):
        implied = Fraction(int(masses[j]), n * ONE)
        if n & (n - 1) == 0:
            assert exact[j] == implied
        else:
            assert implied == 0 == exact[j] or abs(exact[j] - implied) < implied * rel


# --------------------------------------------------------------------------- blob


def _tables():
    return [alias.build([1.0, 2.0, 3.0]), alias.build([4.0]), alias.build(np.arange(1.0, 12.0))]


def test_blob_layout_and_round_trip():
    tables = _tables()
    blob, offsets = alias.write_blob(tables)
    header = alias.read_header(blob)
    assert header == alias.AliasHeader(1, 31, 8, 3, 15)
    assert blob[:8] == b"FAALIAS1"
    assert struct.unpack_from("<IIIIQ", blob, 8) == (1, 31, 8, 3, 15)
    assert blob[32:64] == bytes(32)
    assert offsets == [(64, 16 + 8 * 3), (104, 16 + 8 * 1), (128, 16 + 8 * 11)]
    assert len(blob) == 128 + 16 + 88
    for (off, length), (prob, al) in zip(offsets, tables, strict=True):
        assert off % 8 == 0
        assert struct.unpack_from("<IIII", blob, off) == (prob.size, 31, 0, 0)
        p2, a2 = alias.read_table(blob, off)
        assert length == 16 + 8 * prob.size
        assert p2.dtype == np.uint32 and (p2 == prob).all() and (a2 == al).all()
    assert [o for o, _, _ in alias.iter_tables(blob)] == [o for o, _ in offsets]
    empty, no_offsets = alias.write_blob([])
    assert no_offsets == [] and len(empty) == 64
    assert alias.read_header(empty) == alias.AliasHeader(1, 31, 8, 0, 0)


def test_blob_golden_bytes():
    blob, _ = alias.write_blob(_tables())
    assert hashlib.sha256(blob).hexdigest() == GOLDEN_BLOB_SHA256


GOLDEN_BLOB_SHA256 = "3388af45f9cca9f79d669f2efa0bae38592840156a6b1cbd03161e82a0e9b3a6"


def _refused(blob, field, offset=None):
    with pytest.raises(EngineFailure) as err:
        if offset is None:
            list(alias.iter_tables(blob))
        else:
            alias.read_table(blob, offset)
    assert err.value.code == E_ALIAS_CODEC_MISMATCH
    assert field in str(err.value)
    return err.value


def test_tampered_blobs_refused():
    blob, offsets = alias.write_blob(_tables())

    def patch(at, fmt, value):
        b = bytearray(blob)
        struct.pack_into(fmt, b, at, value)
        return bytes(b)

    err = _refused(patch(12, "<I", 32), "prob_qbits")  # header qbits
    assert err.context["value"] == 32
    _refused(patch(offsets[1][0] + 4, "<I", 30), "prob_qbits", offset=offsets[1][0])  # slice qbits
    _refused(patch(offsets[1][0] + 4, "<I", 30), "prob_qbits")
    _refused(b"FAALIAS2" + blob[8:], "magic")
    _refused(patch(8, "<I", 2), "layout_version")
    _refused(patch(16, "<I", 4), "alignment")
    _refused(patch(40, "<I", 1), "header_padding")
    _refused(patch(offsets[0][0] + 8, "<I", 1), "slice_reserved", offset=offsets[0][0])
    _refused(patch(24, "<Q", 99), "entry_count_total")
    _refused(blob[:40], "length")
    _refused(blob[:-8], "n", offset=offsets[2][0])
    _refused(blob, "offset", offset=offsets[0][0] + 4)
    prob_at = offsets[0][0] + 16
    _refused(patch(prob_at, "<I", ONE + 1), "prob", offset=offsets[0][0])
    _refused(patch(prob_at + 12, "<I", 3), "alias", offset=offsets[0][0])


def test_writer_refuses_bad_tables():
    with pytest.raises(EngineFailure) as err:
        alias.write_blob([(np.array([ONE + 1], np.uint32), np.array([0], np.uint32))])
    assert err.value.code == E_ALIAS_CODEC_MISMATCH
    with pytest.raises(EngineFailure):
        alias.write_blob([(np.array([ONE, ONE], np.uint32), np.array([0], np.uint32))])
