"""2A S3 — the transition timetable `tz_timetable` (spec/engine/2A.md, "S3"; F, no RNG).

Window `W = [horizon_start − pre_pad, horizon_end + post_pad + 1 d)`; tzid set `K`
= every key of `zoneinfo.available_timezones()` of the tzdata wheel (≈ 600, links
included), so no consumer can ask for a tzid the table lacks.

Per tzid (a pure function of its TZif bytes, independent of order): probe the
zone's `(utcoffset, dst)` at every coarse step of `W` (and `W.end`); inside a
coarse step whose ends differ, probe every fine step; inside a fine step whose
ends differ, bisect on integer seconds to the first second of the new state. A
transition opens a segment; consecutive segments with equal offset and equal dst
are merged. Probing goes through `zoneinfo`, so the POSIX footer rules of the
wheel's *slim* TZif files (America/New_York lists no explicit transition after
2007) are applied by construction.

A change of `dst` alone (the offset stays: America/Edmonton 2026-11-01,
America/Scoresbysund 2024-03-31 in tzdata 2026) is a transition too — otherwise
`dst_s` would be wrong after it — with `delta_prev_s = 0`.

Checks: digest of the bytes actually loaded (`2A-S3-013`), non-empty (`-021`),
contiguous increasing segments covering W (`-051`), offsets whole minutes within
bounds (`-052`), every `tz_world` tzid present (`-053`), every transition
verified at t−1 and t (`-054`), 6-hourly horizon completeness against zoneinfo
for every key (`-055`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from fraud_assets.engine.seg_2a import common
from fraud_assets.engine.seg_2a import datasets as ds
from fraud_assets.engine.seg_2a.config import Config2A, Timetable
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_DIGEST_INVALID = "2A-S3-013"
CODE_INDEX_EMPTY = "2A-S3-021"
CODE_ORDER_INVALID = "2A-S3-051"
CODE_OFFSET_RANGE = "2A-S3-052"
CODE_COVERAGE = "2A-S3-053"
CODE_CROSSCHECK = "2A-S3-054"
CODE_HORIZON_INCOMPLETE = "2A-S3-055"

CHECK_DIGEST = "s3_tzdb_digest"
CHECK_EMPTY = "s3_index_nonempty"
CHECK_ORDER = "s3_segment_order"
CHECK_OFFSET = "s3_offset_range"
CHECK_COVERAGE = "s3_tzid_coverage"
CHECK_CROSSCHECK = "s3_zoneinfo_crosscheck"
CHECK_HORIZON = "s3_horizon_completeness"

ZERO = timedelta(0)
DIGEST_COLUMNS = common.TIMETABLE_DIGEST_COLUMNS


@dataclass(frozen=True)
class Segment:
    start_s: int
    offset_s: int
    dst_s: int
    abbrev: str


def _abbrev(zone, t: int) -> str:  # noqa: ANN001 - ZoneInfo
    return datetime.fromtimestamp(t, zone).tzname() or ""


def first_change(zone, lo: int, hi: int, state_lo: tuple[int, int]) -> int:  # noqa: ANN001
    """The first integer second in (lo, hi] whose state differs from `state_lo` (state(hi) must differ)."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if common.zone_state(zone, mid) == state_lo:
            lo = mid
        else:
            hi = mid
    return hi


def zone_segments(zone, start_s: int, end_s: int, coarse_s: int = 86_400,  # noqa: ANN001 - ZoneInfo
                  fine_s: int = 3_600) -> list[Segment]:
    """Segments of one zone over `[start_s, end_s)`: coarse probes, fine probes, bisection, merge."""
    grid = list(range(start_s, end_s, coarse_s)) + [end_s]
    states = [common.zone_state(zone, t) for t in grid]
    starts: list[int] = []
    for a, b, sa, sb in zip(grid[:-1], grid[1:], states[:-1], states[1:]):
        if sa == sb:
            continue
        fine = list(range(a, b, fine_s)) + [b]
        fstates = [sa] + [common.zone_state(zone, t) for t in fine[1:-1]] + [sb]
        for fa, fb, fsa, fsb in zip(fine[:-1], fine[1:], fstates[:-1], fstates[1:]):
            if fsa != fsb:
                t = first_change(zone, fa, fb, fsa)
                if t < end_s:
                    starts.append(t)
    segments: list[Segment] = []
    for t in [start_s, *starts]:
        off, dst = common.zone_state(zone, t)
        if segments and segments[-1].offset_s == off and segments[-1].dst_s == dst:
            continue  # equal offset and dst: merged
        segments.append(Segment(t, off, dst, _abbrev(zone, t)))
    return segments


