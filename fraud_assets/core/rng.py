"""Counter-based randomness: Philox2x64-10 streams and samplers (ARCHITECTURE §6).

Every draw belongs to a *family* and a *key*. `RngRoot.stream(family, key,
seed=...)` hashes the world's identity with them into a `Stream` — a Philox
key `k` and a counter base `(c_hi, c_lo)` — and `block(stream, p, q)` is
`philox2x64_10(k, ((c_hi + p) mod 2^64, (c_lo + q) mod 2^64))`: two raw 64-bit
words (lanes). Nothing depends on batch size, worker count or order.

Three paths compute the same bits:

* pure Python (`philox2x64_10`, `block`, `u01_py`, `normal_py`, `gamma_py`,
  `poisson_py`): the readable reference, Python ints and `math`;
* numpy, vectorised (`blocks`, `words`, `u01`): only exact integer and IEEE
  basic float operations, so it is bit-identical to the reference;
* numba (`philox_block_nb`, `u01_nb`, `normal_nb`, `gamma_nb`, `poisson_nb`
  and the `*_many_nb` loops over keys): scalar kernels meant to be called from
  other numba kernels. Floats go through the same libm `log`/`exp`/`cos`/`pow`
  and `sqrt` as Python's `math`, in the same order, without fastmath; tests pin
  numba == Python bit for bit.

Samplers consume a *sequential* stream: `p` fixed and one block per step at
`q = q_start, q_start + 1, ...`. Each returns `(value, uniforms, blocks,
next_q)` where `uniforms` counts the u01 values it derived (a discarded lane is
not counted) and `blocks` the Philox blocks it addressed, so `next_q = q_start
+ blocks` (mod 2^64). Exact consumption:

* normal: one block; z = sqrt(-2 ln u01(w0)) * cos(2π u01(w1)).
  2 uniforms, 1 block.
* gamma(alpha, 1), alpha >= 1 (Marsaglia–Tsang, d = alpha - 1/3,
  c = 1/sqrt(9d)): each attempt takes a normal block (z, both lanes) then a
  uniform block (u = u01(lane 0), lane 1 discarded); both blocks are spent even
  when v = 1 + c z <= 0 rejects without looking at u. Accept when
  ln u < 0.5 z² + d − d·v³ + d·ln v³ (no squeeze); value d·v³.
  3 uniforms and 2 blocks per attempt.
* gamma, 0 < alpha < 1: a complete gamma(alpha + 1) draw as above, *then* one
  block (u = u01(lane 0)); value = g · u ** (1/alpha).
  3·attempts + 1 uniforms, 2·attempts + 1 blocks.
* poisson, lam == 0: returns 0; 0 uniforms, 0 blocks.
* poisson, 0 < lam < 10: inversion by sequential search over the CDF from 0
  with one uniform u01(lane 0) of one block per *call* (lane 1 discarded).
  1 uniform, 1 block.
* poisson, lam >= 10: PTRS (Hörmann 1993, transformed rejection with squeeze);
  each attempt one block, U = u01(lane 0) − 0.5 and V = u01(lane 1).
  2 uniforms and 1 block per attempt.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numba
import numpy as np

RNG_DOMAIN = "fraud_assets.rng.v1"
FIELD_SEP = "\x1f"
KEY_SEP = "\x1e"

MASK64 = (1 << 64) - 1
PHILOX_M = 0xD2B74407B1CE6E93  # Random123 PHILOX_M2x64_0
PHILOX_W = 0x9E3779B97F4A7C15  # Random123 PHILOX_W64_0 (golden ratio)
PHILOX_ROUNDS = 10

TWO_NEG_53 = 2.0**-53
# The largest double below 1. ((x >> 11) + 0.5) * 2^-53 is mathematically inside
# (0, 1), but in float64 the addition rounds half-to-even once x >> 11 >= 2^52,
# and at x >> 11 == 2^53 - 1 it rounds up to exactly 1.0; that one value (2^11
# of the 2^64 words) is clamped here so u01 stays strictly inside (0, 1).
U01_MAX = 1.0 - 2.0**-53
TWO_PI = 2.0 * math.pi
POISSON_PTRS_MIN = 10.0

# numba sees module globals as compile-time constants; keep them uint64 so no
# uint64/int64 mix ever promotes to float64.
_M_U = np.uint64(PHILOX_M)
_W_U = np.uint64(PHILOX_W)
_MASK32_U = np.uint64(0xFFFFFFFF)
_S32_U = np.uint64(32)
_S11_U = np.uint64(11)
_ONE_U = np.uint64(1)


# --------------------------------------------------------------------------- streams


class Stream(NamedTuple):
    """One family × key × seed: Philox key and counter base, as Python ints."""

    k: int
    c_hi: int
    c_lo: int


class StreamArray(NamedTuple):
    """Many streams of one family, as three parallel np.uint64 arrays."""

    k: np.ndarray
    c_hi: np.ndarray
    c_lo: np.ndarray

    @property
    def size(self) -> int:
        return int(self.k.shape[0])

    def at(self, i: int) -> Stream:
        return Stream(int(self.k[i]), int(self.c_hi[i]), int(self.c_lo[i]))


class Draw(NamedTuple):
    """A sampler result with its exact consumption."""

    value: Any  # float (normal, gamma) or int (poisson)
    uniforms: int
    blocks: int
    next_q: int


class DrawArray(NamedTuple):
    """Per-key sampler results: values, int64 uniforms/blocks, uint64 next_q."""

    values: np.ndarray
    uniforms: np.ndarray
    blocks: np.ndarray
    next_q: np.ndarray


def key_token(key: Any) -> str:
    """The text a key contributes to the stream hash.

    str → itself; int (not bool) → decimal; tuple → its elements' tokens
    joined with "\\x1e". Anything else is refused so no two kinds of key can
    collide by accident.
    """
    if isinstance(key, str):
        if FIELD_SEP in key or KEY_SEP in key:
            raise ValueError(f"rng key may not contain \\x1f or \\x1e: {key!r}")
        return key
    if isinstance(key, (bool, np.bool_)):
        raise TypeError(f"rng key may not be a bool: {key!r}")
    if isinstance(key, (int, np.integer)):
        return str(int(key))
    if isinstance(key, tuple):
        return KEY_SEP.join(key_token(part) for part in key)
    raise TypeError(f"rng key must be str, int or tuple, got {type(key).__name__}: {key!r}")


def _check_field(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"rng {name} must be str, got {type(value).__name__}")
    if FIELD_SEP in value or KEY_SEP in value:
        raise ValueError(f"rng {name} may not contain \\x1f or \\x1e: {value!r}")
    return value


def _check_seed(seed: Any) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an unsigned 64-bit int, got {seed!r}")
    seed = int(seed)
    if not 0 <= seed <= MASK64:
        raise ValueError(f"seed must be in [0, 2^64), got {seed}")
    return seed


def _digest_to_stream(digest: bytes) -> Stream:
    return Stream(
        int.from_bytes(digest[0:8], "little"),
        int.from_bytes(digest[8:16], "little"),
        int.from_bytes(digest[16:24], "little"),
    )


@dataclass(frozen=True)
class RngRoot:
    """A world's identity, the root every stream of that world hangs from."""

    manifest_fingerprint: str
    parameter_hash: str

    def __post_init__(self) -> None:
        _check_field("manifest_fingerprint", self.manifest_fingerprint)
        _check_field("parameter_hash", self.parameter_hash)

    def _prefix(self, family: str, seed: Any) -> Any:
        """sha256 state after "domain \\x1f fp \\x1f ph \\x1f seed \\x1f family \\x1f"."""
        fields = [
            RNG_DOMAIN,
            self.manifest_fingerprint,
            self.parameter_hash,
            str(_check_seed(seed)),
            _check_field("family", family),
        ]
        return hashlib.sha256((FIELD_SEP.join(fields) + FIELD_SEP).encode("utf-8"))

    def stream(self, family: str, key: Any, *, seed: int) -> Stream:
        """The stream of (family, key) under `seed` (0 for seed-free families)."""
        h = self._prefix(family, seed)
        h.update(key_token(key).encode("utf-8"))
        return _digest_to_stream(h.digest())

    def streams(self, family: str, keys: Sequence[Any], *, seed: int) -> StreamArray:
        """`stream` for every key, as uint64 arrays in the order of `keys`."""
        prefix = self._prefix(family, seed)
        if isinstance(keys, np.ndarray):
            if keys.dtype.kind not in "iu":
                raise TypeError(f"rng key array must be integer, got dtype {keys.dtype}")
            tokens = [str(v) for v in keys.tolist()]
        else:
            tokens = [key_token(key) for key in keys]
        buf = bytearray(24 * len(tokens))
        for i, token in enumerate(tokens):
            h = prefix.copy()
            h.update(token.encode("utf-8"))
            buf[24 * i : 24 * i + 24] = h.digest()[:24]
        words3 = np.frombuffer(bytes(buf), dtype="<u8").reshape(len(tokens), 3).astype(np.uint64)
        return StreamArray(
            np.ascontiguousarray(words3[:, 0]),
            np.ascontiguousarray(words3[:, 1]),
            np.ascontiguousarray(words3[:, 2]),
        )


