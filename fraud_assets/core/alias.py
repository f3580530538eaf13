"""Alias tables, codec `fa.alias.v1` (ARCHITECTURE §13).

`build(weights)` turns non-negative weights into Walker/Vose alias tables with
integer probabilities of `PROB_QBITS = 31` bits; `decode(prob, alias, word)`
maps one raw 64-bit word from `core.rng` to an index. Tables travel in one
blob (header + 8-byte-aligned slices) read back by 2B, 3B and 5B.

Build, step by step (all integer, so every machine gets the same bytes):

1. Target masses: the exact rationals T·w_i/Σw with T = n·2^31 (weights are
   taken at their exact float64 values, summed exactly). Each m_i is the floor,
   and the T − Σfloor leftover units go, one each, to the largest remainders,
   ties to the lower index. Σm_i == T exactly; |m_i − T·w_i/Σw| < 1; a zero
   weight gets mass 0 and is never decoded.
2. Vose with FIFO lists: indices with m_i < 2^31 queue in `small`, the others in
   `large`, both in index order. While both are non-empty: pop the front s of
   small and l of large; prob[s] = m_s, alias[s] = l; m_l −= 2^31 − m_s; l is
   appended to the *back* of small if m_l < 2^31, else of large. Whatever is
   left has mass exactly 2^31: prob = 2^31, alias = own index.

Decoding: column i = ((word >> 32)·n) >> 32 (high 32 bits), r = word & (2^31−1)
(low 31 bits; bit 31 unused); the result is i if r < prob[i] else alias[i].

Accuracy, for an audit reconciling decoded frequencies:

* `implied_probabilities` reconstructs M_j = prob_j + Σ_{alias_i=j}(2^31 −
  prob_i) exactly (== m_j) and returns M_j / (n·2^31);
  |implied_j − w_j/Σw| < `quantisation_bound(n)` = 2^-31/n.
* Decoding a uniform 64-bit word picks column i with probability c_i/2^32,
  c_i ∈ {⌊2^32/n⌋, ⌈2^32/n⌉}, so the decoded probability of j differs from
  implied_j by less than implied_j · `column_bias_bound(n)` = implied_j·n·2^-32
  (zero when n is a power of two; ~2.3e-4 relative at n = 10^6).
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numba
import numpy as np

from fraud_assets.core.errors import E_ALIAS_CODEC_MISMATCH, EngineFailure

CODEC = "fa.alias.v1"
PROB_QBITS = 31
PROB_ONE = 1 << PROB_QBITS
MAGIC = b"FAALIAS1"
LAYOUT_VERSION = 1
ALIGNMENT = 8
HEADER_BYTES = 64
MAX_ENTRIES = (1 << 32) - 1

# Bad weights are a caller error, not a codec mismatch. (Candidate for errors.py.)
E_ALIAS_WEIGHTS_INVALID = "E_ALIAS_WEIGHTS_INVALID"

_HEADER = struct.Struct("<8sIIIIQ")  # magic, layout_version, prob_qbits, alignment, table_count, entry_count_total
_SLICE = struct.Struct("<IIII")  # n, prob_qbits, reserved, reserved

_S32_U = np.uint64(32)
_LOW31_U = np.uint64(PROB_ONE - 1)


class AliasHeader(NamedTuple):
    layout_version: int
    prob_qbits: int
    alignment: int
    table_count: int
    entry_count_total: int


# --------------------------------------------------------------------------- build


def _exact_integers(w: np.ndarray) -> np.ndarray:
    """Python ints (object array) W_i with W_i / W_j == w_i / w_j exactly (w finite, >= 0)."""
    mant, expo = np.frexp(w)
    mant_int = (mant * 2.0**53).astype(np.int64)  # exact: 53-bit significands
    positive = w > 0
    shift = np.where(positive, expo - expo[positive].min(), 0)
    return mant_int.astype(object) << shift.astype(object)


def masses(weights: Any) -> np.ndarray:
    """Integer masses (int64[n]) summing exactly to n·2^31, by largest remainder."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.shape[0] == 0:
        raise EngineFailure(E_ALIAS_WEIGHTS_INVALID, "alias weights must be a non-empty 1-D vector",
                            shape=tuple(w.shape))
    n = int(w.shape[0])
    if n > MAX_ENTRIES:
        raise EngineFailure(E_ALIAS_WEIGHTS_INVALID, "alias table too large", n=n, max=MAX_ENTRIES)
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise EngineFailure(E_ALIAS_WEIGHTS_INVALID, "alias weights must be finite and >= 0",
                            keys=bad[:10].tolist(), values=w[bad[:10]].tolist())
    if not (w > 0).any():
        raise EngineFailure(E_ALIAS_WEIGHTS_INVALID, "alias weights must have a positive sum", n=n)
    big = _exact_integers(w)
    total_w = big.sum()
    target = n * PROB_ONE
    scaled = big * target
    floors = scaled // total_w
    rems = scaled - floors * total_w  # exact remainders in [0, total_w)
    m = floors.astype(np.int64)
    leftover = target - int(m.sum())  # < number of positive remainders
    if leftover:
        m[_largest_remainders(rems, total_w, leftover)] += 1
    return m