def compile_timetable(keys: Sequence[str], start_s: int, end_s: int, tt: Timetable) -> pl.DataFrame:
    """`tz_timetable` rows (without `manifest_fingerprint`) for `keys` over `[start_s, end_s)`."""
    rows = []
    for key in sorted(keys):
        segs = zone_segments(common.load_zone(key), start_s, end_s, tt.coarse_step_hours * 3600,
                             tt.fine_step_hours * 3600)
        for seq, s in enumerate(segs):
            end = segs[seq + 1].start_s if seq + 1 < len(segs) else end_s
            rows.append((key, seq, s.start_s, end, s.offset_s, s.dst_s, s.dst_s != 0, s.abbrev,
                         s.offset_s - segs[seq - 1].offset_s if seq else 0))
    schema = {c: ds.SCHEMAS[ds.TZ_TIMETABLE][c] for c in DIGEST_COLUMNS}
    return pl.DataFrame(rows, schema=schema, orient="row")


timetable_digest = common.timetable_digest


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    cfg: Config2A = ctx.config
    w = ctx.world
    tt = cfg.timetable
    w0, w1 = common.window_s(w.preset, tt.pre_pad_days, tt.post_pad_days)
    tzif = common.tzif_bytes()
    from fraud_assets.reference.tzif_digest import digest_of

    frame = compile_timetable(list(tzif), w0, w1, tt)
    out = ds.conform(ds.with_partition(frame, w.manifest_fingerprint), ds.TZ_TIMETABLE)
    receipt = inputs.get(ds.S0_TZ_RECEIPT)
    tz_world_version = receipt.get_column("tz_world_data_version")[0] if receipt is not None \
        and "tz_world_data_version" in receipt.columns else None
    manifest = common.jsonable({
        "manifest_fingerprint": w.manifest_fingerprint, **common.tzdata_versions(),
        "tzif_digest": digest_of(tzif), "tz_world_data_version": tz_world_version,
        "window_start_utc": common.iso_utc(w0), "window_end_utc": common.iso_utc(w1),
        "window_start_s": w0, "window_end_s": w1,
        "tzid_count": out.get_column("tzid").n_unique(), "segment_count": out.height,
        "transition_count": out.filter(pl.col("seq") > 0).height,
        "tz_index_digest": timetable_digest(out),
    })
    report = {k: manifest[k] for k in ("tzid_count", "segment_count", "transition_count", "window_start_utc",
                                       "window_end_utc", "tzdata_version", "tz_index_digest")}
    return StateResult(outputs={ds.TZ_TIMETABLE: out, ds.TZ_TIMETABLE_MANIFEST: manifest}, report=report)


# ---- checks (pure functions of the table; S5 re-runs them) -----------------------------------------


def order_problems(frame: pl.DataFrame, w0: int, w1: int) -> list:
    """Per tzid: seq 0..n−1, strictly increasing, contiguous, first at W.start, last ending at W.end."""
    bad: list = []
    for (tzid,), g in frame.sort("tzid", "seq").group_by(["tzid"], maintain_order=True):
        seq = g.get_column("seq").to_list()
        s = g.get_column("utc_start_s").to_list()
        e = g.get_column("utc_end_s").to_list()
        if seq != list(range(len(seq))) or s[0] != w0 or e[-1] != w1 or any(a >= b for a, b in zip(s, e)) \
                or any(e[i] != s[i + 1] for i in range(len(s) - 1)):
            bad.append(tzid)
    return bad


def offset_problems(frame: pl.DataFrame, bounds: tuple[int, int]) -> list:
    lo, hi = bounds[0] * 60, bounds[1] * 60
    bad = frame.filter((pl.col("offset_s") % 60 != 0) | (pl.col("offset_s") < lo) | (pl.col("offset_s") > hi))
    return common.key_list(bad.sort("tzid", "seq"), ["tzid", "seq"])


def coverage_problems(frame: pl.DataFrame, tz_world_tzids: Sequence[str]) -> list:
    return sorted(set(tz_world_tzids) - set(frame.get_column("tzid").unique().to_list()))


def crosscheck_problems(frame: pl.DataFrame) -> tuple[list, int]:
    """Every transition t: zoneinfo's state at t−1 = segment seq−1's, at t = segment seq's."""
    bad: list = []
    probes = 0
    prev: dict | None = None
    for r in frame.sort("tzid", "seq").iter_rows(named=True):
        if r["seq"] > 0 and prev is not None and prev["tzid"] == r["tzid"]:
            zone = common.load_zone(r["tzid"])
            t = r["utc_start_s"]
            probes += 2
            if common.zone_state(zone, t - 1) != (prev["offset_s"], prev["dst_s"]) \
                    or common.zone_state(zone, t) != (r["offset_s"], r["dst_s"]):
                bad.append([r["tzid"], r["seq"]])
        prev = r
    return bad, probes


_HORIZON_MEMO: dict[tuple, tuple[list, int]] = {}