def stream(family: str, key: Any, *, seed: int, root: RngRoot) -> Stream:
    """Module-level form of `RngRoot.stream`."""
    return root.stream(family, key, seed=seed)


def streams(family: str, keys: Sequence[Any], *, seed: int, root: RngRoot) -> StreamArray:
    """Module-level form of `RngRoot.streams`."""
    return root.streams(family, keys, seed=seed)


# --------------------------------------------------------------------------- Philox, pure Python


def philox2x64_10(k: int, c0: int, c1: int) -> tuple[int, int]:
    """Random123 Philox2x64-10 of counter (c0, c1) under key k (Python ints)."""
    key = k & MASK64
    x0 = c0 & MASK64
    x1 = c1 & MASK64
    for r in range(PHILOX_ROUNDS):
        if r:
            key = (key + PHILOX_W) & MASK64
        prod = PHILOX_M * x0
        x0, x1 = ((prod >> 64) ^ key ^ x1) & MASK64, prod & MASK64
    return x0, x1


def block(stream: Stream, p: int, q: int) -> tuple[int, int]:
    """The two raw words at (p, q) of `stream` (pure Python)."""
    k, c_hi, c_lo = stream
    return philox2x64_10(k, (c_hi + p) & MASK64, (c_lo + q) & MASK64)


