"""UTC ↔ civil time over 2A's `tz_timetable` (ARCHITECTURE §13, spec 2A "Civil-time library").

The only civil-time implementation of the engine: 2A S4, 5A, 5B and 6B import
it and never read `tz_timetable` rows or call `zoneinfo` themselves.

    ct = CivilTime(tz_timetable)                      # load once (any row order)
    codes = ct.codes(["Europe/Paris", ...])           # tzid -> int32 code (do this once per column)
    local_us, offset_s, is_dst = ct.utc_to_local(ts_utc_us, codes)
    ts_utc_us, flag = ct.local_to_utc(local_us, codes, nonexistent="shift_forward", ambiguous="earliest")
    minutes = ct.offset_minutes(ts_utc_us, codes)     # int16: the `utc_offset_minutes` consumers store
    instants_s, before_s, after_s = ct.transitions("Europe/Paris", start_us, end_us)

Times are int64 epoch **microseconds** (a polars `Datetime("us")` column's
physical values; `as_microseconds` accepts either), `tzid` is a single string
(applied to every row), or one value per row: strings, a polars String/
Categorical Series, or int codes from `codes()` (fastest: no string work).

Throughput: the lookups run in small numba kernels (a binary search inside the
row's tzid block, no temporaries): measured on one core with mixed tzids ≈ 3.5·10^7
rows/s for `utc_to_local`, ≈ 4·10^7 for `local_to_utc` and ≈ 10^8 for
`offset_minutes` (3–7× the numpy path), so 10^8 rows of 5B cost seconds.
`CivilTime(table, engine="numpy")` is the vectorised numpy
reference (one `searchsorted` over all tzids on the composite key
`code · SPAN + (t − window_start)`), pinned equal to the kernels by the tests.

Law:
* `utc_to_local`: segment = the last with `utc_start ≤ t`; `local = t + offset`.
* `local_to_utc`: candidate segments are those whose local range
  `[utc_start + off, utc_end + off)` contains the local time. One → `ok`.
  None → a **gap** (the clock jumped over it): `t = local − off_prev`, the UTC
  instant at or just after the transition whose wall clock reads `local + Δ`
  (flag `gap_shifted`; `nonexistent="raise"` raises `2A-CT-003`). Two → a **fold**:
  the earlier UTC instant (`fold_earliest`) unless `ambiguous="latest"`
  (`fold_latest`; `"raise"` raises `2A-CT-004`). This is PEP 495's `fold=0`/`fold=1`.
* Anything outside the timetable window `W` raises `2A-CT-001
  OUTSIDE_TIMETABLE_WINDOW` (never extrapolates); an unknown tzid raises
  `2A-CT-002 UNKNOWN_TZID`.
* Serialisation: a local time is stored as a naive timestamp (`as_naive_datetime`)
  plus `tzid` and `utc_offset_minutes`; it never carries a `Z` or an offset.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
import polars as pl

from fraud_assets.core.errors import EngineFailure

CODE_OUTSIDE_WINDOW = "2A-CT-001"  # OUTSIDE_TIMETABLE_WINDOW
CODE_UNKNOWN_TZID = "2A-CT-002"
CODE_NONEXISTENT = "2A-CT-003"
CODE_AMBIGUOUS = "2A-CT-004"
CODE_TIMETABLE_INVALID = "2A-CT-005"

US = 1_000_000
FLAG_OK, FLAG_GAP_SHIFTED, FLAG_FOLD_EARLIEST, FLAG_FOLD_LATEST = 0, 1, 2, 3
FLAG_NAMES = ("ok", "gap_shifted", "fold_earliest", "fold_latest")
NONEXISTENT = ("shift_forward", "raise")
AMBIGUOUS = ("earliest", "latest", "raise")
_MARGIN_US = 2 * 86_400 * US  # local times lie within a day of the UTC window


class LocalTimes(NamedTuple):
    local_us: np.ndarray  # int64 naive local microseconds
    offset_s: np.ndarray  # int32
    is_dst: np.ndarray  # bool


class UtcTimes(NamedTuple):
    ts_utc_us: np.ndarray  # int64
    flag: np.ndarray  # int8 codes into FLAG_NAMES


class Transitions(NamedTuple):
    utc_instant_s: np.ndarray  # int64
    offset_before_s: np.ndarray  # int32
    offset_after_s: np.ndarray  # int32


def as_microseconds(values) -> np.ndarray:  # noqa: ANN001 - array-like or polars Series
    """int64 epoch microseconds from ints, numpy datetime64 or a polars Datetime (UTC or naive) Series."""
    if isinstance(values, pl.Series):
        if isinstance(values.dtype, pl.Datetime):
            values = values.dt.cast_time_unit("us")
            if values.dtype.time_zone is not None:
                values = values.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            return values.to_physical().to_numpy().astype(np.int64, copy=False)
        return values.cast(pl.Int64).to_numpy()
    arr = np.asarray(values)
    if np.issubdtype(arr.dtype, np.datetime64):
        return arr.astype("datetime64[us]").astype(np.int64)
    return arr.astype(np.int64, copy=False)


def as_naive_datetime(local_us: np.ndarray, name: str = "local_ts") -> pl.Series:
    """Naive local timestamps (polars `Datetime("us")`, no time zone) — the serialisation law."""
    return pl.Series(name, np.asarray(local_us, dtype=np.int64)).cast(pl.Datetime("us"))


_EMPTY_CODES = np.zeros(0, dtype=np.int64)


@numba.njit(cache=True, nogil=True)
def _segment_nb(t, c, lo, hi, start_us):  # noqa: ANN001, ANN202
    """The last segment of code `c` starting at or before `t` (binary search in [lo[c], hi[c]))."""
    a, b = lo[c], hi[c]
    while b - a > 1:
        m = (a + b) >> 1
        if start_us[m] <= t:
            a = m
        else:
            b = m
    return a


@numba.njit(cache=True, nogil=True)
def _utc_to_local_nb(t_us, codes, scalar, lo, hi, start_us, offset_s, dst_s, w0, w1,  # noqa: ANN001, ANN202
                     local_out, off_out, dst_out):
    for i in range(t_us.size):
        t = t_us[i]
        if t < w0 or t >= w1:
            return i
        j = _segment_nb(t, scalar if scalar >= 0 else codes[i], lo, hi, start_us)
        off = offset_s[j]
        local_out[i] = t + np.int64(off) * 1_000_000
        off_out[i] = off
        dst_out[i] = dst_s[j] != 0
    return -1


@numba.njit(cache=True, nogil=True)
def _offset_minutes_nb(t_us, codes, scalar, lo, hi, start_us, offset_s, w0, w1, out):  # noqa: ANN001, ANN202
    for i in range(t_us.size):
        t = t_us[i]
        if t < w0 or t >= w1:
            return i
        j = _segment_nb(t, scalar if scalar >= 0 else codes[i], lo, hi, start_us)
        out[i] = offset_s[j] // 60
    return -1


@numba.njit(cache=True, nogil=True)
def _local_to_utc_nb(loc, codes, scalar, lo, hi, lstart, lend, offset_s, latest, ts_out,  # noqa: ANN001, ANN202
                     flag_out):
    for i in range(loc.size):
        c = scalar if scalar >= 0 else codes[i]
        x = loc[i]
        first, last = lo[c], hi[c] - 1
        if x < lstart[first] or x >= lend[last]:
            return i
        j = _segment_nb(x, c, lo, hi, lstart)
        in_j = x < lend[j]
        in_prev = j > first and x < lend[j - 1]
        off_j = np.int64(offset_s[j]) * 1_000_000
        if in_j and in_prev:
            if latest:
                ts_out[i] = x - off_j
                flag_out[i] = 3
            else:
                ts_out[i] = x - np.int64(offset_s[j - 1]) * 1_000_000
                flag_out[i] = 2
        elif in_j:
            ts_out[i] = x - off_j
            flag_out[i] = 0
        elif in_prev:
            ts_out[i] = x - np.int64(offset_s[j - 1]) * 1_000_000
            flag_out[i] = 0
        else:  # gap: shift forward with the pre-transition offset
            ts_out[i] = x - off_j
            flag_out[i] = 1
    return -1


def _first(values: np.ndarray, mask: np.ndarray, k: int = 10) -> list:
    return np.asarray(values)[mask][:k].tolist()


class CivilTime:
    """The civil-time law over one `tz_timetable` (every tzid covering the same window `W`)."""

    def __init__(self, timetable: pl.DataFrame, engine: str = "numba") -> None:
        if engine not in ("numba", "numpy"):
            raise ValueError("engine must be 'numba' or 'numpy'")
        self.engine = engine
        tt = timetable.select("tzid", "seq", "utc_start_s", "utc_end_s", "offset_s", "dst_s").sort("tzid", "seq")
        if tt.is_empty():
            raise EngineFailure(CODE_TIMETABLE_INVALID, "empty tz_timetable")
        self.tzids: tuple[str, ...] = tuple(tt.get_column("tzid").unique(maintain_order=True).to_list())
        self._code = {t: i for i, t in enumerate(self.tzids)}
        code = tt.get_column("tzid").replace_strict(self._code, return_dtype=pl.Int64).to_numpy()
        self._seg_code = code
        self.start_s = tt.get_column("utc_start_s").to_numpy().astype(np.int64)
        self.end_s = tt.get_column("utc_end_s").to_numpy().astype(np.int64)
        self.offset_s = tt.get_column("offset_s").to_numpy().astype(np.int32)
        self.dst_s = tt.get_column("dst_s").to_numpy().astype(np.int32)
        n_codes = len(self.tzids)
        self.lo = np.searchsorted(code, np.arange(n_codes), side="left")
        self.hi = np.searchsorted(code, np.arange(n_codes), side="right")
        w0 = self.start_s[self.lo]
        w1 = self.end_s[self.hi - 1]
        if (w0 != w0[0]).any() or (w1 != w1[0]).any():
            raise EngineFailure(CODE_TIMETABLE_INVALID, "tzids cover different windows",
                                keys=[self.tzids[i] for i in np.flatnonzero((w0 != w0[0]) | (w1 != w1[0]))])
        self.window_start_s, self.window_end_s = int(w0[0]), int(w1[0])
        same = code[1:] == code[:-1]
        if (self.start_s >= self.end_s).any() or (same & (self.end_s[:-1] != self.start_s[1:])).any():
            raise EngineFailure(CODE_TIMETABLE_INVALID, "segments are not contiguous and increasing per tzid")
        self.w0_us, self.w1_us = self.window_start_s * US, self.window_end_s * US
        self._start_us = self.start_s * US
        self.lo = self.lo.astype(np.int64)
        self.hi = self.hi.astype(np.int64)
        self._span = (self.w1_us - self.w0_us) + 1
        self._key = code * self._span + (self.start_s * US - self.w0_us)
        # local ranges [start + off, end + off): strictly increasing starts, at most two overlapping
        self.lstart_us = (self.start_s + self.offset_s) * US
        self.lend_us = (self.end_s + self.offset_s) * US
        self._lbase = self.w0_us - _MARGIN_US
        self._lspan = self._span + 2 * _MARGIN_US
        self._lkey = code * self._lspan + (self.lstart_us - self._lbase)
        bad = same & (self.lstart_us[1:] <= self.lstart_us[:-1])
        same2 = code[2:] == code[:-2]
        bad2 = same2 & (self.lend_us[:-2] > self.lstart_us[2:])
        if bad.any() or bad2.any():
            raise EngineFailure(CODE_TIMETABLE_INVALID, "local ranges overlap more than pairwise",
                                keys=sorted({self.tzids[code[i]] for i in np.flatnonzero(bad)}
                                            | {self.tzids[code[i]] for i in np.flatnonzero(bad2)}))

    # -- tzids ----------------------------------------------------------------------------------
    @property
    def window_us(self) -> tuple[int, int]:
        return self.w0_us, self.w1_us

    def code_of(self, tzid: str) -> int:
        try:
            return self._code[tzid]
        except KeyError:
            raise EngineFailure(CODE_UNKNOWN_TZID, "tzid not in tz_timetable", keys=[tzid]) from None

    def codes(self, tzids) -> np.ndarray:  # noqa: ANN001 - str, sequence, Series or int array
        """int32 codes of tzids (a scalar str gives a 0-d array, broadcast by every function)."""
        if isinstance(tzids, str):
            return np.asarray(self.code_of(tzids), dtype=np.int64)
        if isinstance(tzids, np.ndarray) and np.issubdtype(tzids.dtype, np.integer):
            if tzids.size and (tzids.min() < 0 or tzids.max() >= len(self.tzids)):
                raise EngineFailure(CODE_UNKNOWN_TZID, "tzid code out of range")
            return tzids.astype(np.int64, copy=False)
        s = tzids if isinstance(tzids, pl.Series) else pl.Series("tzid", list(tzids), dtype=pl.String)
        s = s.cast(pl.String)
        mapped = s.replace_strict(self._code, default=-1, return_dtype=pl.Int64)
        if s.null_count() or (mapped == -1).any():
            unknown = s.filter((mapped == -1) | s.is_null()).unique().head(10).to_list()
            raise EngineFailure(CODE_UNKNOWN_TZID, "tzids not in tz_timetable", keys=unknown)
        return mapped.to_numpy()

    def _broadcast(self, t: np.ndarray, tzid) -> np.ndarray:  # noqa: ANN001
        code = self.codes(tzid)
        if code.ndim == 0:
            return np.full(t.shape, int(code), dtype=np.int64)
        if code.shape != t.shape:
            raise ValueError(f"tzid has {code.shape[0]} rows, times have {t.shape}")
        return code

    def _kernel_codes(self, t: np.ndarray, tzid) -> tuple[np.ndarray, int]:  # noqa: ANN001
        """(per-row codes or an empty array, scalar code or −1) for the numba kernels (no broadcast copy)."""
        code = self.codes(tzid)
        if code.ndim == 0:
            return _EMPTY_CODES, int(code)
        if code.shape != t.shape:
            raise ValueError(f"tzid has {code.shape[0]} rows, times have {t.shape}")
        return np.ascontiguousarray(code, dtype=np.int64), -1

    def _outside_utc(self, t_us: np.ndarray) -> EngineFailure:
        out = (t_us < self.w0_us) | (t_us >= self.w1_us)
        return EngineFailure(CODE_OUTSIDE_WINDOW, "UTC instant outside the tz_timetable window "
                             f"[{self.window_start_s}, {self.window_end_s}) s", keys=_first(t_us, out),
                             rows=int(out.sum()))

    # -- UTC -> local ---------------------------------------------------------------------------
    def _segment(self, t_us: np.ndarray, code: np.ndarray) -> np.ndarray:
        """numpy reference: one searchsorted over all tzids on the composite key."""
        if ((t_us < self.w0_us) | (t_us >= self.w1_us)).any():
            raise self._outside_utc(t_us)
        key = code * self._span + (t_us - self.w0_us)
        return np.searchsorted(self._key, key, side="right") - 1

    def utc_to_local(self, ts_utc_us, tzid) -> LocalTimes:  # noqa: ANN001
        t = np.ascontiguousarray(as_microseconds(ts_utc_us), dtype=np.int64)
        if self.engine == "numpy":
            j = self._segment(t, self._broadcast(t, tzid))
            off = self.offset_s[j]
            return LocalTimes(t + off.astype(np.int64) * US, off, self.dst_s[j] != 0)
        codes, scalar = self._kernel_codes(t, tzid)
        local = np.empty(t.shape, dtype=np.int64)
        off = np.empty(t.shape, dtype=np.int32)
        dst = np.empty(t.shape, dtype=np.bool_)
        bad = _utc_to_local_nb(t.ravel(), codes.ravel(), scalar, self.lo, self.hi, self._start_us, self.offset_s,
                               self.dst_s, self.w0_us, self.w1_us, local.ravel(), off.ravel(), dst.ravel())
        if bad >= 0:
            raise self._outside_utc(t)
        return LocalTimes(local, off, dst)

    def offset_minutes(self, ts_utc_us, tzid) -> np.ndarray:  # noqa: ANN001
        """int16 UTC offset in minutes (`utc_offset_minutes`)."""
        t = np.ascontiguousarray(as_microseconds(ts_utc_us), dtype=np.int64)
        if self.engine == "numpy":
            j = self._segment(t, self._broadcast(t, tzid))
            return (self.offset_s[j] // 60).astype(np.int16)
        codes, scalar = self._kernel_codes(t, tzid)
        out = np.empty(t.shape, dtype=np.int16)
        bad = _offset_minutes_nb(t.ravel(), codes.ravel(), scalar, self.lo, self.hi, self._start_us,
                                 self.offset_s, self.w0_us, self.w1_us, out.ravel())
        if bad >= 0:
            raise self._outside_utc(t)
        return out

    # -- local -> UTC ---------------------------------------------------------------------------
    def local_to_utc(self, local_us, tzid, nonexistent: str = "shift_forward",  # noqa: ANN001
                     ambiguous: str = "earliest") -> UtcTimes:
        if nonexistent not in NONEXISTENT:
            raise ValueError(f"nonexistent must be one of {NONEXISTENT}")
        if ambiguous not in AMBIGUOUS:
            raise ValueError(f"ambiguous must be one of {AMBIGUOUS}")
        loc = np.ascontiguousarray(as_microseconds(local_us), dtype=np.int64)
        if self.engine == "numpy":
            ts, flag = self._local_to_utc_np(loc, self._broadcast(loc, tzid), ambiguous == "latest")
        else:
            codes, scalar = self._kernel_codes(loc, tzid)
            ts = np.empty(loc.shape, dtype=np.int64)
            flag = np.empty(loc.shape, dtype=np.int8)
            bad = _local_to_utc_nb(loc.ravel(), codes.ravel(), scalar, self.lo, self.hi, self.lstart_us,
                                   self.lend_us, self.offset_s, ambiguous == "latest", ts.ravel(), flag.ravel())
            if bad >= 0:
                self._local_to_utc_np(loc, self._broadcast(loc, tzid), False)  # raises with the evidence
        if ambiguous == "raise":
            fold = (flag == FLAG_FOLD_EARLIEST) | (flag == FLAG_FOLD_LATEST)
            if fold.any():
                raise EngineFailure(CODE_AMBIGUOUS, "ambiguous local time (fold)", keys=_first(loc, fold),
                                    rows=int(fold.sum()))
        if nonexistent == "raise":
            gap = flag == FLAG_GAP_SHIFTED
            if gap.any():
                raise EngineFailure(CODE_NONEXISTENT, "nonexistent local time (gap)", keys=_first(loc, gap),
                                    rows=int(gap.sum()))
        return UtcTimes(ts, flag)

    def _local_to_utc_np(self, loc: np.ndarray, code: np.ndarray, latest: bool) -> tuple[np.ndarray, np.ndarray]:
        """numpy reference of `local_to_utc` (raising only for the window)."""
        first_l = self.lstart_us[self.lo[code]]
        last_l = self.lend_us[self.hi[code] - 1]
        out = (loc < first_l) | (loc >= last_l)
        if out.any():
            raise EngineFailure(CODE_OUTSIDE_WINDOW, "local time outside the tz_timetable window",
                                keys=_first(loc, out), rows=int(out.sum()))
        j = np.searchsorted(self._lkey, code * self._lspan + (loc - self._lbase), side="right") - 1
        in_j = loc < self.lend_us[j]
        prev = np.maximum(j - 1, 0)
        in_prev = (j > self.lo[code]) & (loc < self.lend_us[prev])
        off_j = self.offset_s[j].astype(np.int64) * US
        off_prev = self.offset_s[prev].astype(np.int64) * US
        flag = np.zeros(loc.shape, dtype=np.int8)
        ts = loc - off_j  # in j only, and the gap case (j is the segment before the gap: the pre-transition offset)
        fold = in_j & in_prev
        if not latest:
            ts = np.where(fold, loc - off_prev, ts)
        flag[fold] = FLAG_FOLD_LATEST if latest else FLAG_FOLD_EARLIEST
        only_prev = in_prev & ~in_j
        ts = np.where(only_prev, loc - off_prev, ts)
        flag[~in_j & ~in_prev] = FLAG_GAP_SHIFTED
        return ts, flag

    # -- transitions ----------------------------------------------------------------------------
    def transitions(self, tzid: str, start_us: int, end_us: int) -> Transitions:
        """Segment boundaries `t` with `start ≤ t < end` (UTC), with the offsets before and after.

        Boundaries where only `dst` changes (the offset stays) are included with equal offsets.
        """
        start_us, end_us = int(start_us), int(end_us)
        if start_us < self.w0_us or end_us > self.w1_us or start_us > end_us:
            raise EngineFailure(CODE_OUTSIDE_WINDOW, "transition range outside the tz_timetable window",
                                keys=[start_us, end_us])
        c = self.code_of(tzid)
        lo, hi = int(self.lo[c]), int(self.hi[c])
        starts = self.start_s[lo + 1:hi] * US
        sel = np.flatnonzero((starts >= start_us) & (starts < end_us)) + lo + 1
        return Transitions(self.start_s[sel].copy(), self.offset_s[sel - 1].copy(), self.offset_s[sel].copy())


__all__ = ["AMBIGUOUS", "CODE_AMBIGUOUS", "CODE_NONEXISTENT", "CODE_OUTSIDE_WINDOW", "CODE_UNKNOWN_TZID",
           "CivilTime", "FLAG_FOLD_EARLIEST", "FLAG_FOLD_LATEST", "FLAG_GAP_SHIFTED", "FLAG_NAMES", "FLAG_OK",
           "LocalTimes", "NONEXISTENT", "Transitions", "UtcTimes", "as_microseconds", "as_naive_datetime"]
