import hashlib
import os
import random
import struct

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_assets.core import ids
from fraud_assets.core.ids import (
    ID_MASK,
    assign_merchant_ids,
    edge_id_expr,
    edge_id_from_key,
    edge_ids_from_keys,
    merchant_id_from_key,
    site_id_expr,
    site_id_from_key,
    site_ids_from_keys,
)

ids63 = st.integers(0, ID_MASK)
isos = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2)


def _le63(message: bytes) -> int:
    return int.from_bytes(hashlib.sha256(message).digest()[:8], "little") & ((1 << 63) - 1)


# --------------------------------------------------------------------------- byte layouts and golden values


def test_byte_layouts_are_as_documented():
    assert site_id_from_key(1234, "NA", 7) == _le63(b"fraud_assets.site_id.v1\x1f1234\x1fNA\x1f7")
    assert edge_id_from_key(1234, 0) == _le63(b"fa.3B.edge\x1f1234\x1f0")
    assert merchant_id_from_key("u1", "NA", 5) == _le63(b"fraud_assets.merchant_id.v1\x1fu1\x1fNA\x1f\x05\x00\x00\x00")
    assert merchant_id_from_key("u1", "NA", 5, 2) == _le63(
        b"fraud_assets.merchant_id.v1\x1fu1\x1fNA\x1f\x05\x00\x00\x00\x1f\x02\x00\x00\x00")
    # counter 0 appends nothing
    assert merchant_id_from_key("u1", "NA", 5, 0) == merchant_id_from_key("u1", "NA", 5)


def test_golden_values():
    # site_id(1, US, 1) cross-checked with: printf 'fraud_assets.site_id.v1\x1f1\x1fUS\x1f1' | sha256sum
    assert site_id_from_key(1, "US", 1) == 9075968851373876105
    assert site_id_from_key(ID_MASK, "NA", 999999) == 4292887956611872016
    assert edge_id_from_key(1, 0) == 4392396392174924827
    assert edge_id_from_key(ID_MASK, 239) == 8885117746049615389
    assert merchant_id_from_key("u1", "NA", 0) == 1807463902161829631
    assert merchant_id_from_key("u1", "GB", 41, 1) == 6953816261866005455
    assert assign_merchant_ids([("DE", 0), ("DE", 1), ("US", 0)], "u1") == [
        8869824228628178661, 2258025366430735326, 1070506126257786951]


# --------------------------------------------------------------------------- ranges and validation


@settings(max_examples=60, deadline=None)
@given(ids63, isos, st.integers(0, 2**40), st.text(max_size=12).filter(lambda s: "\x1f" not in s),
       st.integers(0, 2**32 - 1), st.integers(0, 5))
def test_ids_are_non_negative_int64(mid, iso, order, salt, j, counter):
    for v in (site_id_from_key(mid, iso, order), edge_id_from_key(mid, order),
              merchant_id_from_key(salt, iso, j, counter)):
        assert isinstance(v, int) and 0 <= v < 2**63


@pytest.mark.parametrize("call", [
    lambda: site_id_from_key(-1, "US", 1),
    lambda: site_id_from_key(2**63, "US", 1),
    lambda: site_id_from_key(1, "us", 1),
    lambda: site_id_from_key(1, "USA", 1),
    lambda: site_id_from_key(1, "US", -1),
    lambda: edge_id_from_key(1, -1),
    lambda: merchant_id_from_key("a\x1fb", "US", 0),
    lambda: merchant_id_from_key("u1", "US", 2**32),
])
def test_bad_keys_are_refused(call):
    with pytest.raises(ValueError):
        call()


def test_non_integers_are_refused():
    with pytest.raises(TypeError):
        site_id_from_key(True, "US", 1)
    with pytest.raises(TypeError):
        site_id_from_key(1.0, "US", 1)
    assert site_id_from_key(np.int64(5), "US", np.int32(2)) == site_id_from_key(5, "US", 2)


# --------------------------------------------------------------------------- vectorised == scalar


def test_numba_sha256_matches_hashlib_at_every_length():
    rnd = random.Random(7)
    messages = [bytes(rnd.randrange(256) for _ in range(n)) for n in range(120)] + [os.urandom(56), b""]
    assert ids._h63_vec(messages).tolist() == [_le63(m) for m in messages]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(ids63, isos, st.integers(0, ID_MASK)), max_size=30))
def test_vectorised_site_ids_equal_scalar(rows):
    mids = [r[0] for r in rows]
    iso = pl.Series([r[1] for r in rows], dtype=pl.String)
    orders = [r[2] for r in rows]
    got = site_ids_from_keys(pl.Series(mids, dtype=pl.Int64), iso, np.array(orders, dtype=np.int64))
    assert got.dtype == pl.Int64 and got.name == "site_id"
    assert got.to_list() == [site_id_from_key(*r) for r in rows]
    assert edge_ids_from_keys(mids, orders).to_list() == [edge_id_from_key(m, o) for m, o in zip(mids, orders)]