def u01_py(x: int) -> float:
    """u01 of one word, pure Python; see `u01`."""
    u = (float((x & MASK64) >> 11) + 0.5) * TWO_NEG_53
    return U01_MAX if u > U01_MAX else u


# --------------------------------------------------------------------------- Philox, numpy


def _mulhilo_np(a: np.ndarray, b: np.uint64) -> tuple[np.ndarray, np.ndarray]:
    """64×64 → 128-bit product of uint64 arrays via 32-bit halves."""
    a_lo = a & _MASK32_U
    a_hi = a >> _S32_U
    b_lo = b & _MASK32_U
    b_hi = b >> _S32_U
    t0 = a_lo * b_lo
    t1 = a_hi * b_lo + (t0 >> _S32_U)
    t2 = a_lo * b_hi + (t1 & _MASK32_U)
    hi = a_hi * b_hi + (t1 >> _S32_U) + (t2 >> _S32_U)
    return hi, a * b


def _u64(x: Any) -> np.ndarray:
    if isinstance(x, np.ndarray):
        if x.dtype == np.uint64:
            return x
        if x.dtype.kind not in "iu":
            raise TypeError(f"expected an integer array, got dtype {x.dtype}")
        return x.astype(np.uint64)
    return np.asarray(x, dtype=np.uint64)


def philox2x64_10_np(k: Any, c0: Any, c1: Any) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised Philox2x64-10 over broadcast uint64 arrays."""
    key, x0, x1 = np.broadcast_arrays(_u64(k), _u64(c0), _u64(c1))
    key = key.copy()
    with np.errstate(over="ignore"):
        for r in range(PHILOX_ROUNDS):
            if r:
                key += _W_U
            hi, lo = _mulhilo_np(x0, _M_U)
            x0, x1 = hi ^ key ^ x1, lo
    return x0, x1


def blocks(k: Any, c_hi: Any, c_lo: Any, p: Any, q: Any) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised `block`: arrays (or scalars) broadcast; returns (w0, w1) uint64 arrays."""
    with np.errstate(over="ignore"):
        c0 = _u64(c_hi) + _u64(p)
        c1 = _u64(c_lo) + _u64(q)
    return philox2x64_10_np(k, c0, c1)


