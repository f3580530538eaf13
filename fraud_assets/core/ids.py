"""Engine id recipes (ARCHITECTURE §3, §7, §13 `core.ids`; INTEGRATION (e) #4, #5).

Every engine id is an Int64 in [0, 2^63): the first 8 bytes of a sha256 digest
read as a little-endian u64, masked to 63 bits. Separators are the single byte
0x1F (ASCII unit separator, written `\\x1f` below); it cannot occur in a decimal
integer and is refused inside strings, so every message decodes uniquely.

Byte layouts (`dec(x)` = ASCII decimal of a non-negative int, no sign, no
leading zeros; `iso` = ASCII of an upper-case two-letter ISO code; `LE32(x)` =
4 bytes little-endian unsigned; `utf8(s)` = UTF-8 bytes):

* site_id  = H(b"fraud_assets.site_id.v1" \\x1f dec(merchant_id) \\x1f iso
  \\x1f dec(site_order))                                           (§13, (e)#4)
* merchant_id candidate (1A S0.4, `|` is the 0x1F byte):
  H(b"fraud_assets.merchant_id.v1" \\x1f utf8(universe_salt) \\x1f iso \\x1f
  LE32(j)), and for counter c >= 1 the same message followed by \\x1f LE32(c)
* edge_id  = H(b"fa.3B.edge" \\x1f dec(merchant_id) \\x1f dec(edge_seq_index))
                                                                   (3B S2 step 10, (e)#5)

where H(m) = int.from_bytes(sha256(m).digest()[0:8], "little") & (2^63 - 1).

`assign_merchant_ids` walks the (country_iso, j) slots in ascending
(country_iso, j) order and rehashes a candidate that is 0 or already taken
with counter 1, 2, ... — so the result depends only on the slot set.

The scalar functions use hashlib and are the reference. The vectorised forms
(`site_ids_from_keys`, `edge_ids_from_keys`) run a numba SHA-256 over messages
built in the kernel; tests pin them equal to the scalar forms. Uniqueness is
not guaranteed by a hash: 2B S1 checks site_id, 3B S2 checks edge_id
(`3B-S2-004`), and merchant ids are made unique by the counter.
"""

from __future__ import annotations

import hashlib
import operator
import re
import struct
from collections.abc import Callable, Sequence
from typing import Any

import numba
import numpy as np
import polars as pl

ID_MASK = (1 << 63) - 1
SEP = b"\x1f"
SITE_ID_DOMAIN = b"fraud_assets.site_id.v1"
MERCHANT_ID_DOMAIN = b"fraud_assets.merchant_id.v1"
EDGE_ID_DOMAIN = b"fa.3B.edge"

_ISO_RE = re.compile(r"[A-Z]{2}")
_U32_MAX = (1 << 32) - 1


# --------------------------------------------------------------------------- scalar (reference)


def _h63(message: bytes) -> int:
    return int.from_bytes(hashlib.sha256(message).digest()[:8], "little") & ID_MASK


def _nonneg_int(value: Any, name: str, upper: int = ID_MASK) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got bool")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if not 0 <= v <= upper:
        raise ValueError(f"{name} must be in [0, {upper}], got {v}")
    return v


def _iso(value: Any, name: str) -> bytes:
    if not isinstance(value, str) or not _ISO_RE.fullmatch(value):
        raise ValueError(f"{name} must be an upper-case two-letter ISO code, got {value!r}")
    return value.encode("ascii")


def site_id_from_key(merchant_id: int, legal_country_iso: str, site_order: int) -> int:
    """Int64 site id of one outlet.

    H(b"fraud_assets.site_id.v1" \\x1f dec(merchant_id) \\x1f iso \\x1f dec(site_order)).
    """
    m = _nonneg_int(merchant_id, "merchant_id")
    s = _nonneg_int(site_order, "site_order")
    iso = _iso(legal_country_iso, "legal_country_iso")
    return _h63(SEP.join((SITE_ID_DOMAIN, b"%d" % m, iso, b"%d" % s)))


def edge_id_from_key(merchant_id: int, edge_seq_index: int) -> int:
    """Int64 edge id (3B S2 step 10): H(b"fa.3B.edge" \\x1f dec(merchant_id) \\x1f dec(edge_seq_index))."""
    m = _nonneg_int(merchant_id, "merchant_id")
    i = _nonneg_int(edge_seq_index, "edge_seq_index")
    return _h63(SEP.join((EDGE_ID_DOMAIN, b"%d" % m, b"%d" % i)))


