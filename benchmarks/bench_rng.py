"""core.rng / core.alias throughput: numpy vectorised vs numba vs pure-Python reference.

Run: `PYTHONPATH=. python benchmarks/bench_rng.py`. Prints rates and ratios measured in
this one run; asserts nothing (ARCHITECTURE §12). Numba kernels are warmed up first,
so compile time is excluded.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from fraud_assets.core import alias, rng

N_VEC = 1_000_000  # items per numpy / numba call
N_PY = 20_000  # items for the pure-Python reference


def _rate(fn: Callable[[], object], items: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return items / best


def _row(name: str, rates: dict[str, float | None]) -> None:
    py = rates.get("python")
    cells = []
    for path in ("numpy", "numba", "python"):
        r = rates.get(path)
        if r is None:
            cells.append(f"{path:>6}: {'—':>10}          ")
        else:
            ratio = f"(x{r / py:,.0f})" if py else ""
            cells.append(f"{path:>6}: {r:10.3e}/s {ratio:>9}")
    print(f"{name:<22}" + "  ".join(cells))


def main() -> None:
    root = rng.RngRoot("0" * 64, "1" * 64)
    sa = root.streams("bench.family", range(N_VEC), seed=42)
    k, c_hi, c_lo = sa
    p = np.zeros(N_VEC, dtype=np.uint64)
    q = np.arange(N_VEC, dtype=np.uint64)
    pyk = [sa.at(i) for i in range(N_PY)]

    # warm up numba (compile or load from cache)
    rng.blocks_nb(k[:10], c_hi[:10], c_lo[:10], p[:10], q[:10])
    rng.u01_many_nb(k[:10])
    rng.sample_normal(rng.StreamArray(k[:10], c_hi[:10], c_lo[:10]))
    rng.sample_gamma(rng.StreamArray(k[:10], c_hi[:10], c_lo[:10]), 0.3)
    rng.sample_poisson(rng.StreamArray(k[:10], c_hi[:10], c_lo[:10]), 400.0)

    print(f"core.rng benchmark: numpy/numba over {N_VEC:,} keys, python over {N_PY:,}; ratio vs python")
    _row("stream derivation", {
        "numpy": _rate(lambda: root.streams("bench.family", range(N_VEC // 10), seed=42), N_VEC // 10),
        "python": _rate(lambda: [root.stream("bench.family", i, seed=42) for i in range(N_PY)], N_PY),
    })
    _row("philox blocks", {
        "numpy": _rate(lambda: rng.blocks(k, c_hi, c_lo, p, q), N_VEC),
        "numba": _rate(lambda: rng.blocks_nb(k, c_hi, c_lo, p, q), N_VEC),
        "python": _rate(lambda: [rng.block(s, 0, i) for i, s in enumerate(pyk)], N_PY),
    })
    words = rng.blocks(k, c_hi, c_lo, p, q)[0]
    pyw = words[:N_PY].tolist()
    _row("u01", {
        "numpy": _rate(lambda: rng.u01(words), N_VEC),
        "numba": _rate(lambda: rng.u01_many_nb(words), N_VEC),
        "python": _rate(lambda: [rng.u01_py(x) for x in pyw], N_PY),
    })
    _row("normal", {
        "numba": _rate(lambda: rng.sample_normal(sa), N_VEC),
        "python": _rate(lambda: [rng.normal(s) for s in pyk], N_PY),
    })
    for alpha in (0.3, 8.0):
        _row(f"gamma({alpha})", {
            "numba": _rate(lambda a=alpha: rng.sample_gamma(sa, a), N_VEC),
            "python": _rate(lambda a=alpha: [rng.gamma(s, a) for s in pyk], N_PY),
        })
    for lam in (3.0, 400.0):
        _row(f"poisson({lam:g})", {
            "numba": _rate(lambda m=lam: rng.sample_poisson(sa, m), N_VEC),
            "python": _rate(lambda m=lam: [rng.poisson(s, m) for s in pyk], N_PY),
        })

    prob, al = alias.build(np.random.default_rng(0).random(1000))
    alias.decode_many_nb(prob, al, words[:10])
    _row("alias decode (n=1000)", {
        "numpy": _rate(lambda: alias.decode(prob, al, words), N_VEC),
        "numba": _rate(lambda: alias.decode_many_nb(prob, al, words), N_VEC),
        "python": _rate(lambda: [alias.decode(prob, al, x) for x in pyw[:2000]], 2000),
    })
    w = np.random.default_rng(1).random(100_000)
    print(f"{'alias build (n=1e5)':<22}{_rate(lambda: alias.build(w), 100_000, repeat=1):10.3e} entries/s")


if __name__ == "__main__":
    main()