def words(stream: Stream, n: int, *, p: int = 0, q: int = 0) -> np.ndarray:
    """The next `n` blocks of a sequential stream, shape (n, 2) uint64: row i is
    block(stream, p, q + i), column 0 lane 0, column 1 lane 1."""
    qs = (np.uint64(q) + np.arange(n, dtype=np.uint64)) if n else np.zeros(0, np.uint64)
    w0, w1 = blocks(stream.k, stream.c_hi, stream.c_lo, p, qs)
    return np.stack([w0, w1], axis=1)


def u01(x: Any) -> Any:
    """((x >> 11) + 0.5) · 2^-53 in float64, strictly inside (0, 1).

    A Python int gives a float; arrays (or numpy scalars) are vectorised. The
    float64 sum rounds to exactly 1.0 only at x >> 11 == 2^53 − 1; that value is
    clamped to 1 − 2^-53 (see U01_MAX)."""
    if isinstance(x, int):
        return u01_py(x)
    arr = _u64(x)
    u = ((arr >> _S11_U).astype(np.float64) + 0.5) * TWO_NEG_53
    u = np.minimum(u, U01_MAX)
    return u if isinstance(x, np.ndarray) else u[()]


# --------------------------------------------------------------------------- Philox, numba


@numba.njit(cache=True)
def _mulhilo_nb(a, b):
    a_lo = a & _MASK32_U
    a_hi = a >> _S32_U
    b_lo = b & _MASK32_U
    b_hi = b >> _S32_U
    t0 = a_lo * b_lo
    t1 = a_hi * b_lo + (t0 >> _S32_U)
    t2 = a_lo * b_hi + (t1 & _MASK32_U)
    hi = a_hi * b_hi + (t1 >> _S32_U) + (t2 >> _S32_U)
    return hi, a * b


@numba.njit(cache=True)
def philox_block_nb(k, c_hi, c_lo, p, q):
    """block() as a numba scalar kernel: returns (w0, w1) uint64."""
    key = np.uint64(k)
    x0 = np.uint64(c_hi) + np.uint64(p)
    x1 = np.uint64(c_lo) + np.uint64(q)
    for r in range(PHILOX_ROUNDS):
        if r > 0:
            key = key + _W_U
        hi, lo = _mulhilo_nb(_M_U, x0)
        x0 = hi ^ key ^ x1
        x1 = lo
    return x0, x1


@numba.njit(cache=True)
def blocks_nb(k, c_hi, c_lo, p, q):
    """blocks() over equal-length 1-D uint64 arrays, as a numba loop."""
    n = k.shape[0]
    w0 = np.empty(n, dtype=np.uint64)
    w1 = np.empty(n, dtype=np.uint64)
    for i in range(n):
        w0[i], w1[i] = philox_block_nb(k[i], c_hi[i], c_lo[i], p[i], q[i])
    return w0, w1


@numba.njit(cache=True)
def u01_nb(x):
    """u01 of one word as a numba scalar kernel."""
    u = (np.float64(np.uint64(x) >> _S11_U) + 0.5) * TWO_NEG_53
    if u > U01_MAX:
        u = U01_MAX
    return u


@numba.njit(cache=True)
def u01_many_nb(x):
    n = x.shape[0]
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        out[i] = u01_nb(x[i])
    return out


# --------------------------------------------------------------------------- samplers, pure Python
# Each reference mirrors its numba kernel line for line: same operations in the
# same order, so the results are bit-identical.


def _check_alpha(alpha: float) -> None:
    if not (alpha > 0.0 and alpha < math.inf):
        raise ValueError(f"gamma shape alpha must be finite and > 0, got {alpha!r}")


def _check_lam(lam: float) -> None:
    if not (lam >= 0.0 and lam < math.inf):
        raise ValueError(f"poisson mean lam must be finite and >= 0, got {lam!r}")


def normal_py(k: int, c_hi: int, c_lo: int, p: int, q: int) -> Draw:
    """Standard normal, Box–Muller cosine branch of block (p, q)."""
    w0, w1 = philox2x64_10(k, (c_hi + p) & MASK64, (c_lo + q) & MASK64)
    z = math.sqrt(-2.0 * math.log(u01_py(w0))) * math.cos(TWO_PI * u01_py(w1))
    return Draw(z, 2, 1, (q + 1) & MASK64)