def merchant_id_from_key(universe_salt: str, country_iso: str, j: int, counter: int = 0) -> int:
    """1A S0.4 candidate id of slot (country_iso, j).

    H(b"fraud_assets.merchant_id.v1" \\x1f utf8(salt) \\x1f iso \\x1f LE32(j)), with
    \\x1f LE32(counter) appended when counter >= 1 (counter 0 appends nothing).
    """
    if not isinstance(universe_salt, str) or "\x1f" in universe_salt:
        raise ValueError(f"universe_salt must be a str without \\x1f, got {universe_salt!r}")
    iso = _iso(country_iso, "country_iso")
    jj = _nonneg_int(j, "j", _U32_MAX)
    c = _nonneg_int(counter, "counter", _U32_MAX)
    msg = SEP.join((MERCHANT_ID_DOMAIN, universe_salt.encode("utf-8"), iso, struct.pack("<I", jj)))
    if c:
        msg += SEP + struct.pack("<I", c)
    return _h63(msg)


def assign_merchant_ids(
    rows: Sequence[tuple[str, int]],
    universe_salt: str,
    *,
    id_fn: Callable[[str, str, int, int], int] = merchant_id_from_key,
) -> list[int]:
    """Unique non-zero merchant ids for (country_iso, j) slots, aligned with `rows`.

    Slots are visited in ascending (country_iso, j) order whatever the order of
    `rows`; a candidate `id_fn(universe_salt, iso, j, counter)` that is 0 or
    already taken is redrawn with counter 1, 2, ... Duplicate slots are refused.
    `id_fn` exists so tests can force collisions.
    """
    slots = [(iso, operator.index(j)) for iso, j in rows]
    order = sorted(range(len(slots)), key=slots.__getitem__)
    for a, b in zip(order, order[1:]):
        if slots[a] == slots[b]:
            raise ValueError(f"duplicate merchant slot {slots[a]!r}")
    taken: set[int] = set()
    out = [0] * len(slots)
    for k in order:
        iso, j = slots[k]
        counter = 0
        mid = id_fn(universe_salt, iso, j, counter)
        while mid == 0 or mid in taken:
            counter += 1
            if counter > _U32_MAX:  # pragma: no cover - needs ~2^32 collisions
                raise RuntimeError(f"merchant id counter exhausted for slot {(iso, j)!r}")
            mid = id_fn(universe_salt, iso, j, counter)
        taken.add(mid)
        out[k] = mid
    return out


# --------------------------------------------------------------------------- numba SHA-256

_K = np.array([
    0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
    0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
    0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
    0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
    0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
    0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
    0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
    0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
], dtype=np.int64)
_H0 = np.array([0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19], dtype=np.int64)
_M32 = 0xFFFFFFFF
_MAX_MSG = 119  # two SHA-256 blocks hold up to 119 message bytes


@numba.njit(cache=True, inline="always")
def _rotr(x, n):
    return ((x >> n) | (x << (32 - n))) & 0xFFFFFFFF


@numba.njit(cache=True)
def _h63_nb(buf, length, w, h):
    """H(buf[:length]) for length <= 119; buf needs 128 bytes and is padded in place.

    Words are kept in int64 with values < 2^32, so no shift or sum overflows.
    """
    nblocks = 1 if length <= 55 else 2
    total = nblocks * 64
    buf[length] = 0x80
    for i in range(length + 1, total):
        buf[i] = 0
    bits = length * 8
    for i in range(8):
        buf[total - 1 - i] = (bits >> (8 * i)) & 0xFF
    for i in range(8):
        h[i] = _H0[i]
    for blk in range(nblocks):
        base = blk * 64
        for t in range(16):
            p = base + 4 * t
            w[t] = ((np.int64(buf[p]) << 24) | (np.int64(buf[p + 1]) << 16)
                    | (np.int64(buf[p + 2]) << 8) | np.int64(buf[p + 3]))
        for t in range(16, 64):
            x = w[t - 15]
            y = w[t - 2]
            s0 = _rotr(x, 7) ^ _rotr(x, 18) ^ (x >> 3)
            s1 = _rotr(y, 17) ^ _rotr(y, 19) ^ (y >> 10)
            w[t] = (w[t - 16] + s0 + w[t - 7] + s1) & 0xFFFFFFFF
        a = h[0]
        b = h[1]
        c = h[2]
        d = h[3]
        e = h[4]
        f = h[5]
        g = h[6]
        hh = h[7]
        for t in range(64):
            S1 = _rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)
            ch = (e & f) ^ ((~e & 0xFFFFFFFF) & g)
            t1 = (hh + S1 + ch + _K[t] + w[t]) & 0xFFFFFFFF
            S0 = _rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)
            maj = (a & b) ^ (a & c) ^ (b & c)
            t2 = (S0 + maj) & 0xFFFFFFFF
            hh = g
            g = f
            f = e
            e = (d + t1) & 0xFFFFFFFF
            d = c
            c = b
            b = a
            a = (t1 + t2) & 0xFFFFFFFF
        h[0] = (h[0] + a) & 0xFFFFFFFF
        h[1] = (h[1] + b) & 0xFFFFFFFF
        h[2] = (h[2] + c) & 0xFFFFFFFF
        h[3] = (h[3] + d) & 0xFFFFFFFF
        h[4] = (h[4] + e) & 0xFFFFFFFF
        h[5] = (h[5] + f) & 0xFFFFFFFF
        h[6] = (h[6] + g) & 0xFFFFFFFF
        h[7] = (h[7] + hh) & 0xFFFFFFFF
    # digest bytes 0..7 are h0, h1 big-endian; read them little-endian -> byte-swap each word
    x0 = h[0]
    x1 = h[1]
    lo = ((x0 & 0xFF) << 24) | ((x0 & 0xFF00) << 8) | ((x0 >> 8) & 0xFF00) | (x0 >> 24)
    hi = ((x1 & 0xFF) << 24) | ((x1 & 0xFF00) << 8) | ((x1 >> 8) & 0xFF00) | (x1 >> 24)
    return ((hi & 0x7FFFFFFF) << 32) | lo