def _largest_remainders(rems: np.ndarray, total: int, count: int) -> np.ndarray:
    """Indices of the `count` largest exact remainders, ties to the lower index.

    Sorts on the correctly rounded floats rems/total (rounding is monotone, so
    distinct floats are ordered right); a run of equal floats straddling the
    cut is re-ordered on the exact integers."""
    n = rems.shape[0]
    frac = (rems / total).astype(np.float64)
    order = np.lexsort((np.arange(n), -frac))
    if count >= n or frac[order[count - 1]] != frac[order[count]]:
        return order[:count]
    cut = frac[order[count - 1]]
    above = order[frac[order] > cut]
    tied = np.flatnonzero(frac == cut)
    tied_sorted = sorted(tied.tolist(), key=lambda i: (-rems[i], i))
    return np.concatenate([above, np.array(tied_sorted[: count - above.shape[0]], dtype=np.int64)])


@numba.njit(cache=True)
def _vose_nb(m):
    n = m.shape[0]
    one = np.int64(PROB_ONE)
    mass = m.copy()
    prob = np.empty(n, dtype=np.uint32)
    alias = np.empty(n, dtype=np.uint32)
    small = np.empty(n, dtype=np.int64)  # each index enters small at most once
    large = np.empty(2 * n, dtype=np.int64)  # n initial entries + at most n re-appends
    s_head = 0
    s_tail = 0
    l_head = 0
    l_tail = 0
    for i in range(n):
        if mass[i] < one:
            small[s_tail] = i
            s_tail += 1
        else:
            large[l_tail] = i
            l_tail += 1
    while s_head < s_tail and l_head < l_tail:
        s = small[s_head]
        s_head += 1
        lg = large[l_head]
        l_head += 1
        prob[s] = np.uint32(mass[s])
        alias[s] = np.uint32(lg)
        mass[lg] = mass[lg] - (one - mass[s])
        if mass[lg] < one:
            small[s_tail] = lg
            s_tail += 1
        else:
            large[l_tail] = lg
            l_tail += 1
    ok = True
    while l_head < l_tail:
        i = large[l_head]
        l_head += 1
        ok = ok and mass[i] == one
        prob[i] = np.uint32(one)
        alias[i] = np.uint32(i)
    while s_head < s_tail:  # impossible with exact masses; kept as a guard
        i = small[s_head]
        s_head += 1
        ok = False
        prob[i] = np.uint32(one)
        alias[i] = np.uint32(i)
    return prob, alias, ok