def gamma_py(k: int, c_hi: int, c_lo: int, p: int, q: int, alpha: float) -> Draw:
    """Gamma(alpha, 1) by Marsaglia–Tsang in log space (module docstring)."""
    alpha = float(alpha)
    _check_alpha(alpha)
    boost = alpha < 1.0
    a = alpha + 1.0 if boost else alpha
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    qq = q & MASK64
    c0 = (c_hi + p) & MASK64
    attempts = 0
    while True:
        attempts += 1
        w0, w1 = philox2x64_10(k, c0, (c_lo + qq) & MASK64)
        z = math.sqrt(-2.0 * math.log(u01_py(w0))) * math.cos(TWO_PI * u01_py(w1))
        qq = (qq + 1) & MASK64
        uw, _ = philox2x64_10(k, c0, (c_lo + qq) & MASK64)
        qq = (qq + 1) & MASK64
        v = 1.0 + c * z
        if v <= 0.0:
            continue
        v = v * v * v
        u = u01_py(uw)
        if math.log(u) < 0.5 * z * z + d - d * v + d * math.log(v):
            break
    value = d * v
    uniforms = 3 * attempts
    nblocks = 2 * attempts
    if boost:
        uw, _ = philox2x64_10(k, c0, (c_lo + qq) & MASK64)
        qq = (qq + 1) & MASK64
        value = value * u01_py(uw) ** (1.0 / alpha)
        uniforms += 1
        nblocks += 1
    return Draw(value, uniforms, nblocks, qq)


def _loggam_py(x: float) -> float:
    """ln Γ(x) for x >= 1 by the Stirling series, shifted up to x >= 7.

    Only `log` and basic arithmetic, so Python and numba agree bit for bit
    (math.lgamma is CPython's own code, not libm's)."""
    if x == 1.0 or x == 2.0:
        return 0.0
    n = int(7.0 - x) if x < 7.0 else 0
    x0 = x + n
    x2 = (1.0 / x0) * (1.0 / x0)
    s = -1.39243221690590e00
    s = s * x2 + 1.796443723688307e-01
    s = s * x2 - 2.955065359477124e-02
    s = s * x2 + 6.410256410256410e-03
    s = s * x2 - 1.917526917526918e-03
    s = s * x2 + 8.417508417508418e-04
    s = s * x2 - 5.952380952380952e-04
    s = s * x2 + 7.936507936507937e-04
    s = s * x2 - 2.777777777777778e-03
    s = s * x2 + 8.333333333333333e-02
    out = s / x0 + 0.9189385332046727 + (x0 - 0.5) * math.log(x0) - x0
    for _ in range(n):
        x0 = x0 - 1.0
        out = out - math.log(x0)
    return out


def poisson_py(k: int, c_hi: int, c_lo: int, p: int, q: int, lam: float) -> Draw:
    """Poisson(lam): inversion below 10, PTRS at and above (module docstring)."""
    lam = float(lam)
    _check_lam(lam)
    qq = q & MASK64
    if lam == 0.0:
        return Draw(0, 0, 0, qq)
    c0 = (c_hi + p) & MASK64
    if lam < POISSON_PTRS_MIN:
        w0, _ = philox2x64_10(k, c0, (c_lo + qq) & MASK64)
        u = u01_py(w0)
        x = 0
        pk = math.exp(-lam)
        cdf = pk
        while u > cdf:
            x += 1
            pk = pk * lam / x
            nxt = cdf + pk
            if nxt == cdf:  # tail below float resolution: stop here
                break
            cdf = nxt
        return Draw(x, 1, 1, (qq + 1) & MASK64)
    slam = math.sqrt(lam)
    loglam = math.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2.0)
    attempts = 0
    while True:
        w0, w1 = philox2x64_10(k, c0, (c_lo + qq) & MASK64)
        qq = (qq + 1) & MASK64
        attempts += 1
        uu = u01_py(w0) - 0.5
        vv = u01_py(w1)
        us = 0.5 - abs(uu)
        kk = float(math.floor((2.0 * a / us + b) * uu + lam + 0.43))
        if us >= 0.07 and vv <= vr:
            break
        if kk < 0.0 or (us < 0.013 and vv > us):
            continue
        lhs = math.log(vv) + math.log(invalpha) - math.log(a / (us * us) + b)
        if lhs <= -lam + kk * loglam - _loggam_py(kk + 1.0):
            break
    return Draw(int(kk), 2 * attempts, attempts, qq)