@numba.njit(cache=True, inline="always")
def _put_dec(buf, pos, v):
    """Write non-negative int64 v in ASCII decimal at buf[pos:]; return the new end."""
    if v == 0:
        buf[pos] = 48
        return pos + 1
    n = 0
    x = v
    while x > 0:
        n += 1
        x //= 10
    x = v
    for i in range(n - 1, -1, -1):
        buf[pos + i] = 48 + x % 10
        x //= 10
    return pos + n


@numba.njit(cache=True)
def _site_ids_nb(prefix, mid, iso_data, iso_off, order):
    n = mid.shape[0]
    out = np.empty(n, dtype=np.int64)
    buf = np.zeros(128, dtype=np.uint8)
    w = np.zeros(64, dtype=np.int64)
    h = np.zeros(8, dtype=np.int64)
    lp = prefix.shape[0]
    for i in range(lp):
        buf[i] = prefix[i]
    for r in range(n):
        pos = _put_dec(buf, lp, mid[r])
        buf[pos] = 0x1F
        pos += 1
        for k in range(iso_off[r], iso_off[r + 1]):
            buf[pos] = iso_data[k]
            pos += 1
        buf[pos] = 0x1F
        pos += 1
        pos = _put_dec(buf, pos, order[r])
        out[r] = _h63_nb(buf, pos, w, h)
    return out


@numba.njit(cache=True)
def _edge_ids_nb(prefix, mid, seq):
    n = mid.shape[0]
    out = np.empty(n, dtype=np.int64)
    buf = np.zeros(128, dtype=np.uint8)
    w = np.zeros(64, dtype=np.int64)
    h = np.zeros(8, dtype=np.int64)
    lp = prefix.shape[0]
    for i in range(lp):
        buf[i] = prefix[i]
    for r in range(n):
        pos = _put_dec(buf, lp, mid[r])
        buf[pos] = 0x1F
        pos += 1
        pos = _put_dec(buf, pos, seq[r])
        out[r] = _h63_nb(buf, pos, w, h)
    return out


def _h63_vec(messages: Sequence[bytes]) -> np.ndarray:
    """H over arbitrary messages of <= 119 bytes via the numba kernel (used by tests)."""
    out = np.empty(len(messages), dtype=np.int64)
    buf = np.zeros(128, dtype=np.uint8)
    w = np.zeros(64, dtype=np.int64)
    h = np.zeros(8, dtype=np.int64)
    for i, m in enumerate(messages):
        if len(m) > _MAX_MSG:
            raise ValueError(f"message of {len(m)} bytes exceeds {_MAX_MSG}")
        buf[: len(m)] = np.frombuffer(m, dtype=np.uint8)
        out[i] = _h63_nb(buf, len(m), w, h)
    return out


# --------------------------------------------------------------------------- vectorised

_ArrayLike = pl.Series | np.ndarray | Sequence[Any]


