"""Small 1A-only helpers shared by the state modules (numerics of spec 1A "Numerics").

Nothing here draws randomness or knows about a state: stable logistic, additive
MCC offsets, MCC selectors, fixed-dp quantisation with largest remainder, ISO
codes as sortable integers for numba kernels, and check-evidence builders.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from fraud_assets.engine.common.checks import (  # noqa: F401 - re-exported
    FIRST_KEYS, jsonable, key_list, missing_output, outcome, tally)


# ---- numerics ---------------------------------------------------------------------------


def logistic(eta: float) -> float:
    """σ(η) in branch-stable form: η≥0: 1/(1+e^−η), else e^η/(1+e^η). No clamping."""
    if eta >= 0.0:
        return 1.0 / (1.0 + math.exp(-eta))
    z = math.exp(eta)
    return z / (1.0 + z)


def fsum_rows(*columns: Sequence[float]) -> np.ndarray:
    """Per-row `math.fsum` over equal-length columns (vector sums with fsum)."""
    return np.array([math.fsum(terms) for terms in zip(*columns, strict=True)], dtype=np.float64)


def mcc_offsets(codes: Sequence[int], ranges: Iterable[tuple[int, int, float]],
                exact: dict[int, float]) -> np.ndarray:
    """Σ of every matching `[start, end, add]` range plus the exact-code offset (fsum)."""
    ranges = list(ranges)
    out = np.empty(len(codes), dtype=np.float64)
    for i, code in enumerate(codes):
        terms = [add for lo, hi, add in ranges if lo <= code <= hi]
        if code in exact:
            terms.append(exact[code])
        out[i] = math.fsum(terms)
    return out


def in_selector(code: int, selector: Sequence[tuple[int, int]]) -> bool:
    return any(lo <= code <= hi for lo, hi in selector)


def largest_remainder(quotas: Sequence[float], total: int, ties: Sequence[Any],
                      *, base: str = "floor") -> np.ndarray:
    """Integers summing to `total`, each floor/round-half-even of its quota, adjusted by ±1.

    `base="floor"`: floor every quota, then +1 to the largest remainders.
    `base="rint"`: round half-even, then +1 to the largest remainders (deficit) or −1 to
    the smallest (surplus). Ties broken by `ties` ascending (ISO codes)."""
    q = np.asarray(quotas, dtype=np.float64)
    ints = np.floor(q) if base == "floor" else np.rint(q)
    ints = ints.astype(np.int64)
    rem = q - ints
    diff = int(total - int(ints.sum()))
    n = len(q)
    if diff > 0:
        order = sorted(range(n), key=lambda i: (-rem[i], ties[i]))
        if diff > n:
            raise ValueError(f"largest remainder cannot place {diff} units over {n} slots")
        for i in order[:diff]:
            ints[i] += 1
    elif diff < 0:
        order = sorted(range(n), key=lambda i: (rem[i], ties[i]))
        if -diff > n:
            raise ValueError(f"largest remainder cannot remove {-diff} units over {n} slots")
        for i in order[:-diff]:
            ints[i] -= 1
    return ints


def iso_code(iso: str) -> int:
    """Two upper-case letters as an int whose order is the ASCII order (numba tie keys)."""
    return ord(iso[0]) * 256 + ord(iso[1])


def iso_codes(values: Sequence[str]) -> np.ndarray:
    return np.array([iso_code(v) for v in values], dtype=np.int64)


def quantile(values: Sequence[float], q: float) -> float | None:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return None
    return float(np.quantile(arr, q))


# ---- RNG tallies ------------------------------------------------------------------------


# ---- checks -----------------------------------------------------------------------------