def normal(stream: Stream, *, p: int = 0, q: int = 0) -> Draw:
    """One standard normal from `stream` at (p, q) — Python reference."""
    return normal_py(stream.k, stream.c_hi, stream.c_lo, p, q)


def gamma(stream: Stream, alpha: float, *, p: int = 0, q: int = 0) -> Draw:
    """One Gamma(alpha, 1) from `stream` starting at (p, q) — Python reference."""
    return gamma_py(stream.k, stream.c_hi, stream.c_lo, p, q, alpha)


def poisson(stream: Stream, lam: float, *, p: int = 0, q: int = 0) -> Draw:
    """One Poisson(lam) from `stream` starting at (p, q) — Python reference."""
    return poisson_py(stream.k, stream.c_hi, stream.c_lo, p, q, lam)


# --------------------------------------------------------------------------- samplers, numba


@numba.njit(cache=True)
def normal_nb(k, c_hi, c_lo, p, q):
    """normal_py as a numba kernel: (z, uniforms, blocks, next_q)."""
    w0, w1 = philox_block_nb(k, c_hi, c_lo, p, q)
    z = math.sqrt(-2.0 * math.log(u01_nb(w0))) * math.cos(TWO_PI * u01_nb(w1))
    return z, 2, 1, np.uint64(q) + _ONE_U


@numba.njit(cache=True)
def gamma_nb(k, c_hi, c_lo, p, q, alpha_in):
    """gamma_py as a numba kernel: (value, uniforms, blocks, next_q)."""
    alpha = np.float64(alpha_in)
    if not (alpha > 0.0 and alpha < np.inf):
        raise ValueError("gamma shape alpha must be finite and > 0")
    boost = alpha < 1.0
    a = alpha + 1.0 if boost else alpha
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    qq = np.uint64(q)
    attempts = 0
    v = 0.0
    while True:
        attempts += 1
        w0, w1 = philox_block_nb(k, c_hi, c_lo, p, qq)
        z = math.sqrt(-2.0 * math.log(u01_nb(w0))) * math.cos(TWO_PI * u01_nb(w1))
        qq = qq + _ONE_U
        uw, _unused = philox_block_nb(k, c_hi, c_lo, p, qq)
        qq = qq + _ONE_U
        v = 1.0 + c * z
        if v <= 0.0:
            continue
        v = v * v * v
        u = u01_nb(uw)
        if math.log(u) < 0.5 * z * z + d - d * v + d * math.log(v):
            break
    value = d * v
    uniforms = 3 * attempts
    nblocks = 2 * attempts
    if boost:
        uw, _unused = philox_block_nb(k, c_hi, c_lo, p, qq)
        qq = qq + _ONE_U
        value = value * u01_nb(uw) ** (1.0 / alpha)
        uniforms += 1
        nblocks += 1
    return value, uniforms, nblocks, qq


# The same source compiled: the reference and the kernel cannot drift apart.
_loggam_nb = numba.njit(cache=True)(_loggam_py)


@numba.njit(cache=True)
def poisson_nb(k, c_hi, c_lo, p, q, lam_in):
    """poisson_py as a numba kernel: (value int64, uniforms, blocks, next_q)."""
    lam = np.float64(lam_in)
    if not (lam >= 0.0 and lam < np.inf):
        raise ValueError("poisson mean lam must be finite and >= 0")
    qq = np.uint64(q)
    if lam == 0.0:
        return np.int64(0), 0, 0, qq
    if lam < POISSON_PTRS_MIN:
        w0, _unused = philox_block_nb(k, c_hi, c_lo, p, qq)
        u = u01_nb(w0)
        x = np.int64(0)
        pk = math.exp(-lam)
        cdf = pk
        while u > cdf:
            x += 1
            pk = pk * lam / x
            nxt = cdf + pk
            if nxt == cdf:
                break
            cdf = nxt
        return x, 1, 1, qq + _ONE_U
    slam = math.sqrt(lam)
    loglam = math.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2.0)
    attempts = 0
    kk = 0.0
    while True:
        w0, w1 = philox_block_nb(k, c_hi, c_lo, p, qq)
        qq = qq + _ONE_U
        attempts += 1
        uu = u01_nb(w0) - 0.5
        vv = u01_nb(w1)
        us = 0.5 - abs(uu)
        kk = np.floor((2.0 * a / us + b) * uu + lam + 0.43)
        if us >= 0.07 and vv <= vr:
            break
        if kk < 0.0 or (us < 0.013 and vv > us):
            continue
        lhs = math.log(vv) + math.log(invalpha) - math.log(a / (us * us) + b)
        if lhs <= -lam + kk * loglam - _loggam_nb(kk + 1.0):
            break
    return np.int64(kk), 2 * attempts, attempts, qq