def _int_column(values: _ArrayLike, name: str) -> np.ndarray:
    s = values if isinstance(values, pl.Series) else pl.Series(name, values)
    if s.dtype == pl.Null:  # empty or all-null input without a dtype
        s = s.cast(pl.Int64)
    if s.null_count():
        raise ValueError(f"{name} has {s.null_count()} null value(s)")
    if not s.dtype.is_integer():
        raise TypeError(f"{name} must be an integer column, got {s.dtype}")
    if len(s) and (s.min() < 0 or s.max() > ID_MASK):
        raise ValueError(f"{name} must be in [0, 2^63), got min {s.min()} max {s.max()}")
    return np.ascontiguousarray(s.cast(pl.Int64).to_numpy(), dtype=np.int64)


def _iso_column(values: _ArrayLike, name: str) -> tuple[np.ndarray, np.ndarray]:
    s = values if isinstance(values, pl.Series) else pl.Series(name, values, dtype=pl.String)
    if s.dtype in (pl.Categorical,) or isinstance(s.dtype, pl.Enum):
        s = s.cast(pl.String)
    if s.dtype != pl.String:
        raise TypeError(f"{name} must be a string column, got {s.dtype}")
    if s.null_count():
        raise ValueError(f"{name} has {s.null_count()} null value(s)")
    arr = s.rechunk().to_arrow(compat_level=pl.CompatLevel.oldest())
    if len(arr) == 0:
        return np.zeros(0, dtype=np.uint8), np.zeros(1, dtype=np.int64)
    bufs = arr.buffers()
    off = np.frombuffer(bufs[1], dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8)[off[0]: off[-1]] if bufs[2] is not None else np.zeros(0, np.uint8)
    ok = np.diff(off) == 2
    if ok.all():
        letters = (data >= 65) & (data <= 90)
        ok &= letters[0::2] & letters[1::2]
    if not ok.all():
        bad = s.filter(pl.Series(~ok)).head(3).to_list()
        raise ValueError(f"{name} must hold upper-case two-letter ISO codes, got {bad}")
    return np.ascontiguousarray(data), off - off[0]


def _same_length(name_values: dict[str, int]) -> int:
    lengths = set(name_values.values())
    if len(lengths) > 1:
        raise ValueError(f"key columns differ in length: {name_values}")
    return lengths.pop()


def site_ids_from_keys(merchant_id: _ArrayLike, legal_country_iso: _ArrayLike, site_order: _ArrayLike) -> pl.Series:
    """Vectorised `site_id_from_key` over equal-length columns → pl.Series "site_id" (Int64).

    Accepts polars Series, numpy arrays or sequences; nulls, negatives and
    non-ISO codes are refused. Element i equals the scalar recipe on row i.
    """
    m = _int_column(merchant_id, "merchant_id")
    o = _int_column(site_order, "site_order")
    iso_data, iso_off = _iso_column(legal_country_iso, "legal_country_iso")
    _same_length({"merchant_id": len(m), "legal_country_iso": len(iso_off) - 1, "site_order": len(o)})
    prefix = np.frombuffer(SITE_ID_DOMAIN + SEP, dtype=np.uint8).copy()
    return pl.Series("site_id", _site_ids_nb(prefix, m, iso_data, iso_off, o), dtype=pl.Int64)


def edge_ids_from_keys(merchant_id: _ArrayLike, edge_seq_index: _ArrayLike) -> pl.Series:
    """Vectorised `edge_id_from_key` over equal-length columns → pl.Series "edge_id" (Int64)."""
    m = _int_column(merchant_id, "merchant_id")
    i = _int_column(edge_seq_index, "edge_seq_index")
    _same_length({"merchant_id": len(m), "edge_seq_index": len(i)})
    prefix = np.frombuffer(EDGE_ID_DOMAIN + SEP, dtype=np.uint8).copy()
    return pl.Series("edge_id", _edge_ids_nb(prefix, m, i), dtype=pl.Int64)


def site_id_expr(merchant_id: str = "merchant_id", legal_country_iso: str = "legal_country_iso",
                 site_order: str = "site_order") -> pl.Expr:
    """`df.with_columns(site_id_expr())`: the site_id column from three key columns."""
    return pl.struct(merchant_id, legal_country_iso, site_order).map_batches(
        lambda st: site_ids_from_keys(st.struct.field(merchant_id), st.struct.field(legal_country_iso),
                                      st.struct.field(site_order)),
        return_dtype=pl.Int64,
    ).alias("site_id")


def edge_id_expr(merchant_id: str = "merchant_id", edge_seq_index: str = "edge_seq_index") -> pl.Expr:
    """`df.with_columns(edge_id_expr())`: the edge_id column from two key columns."""
    return pl.struct(merchant_id, edge_seq_index).map_batches(
        lambda st: edge_ids_from_keys(st.struct.field(merchant_id), st.struct.field(edge_seq_index)),
        return_dtype=pl.Int64,
    ).alias("edge_id")