def horizon_problems(frame: pl.DataFrame, keys: Sequence[str], w0: int, w1: int, step_s: int) -> tuple[list, int]:
    """At every `step_s` instant of W, for every key, the table's (offset, dst) = zoneinfo's.

    A pure function of the table's content and the tzdata bytes, memoised per process on
    both (S5 re-runs it on the written table: the same content is not probed twice).
    """
    import numpy as np

    law = frame.select("tzid", "seq", "utc_start_s", "offset_s", "dst_s")
    memo_key = (law.height, int(law.hash_rows(seed=11).sum()), tuple(sorted(keys)), w0, w1, step_s,
                id(common.tzif_bytes()))
    if memo_key in _HORIZON_MEMO:
        return _HORIZON_MEMO[memo_key]
    bad: list = []
    probes = 0
    grid = np.arange(w0, w1, step_s, dtype=np.int64)
    grid_list = grid.tolist()
    by_tzid = {k: g for (k,), g in law.sort("tzid", "seq").group_by(["tzid"], maintain_order=True)}
    for key in sorted(keys):
        g = by_tzid.get(key)
        if g is None:
            bad.append([key, "missing"])
            continue
        starts = g.get_column("utc_start_s").to_numpy()
        expected = [(timedelta(seconds=o), timedelta(seconds=d)) for o, d in
                    zip(g.get_column("offset_s").to_list(), g.get_column("dst_s").to_list())]
        j = (np.searchsorted(starts, grid, side="right") - 1).tolist()
        zone = common.load_zone(key)
        fromtimestamp = datetime.fromtimestamp
        probes += len(grid_list)
        for t, jj in zip(grid_list, j):
            d = fromtimestamp(t, zone)
            if jj < 0 or (d.utcoffset(), d.dst() or ZERO) != expected[jj]:
                bad.append([key, t])
                break
    _HORIZON_MEMO.clear()
    _HORIZON_MEMO[memo_key] = (bad, probes)
    return bad, probes


def _frame(result: StateResult) -> pl.DataFrame | None:
    return result.outputs.get(ds.TZ_TIMETABLE)


def _window(ctx: StateContext) -> tuple[int, int]:
    tt = ctx.config.timetable
    return common.window_s(ctx.world.preset, tt.pre_pad_days, tt.post_pad_days)


def check_digest(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """tzif_digest recomputed from the bytes actually loaded = the manifest's = the sealed reference rows."""
    from fraud_assets.reference.tzif_digest import digest_of

    manifest = result.outputs.get(ds.TZ_TIMETABLE_MANIFEST)
    if not isinstance(manifest, dict):
        return common.missing_output(CODE_DIGEST_INVALID, ds.TZ_TIMETABLE_MANIFEST)
    loaded = common.tzif_bytes()
    recomputed = digest_of(loaded)
    bad = [] if manifest.get("tzif_digest") == recomputed else [["manifest", manifest.get("tzif_digest")]]
    ref = inputs.get(ds.REF_TZIF_DIGEST)
    if ref is not None:
        import hashlib

        recorded = dict(ref.select("tzid", "tzif_sha256").iter_rows())
        bad += sorted([k, "sha256"] for k, v in loaded.items() if recorded.get(k) != hashlib.sha256(v).hexdigest())
        bad += sorted([k, "unsealed"] for k in set(recorded) - set(loaded))
    return common.outcome(CODE_DIGEST_INVALID, bad, len(loaded), tzif_digest=recomputed)


def check_empty(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    f = _frame(result)
    if f is None:
        return common.missing_output(CODE_INDEX_EMPTY, ds.TZ_TIMETABLE)
    return common.outcome(CODE_INDEX_EMPTY, ["empty"] if f.is_empty() else [], f.height)


def check_order(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    f = _frame(result)
    if f is None:
        return common.missing_output(CODE_ORDER_INVALID, ds.TZ_TIMETABLE)
    w0, w1 = _window(ctx)
    return common.outcome(CODE_ORDER_INVALID, order_problems(f, w0, w1), f.get_column("tzid").n_unique(),
                          window=[w0, w1])


def check_offset(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    f = _frame(result)
    if f is None:
        return common.missing_output(CODE_OFFSET_RANGE, ds.TZ_TIMETABLE)
    bounds = ctx.config.timetable.offset_bounds_minutes
    return common.outcome(CODE_OFFSET_RANGE, offset_problems(f, bounds), f.height, bounds_minutes=list(bounds))


def check_coverage(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    f = _frame(result)
    if f is None:
        return common.missing_output(CODE_COVERAGE, ds.TZ_TIMETABLE)
    tw = inputs[ds.S0_TZ_WORLD_SUMMARY].get_column("tzid").to_list()
    return common.outcome(CODE_COVERAGE, coverage_problems(f, tw), len(tw))


def check_crosscheck(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    f = _frame(result)
    if f is None:
        return common.missing_output(CODE_CROSSCHECK, ds.TZ_TIMETABLE)
    bad, probes = crosscheck_problems(f)
    return common.outcome(CODE_CROSSCHECK, bad, f.filter(pl.col("seq") > 0).height, probes=probes)


def check_horizon(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    f = _frame(result)
    if f is None:
        return common.missing_output(CODE_HORIZON_INCOMPLETE, ds.TZ_TIMETABLE)
    w0, w1 = _window(ctx)
    bad, probes = horizon_problems(f, list(common.tzif_bytes()), w0, w1,
                                   ctx.config.timetable.crosscheck_step_hours * 3600)
    return common.outcome(CODE_HORIZON_INCOMPLETE, bad, len(common.tzif_bytes()), probes=probes)