def vose_py(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Plain-Python reference of the FIFO Vose step (tests compare it to numba)."""
    n = len(m)
    mass = [int(x) for x in m]
    prob = [0] * n
    alias = [0] * n
    small = deque(i for i in range(n) if mass[i] < PROB_ONE)
    large = deque(i for i in range(n) if mass[i] >= PROB_ONE)
    while small and large:
        s = small.popleft()
        lg = large.popleft()
        prob[s] = mass[s]
        alias[s] = lg
        mass[lg] -= PROB_ONE - mass[s]
        (small if mass[lg] < PROB_ONE else large).append(lg)
    for i in list(large) + list(small):
        prob[i] = PROB_ONE
        alias[i] = i
    return np.array(prob, dtype=np.uint32), np.array(alias, dtype=np.uint32)


def build(weights: Any) -> tuple[np.ndarray, np.ndarray]:
    """Alias table (prob uint32[n], alias uint32[n]) of `weights`."""
    m = masses(weights)
    prob, alias, ok = _vose_nb(m)
    if not ok:  # pragma: no cover - masses() guarantees exact sums
        raise AssertionError("alias build left a column with mass != 2^31")
    return prob, alias


# --------------------------------------------------------------------------- decode


def decode(prob: np.ndarray, alias: np.ndarray, word: Any) -> Any:
    """Index decoded from one word (int → int) or from an array of words (→ int64 array)."""
    n = np.uint64(prob.shape[0])
    scalar = isinstance(word, (int, np.integer))
    w = np.asarray(word, dtype=np.uint64)
    col = ((w >> _S32_U) * n) >> _S32_U
    r = w & _LOW31_U
    out = np.where(r < prob[col], col, alias[col]).astype(np.int64)
    return int(out) if scalar else out


@numba.njit(cache=True)
def decode_nb(prob, alias, word):
    """decode() of one word as a numba scalar kernel (returns int64)."""
    w = np.uint64(word)
    col = ((w >> _S32_U) * np.uint64(prob.shape[0])) >> _S32_U
    if (w & _LOW31_U) < np.uint64(prob[col]):
        return np.int64(col)
    return np.int64(alias[col])


@numba.njit(cache=True)
def decode_many_nb(prob, alias, words):
    out = np.empty(words.shape[0], dtype=np.int64)
    for i in range(words.shape[0]):
        out[i] = decode_nb(prob, alias, words[i])
    return out


# --------------------------------------------------------------------------- audit


def implied_masses(prob: np.ndarray, alias: np.ndarray) -> np.ndarray:
    """M_j = prob_j + Σ_{i: alias_i = j} (2^31 − prob_i), exact, int64[n]."""
    p = np.asarray(prob, dtype=np.int64)
    out = p.copy()
    np.add.at(out, np.asarray(alias, dtype=np.int64), PROB_ONE - p)
    return out


def implied_probabilities(prob: np.ndarray, alias: np.ndarray) -> np.ndarray:
    """Probability each index is decoded with, given an equiprobable column: M_j / (n·2^31)."""
    n = prob.shape[0]
    return implied_masses(prob, alias) / float(n * PROB_ONE)


def quantisation_bound(n: int) -> float:
    """Strict bound on |implied_j − w_j/Σw| for a table of n entries: 2^-31 / n.

    Largest remainder keeps every integer mass within 1 of its exact target
    n·2^31·w_j/Σw. (Comparing float64 values adds their own rounding, a few
    ulps of the probabilities.)"""
    return 2.0**-PROB_QBITS / n


def column_bias_bound(n: int) -> float:
    """Relative bound for decoding uniform 64-bit words: |P(decode = j) − implied_j| <
    implied_j · column_bias_bound(n) = implied_j · n · 2^-32 (0.0 when n is a power of two).

    The 32-bit column index hits column i with probability c_i/2^32, c_i in
    {⌊2^32/n⌋, ⌈2^32/n⌉}, i.e. within 2^-32 of 1/n, and index j is fed by
    columns worth M_j/2^31 = n·implied_j of them."""
    return 0.0 if n & (n - 1) == 0 else n * 2.0**-32


# --------------------------------------------------------------------------- blob


def _mismatch(field: str, value: Any, expected: Any, **ctx: Any) -> EngineFailure:
    return EngineFailure(
        E_ALIAS_CODEC_MISMATCH,
        f"alias blob {field}={value!r}, codec {CODEC} expects {expected!r}",
        field=field, value=value, expected=expected, **ctx,
    )


def _pad8(n: int) -> int:
    return (-n) % ALIGNMENT


def _check_table(prob: Any, alias: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    prob = np.asarray(prob)
    alias = np.asarray(alias)
    if prob.ndim != 1 or prob.shape != alias.shape or prob.shape[0] == 0:
        raise _mismatch("shape", (prob.shape, alias.shape), "two equal non-empty 1-D arrays", where=where)
    n = prob.shape[0]
    if prob.dtype.kind not in "iu" or alias.dtype.kind not in "iu":
        raise _mismatch("dtype", (str(prob.dtype), str(alias.dtype)), "integer", where=where)
    if n > MAX_ENTRIES:
        raise _mismatch("n", n, f"<= {MAX_ENTRIES}", where=where)
    if prob.min() < 0 or prob.max() > PROB_ONE:
        raise _mismatch("prob", int(prob.max() if prob.max() > PROB_ONE else prob.min()),
                        f"in [0, 2^{PROB_QBITS}]", where=where)
    if alias.min() < 0 or alias.max() >= n:
        raise _mismatch("alias", int(alias.max() if alias.max() >= n else alias.min()),
                        f"in [0, {n})", where=where)
    return prob.astype("<u4", copy=False), alias.astype("<u4", copy=False)


def write_blob(tables: Sequence[tuple[Any, Any]]) -> tuple[bytes, list[tuple[int, int]]]:
    """One blob for `tables` [(prob, alias), ...] and each slice's (offset, length) in bytes.

    Slice length is 16 + 8n (its `<IIII>` header, prob, alias); slices start
    8-byte aligned, the gaps (none at present, since 16 + 8n is a multiple of 8)
    zero-filled."""
    parts: list[bytes] = []
    offsets: list[tuple[int, int]] = []
    pos = HEADER_BYTES
    total = 0
    for t, (prob, alias) in enumerate(tables):
        p, a = _check_table(prob, alias, where=f"table {t}")
        n = int(p.shape[0])
        body = _SLICE.pack(n, PROB_QBITS, 0, 0) + p.tobytes() + a.tobytes()
        offsets.append((pos, len(body)))
        pad = b"\x00" * _pad8(len(body))
        parts.append(body + pad)
        pos += len(body) + len(pad)
        total += n
    header = _HEADER.pack(MAGIC, LAYOUT_VERSION, PROB_QBITS, ALIGNMENT, len(offsets), total)
    header += b"\x00" * (HEADER_BYTES - len(header))
    return header + b"".join(parts), offsets


def read_header(blob: bytes | bytearray | memoryview) -> AliasHeader:
    """Parse and check the 64-byte header; any codec mismatch is refused."""
    mv = memoryview(blob)
    if len(mv) < HEADER_BYTES:
        raise _mismatch("length", len(mv), f">= {HEADER_BYTES}")
    magic, version, qbits, alignment, count, total = _HEADER.unpack_from(mv, 0)
    if magic != MAGIC:
        raise _mismatch("magic", bytes(magic), MAGIC)
    if version != LAYOUT_VERSION:
        raise _mismatch("layout_version", version, LAYOUT_VERSION)
    if qbits != PROB_QBITS:
        raise _mismatch("prob_qbits", qbits, PROB_QBITS)
    if alignment != ALIGNMENT:
        raise _mismatch("alignment", alignment, ALIGNMENT)
    if any(mv[_HEADER.size:HEADER_BYTES]):
        raise _mismatch("header_padding", "non-zero", "zero bytes")
    return AliasHeader(version, qbits, alignment, count, total)


def read_table(blob: bytes | bytearray | memoryview, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """(prob, alias) of the slice at `offset`; read-only uint32 views of `blob`."""
    read_header(blob)
    mv = memoryview(blob)
    if offset < HEADER_BYTES or offset % ALIGNMENT or offset + _SLICE.size > len(mv):
        raise _mismatch("offset", offset, f"8-aligned slice start in [{HEADER_BYTES}, {len(mv)})")
    n, qbits, r0, r1 = _SLICE.unpack_from(mv, offset)
    if qbits != PROB_QBITS:
        raise _mismatch("prob_qbits", qbits, PROB_QBITS, offset=offset)
    if r0 or r1:
        raise _mismatch("slice_reserved", (r0, r1), (0, 0), offset=offset)
    start = offset + _SLICE.size
    if n == 0 or start + 8 * n > len(mv):
        raise _mismatch("n", n, f"1..{(len(mv) - start) // 8} (blob length)", offset=offset)
    prob = np.frombuffer(mv, dtype="<u4", count=n, offset=start).astype(np.uint32, copy=False)
    alias = np.frombuffer(mv, dtype="<u4", count=n, offset=start + 4 * n).astype(np.uint32, copy=False)
    _check_table(prob, alias, where=f"offset {offset}")
    return prob, alias


def iter_tables(blob: bytes | bytearray | memoryview) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Every (offset, prob, alias) in order; checks table_count and entry_count_total."""
    header = read_header(blob)
    pos = HEADER_BYTES
    seen = 0
    for _ in range(header.table_count):
        prob, alias = read_table(blob, pos)
        yield pos, prob, alias
        length = _SLICE.size + 8 * prob.shape[0]
        pos += length + _pad8(length)
        seen += prob.shape[0]
    if seen != header.entry_count_total:
        raise _mismatch("entry_count_total", header.entry_count_total, seen)