def test_vectorised_bulk_and_expressions():
    rng = np.random.default_rng(3)
    n = 50_000
    mid = rng.integers(0, ID_MASK, n, dtype=np.int64)
    mid[:4] = [0, 9, 10, ID_MASK]
    iso = rng.choice(["US", "GB", "NA", "XK"], n)
    order = rng.integers(1, 10**6, n).astype(np.int32)
    df = pl.DataFrame({"merchant_id": mid, "legal_country_iso": iso, "site_order": order,
                       "edge_seq_index": order})
    out = df.with_columns(site_id_expr(), edge_id_expr())
    assert out.schema["site_id"] == pl.Int64 and out.schema["edge_id"] == pl.Int64
    sample = rng.choice(n, 2000, replace=False).tolist() + [0, 1, 2, 3]
    for i in sample:
        row = out.row(i, named=True)
        assert row["site_id"] == site_id_from_key(row["merchant_id"], row["legal_country_iso"], row["site_order"])
        assert row["edge_id"] == edge_id_from_key(row["merchant_id"], row["edge_seq_index"])
    assert out["site_id"].min() >= 0 and out["site_id"].n_unique() == n
    # any integer dtype, numpy str arrays, categoricals, slices
    sliced = df.slice(100, 50)
    ref = out.slice(100, 50)["site_id"]
    assert site_ids_from_keys(sliced["merchant_id"].cast(pl.UInt64), sliced["legal_country_iso"].cast(pl.Categorical),
                              sliced["site_order"].cast(pl.UInt32)).equals(ref)
    assert site_ids_from_keys(sliced["merchant_id"].to_numpy(), sliced["legal_country_iso"].to_numpy(),
                              sliced["site_order"].to_list()).equals(ref)
    assert site_ids_from_keys([], [], []).to_list() == []


@pytest.mark.parametrize("args", [
    ([1, None], ["US", "US"], [1, 2]),
    ([1, 2], ["US", None], [1, 2]),
    ([1, 2], ["US", "us"], [1, 2]),
    ([1, 2], ["US", "U"], [1, 2]),
    ([1, -2], ["US", "US"], [1, 2]),
    ([1, 2], ["US", "US"], [1]),
])
def test_vectorised_refuses_bad_columns(args):
    with pytest.raises(ValueError):
        site_ids_from_keys(*args)


def test_vectorised_refuses_non_integer_columns():
    with pytest.raises(TypeError):
        site_ids_from_keys([1.0], ["US"], [1])
    with pytest.raises(ValueError):
        site_ids_from_keys(pl.Series([2**64 - 1], dtype=pl.UInt64), ["US"], [1])


# --------------------------------------------------------------------------- merchant id assignment


def test_assignment_is_independent_of_row_order_and_unique():
    slots = [(iso, j) for iso in ("NA", "DE", "US") for j in range(40)]
    base = assign_merchant_ids(slots, "u1")
    assert len(set(base)) == len(base) and all(0 < v < 2**63 for v in base)
    assert base == [merchant_id_from_key("u1", iso, j) for iso, j in slots]  # no collisions in practice
    shuffled = slots[:]
    random.Random(1).shuffle(shuffled)
    by_slot = dict(zip(slots, base))
    assert assign_merchant_ids(shuffled, "u1") == [by_slot[s] for s in shuffled]


def test_forced_collision_rehashes_with_counter_in_iso_j_order():
    target = merchant_id_from_key("u1", "DE", 0)

    def colliding(salt, iso, j, counter):
        # (US, 3) collides with (DE, 0) on its first candidate
        if (iso, j, counter) == ("US", 3, 0):
            return target
        return merchant_id_from_key(salt, iso, j, counter)

    rows = [("US", 3), ("DE", 0)]  # US listed first, but DE is visited first
    got = assign_merchant_ids(rows, "u1", id_fn=colliding)
    assert got == [merchant_id_from_key("u1", "US", 3, 1), target]
    assert assign_merchant_ids(rows[::-1], "u1", id_fn=colliding) == got[::-1]


def test_zero_and_repeated_collisions_walk_the_counter():
    table = {("AA", 0, 0): 0, ("AA", 0, 1): 5,  # zero → counter 1
             ("AA", 1, 0): 5, ("AA", 1, 1): 5, ("AA", 1, 2): 6,  # taken twice → counter 2
             ("AA", 2, 0): 6, ("AA", 2, 1): 7}
    calls = []

    def fake(salt, iso, j, counter):
        calls.append((iso, j, counter))
        return table[(iso, j, counter)]

    assert assign_merchant_ids([("AA", 1), ("AA", 0), ("AA", 2)], "s", id_fn=fake) == [6, 5, 7]
    assert calls == sorted(table)


def test_tiny_id_space_still_deterministic():
    def small(salt, iso, j, counter):
        return merchant_id_from_key(salt, iso, j, counter) % 50  # 49 usable ids → many collisions

    slots = [("NA", j) for j in range(30)]
    first = assign_merchant_ids(slots, "u1", id_fn=small)
    assert len(set(first)) == 30 and 0 not in first
    assert assign_merchant_ids(slots[::-1], "u1", id_fn=small) == first[::-1]


def test_duplicate_slots_are_refused():
    with pytest.raises(ValueError, match="duplicate"):
        assign_merchant_ids([("US", 1), ("US", 1)], "u1")


def test_struct_layout_of_j_is_unsigned_le32():
    assert struct.pack("<I", 2**32 - 1) == b"\xff\xff\xff\xff"
    assert merchant_id_from_key("u1", "US", 2**32 - 1) == _le63(
        b"fraud_assets.merchant_id.v1\x1fu1\x1fUS\x1f\xff\xff\xff\xff")