@numba.njit(cache=True)
def normal_many_nb(k, c_hi, c_lo, p, q):
    """normal_nb for every key i at (p[i], q[i]); equal-length 1-D arrays."""
    n = k.shape[0]
    values = np.empty(n, dtype=np.float64)
    uniforms = np.empty(n, dtype=np.int64)
    nblocks = np.empty(n, dtype=np.int64)
    next_q = np.empty(n, dtype=np.uint64)
    for i in range(n):
        values[i], uniforms[i], nblocks[i], next_q[i] = normal_nb(k[i], c_hi[i], c_lo[i], p[i], q[i])
    return values, uniforms, nblocks, next_q


@numba.njit(cache=True)
def gamma_many_nb(k, c_hi, c_lo, p, q, alpha):
    """gamma_nb for every key i with shape alpha[i]; equal-length 1-D arrays."""
    n = k.shape[0]
    values = np.empty(n, dtype=np.float64)
    uniforms = np.empty(n, dtype=np.int64)
    nblocks = np.empty(n, dtype=np.int64)
    next_q = np.empty(n, dtype=np.uint64)
    for i in range(n):
        values[i], uniforms[i], nblocks[i], next_q[i] = gamma_nb(
            k[i], c_hi[i], c_lo[i], p[i], q[i], alpha[i]
        )
    return values, uniforms, nblocks, next_q


@numba.njit(cache=True)
def poisson_many_nb(k, c_hi, c_lo, p, q, lam):
    """poisson_nb for every key i with mean lam[i]; equal-length 1-D arrays."""
    n = k.shape[0]
    values = np.empty(n, dtype=np.int64)
    uniforms = np.empty(n, dtype=np.int64)
    nblocks = np.empty(n, dtype=np.int64)
    next_q = np.empty(n, dtype=np.uint64)
    for i in range(n):
        values[i], uniforms[i], nblocks[i], next_q[i] = poisson_nb(
            k[i], c_hi[i], c_lo[i], p[i], q[i], lam[i]
        )
    return values, uniforms, nblocks, next_q


def _per_key(sa: StreamArray, *cols: Any, dtypes: Sequence[Any]) -> list[np.ndarray]:
    n = sa.size
    return [
        np.ascontiguousarray(np.broadcast_to(np.asarray(col, dtype=dt), (n,)))
        for col, dt in zip(cols, dtypes, strict=True)
    ]


def sample_normal(sa: StreamArray, *, p: Any = 0, q: Any = 0) -> DrawArray:
    """One normal per stream (numba); p and q scalars or per-key arrays."""
    pp, qq = _per_key(sa, p, q, dtypes=(np.uint64, np.uint64))
    return DrawArray(*normal_many_nb(sa.k, sa.c_hi, sa.c_lo, pp, qq))


def sample_gamma(sa: StreamArray, alpha: Any, *, p: Any = 0, q: Any = 0) -> DrawArray:
    """One Gamma(alpha_i, 1) per stream (numba); alpha, p, q scalars or per-key arrays."""
    pp, qq, aa = _per_key(sa, p, q, alpha, dtypes=(np.uint64, np.uint64, np.float64))
    return DrawArray(*gamma_many_nb(sa.k, sa.c_hi, sa.c_lo, pp, qq, aa))


def sample_poisson(sa: StreamArray, lam: Any, *, p: Any = 0, q: Any = 0) -> DrawArray:
    """One Poisson(lam_i) per stream (numba); lam, p, q scalars or per-key arrays."""
    pp, qq, ll = _per_key(sa, p, q, lam, dtypes=(np.uint64, np.uint64, np.float64))
    return DrawArray(*poisson_many_nb(sa.k, sa.c_hi, sa.c_lo, pp, qq, ll))
