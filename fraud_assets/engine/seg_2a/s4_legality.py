"""2A S4 — DST legality: gap and fold windows of the used tzids (spec/engine/2A.md, "S4"; FS, no RNG).

`TZ_USED` = distinct `site_timezones.tzid`. For each transition (`seq ≥ 1`) at `t`
with `Δ = delta_prev_s`: `Δ > 0` is a **gap** (local wall times `[t + off_prev,
t + off_prev + Δ)` do not exist), `Δ < 0` a **fold** (`[t + off_new, t + off_prev)`
occur twice). A transition with `Δ = 0` changes only `dst` (see S3) and opens no
window; it is counted (`dst_only_transitions`), not an error.

The round trip through `engine.common.civil_time` is cross-checked against
`zoneinfo` for every used tzid: at `t − 1` and `t` of every transition and at every
6 h of the horizon (offset and wall time), and at the first, middle and last
second of every window (`local_to_utc` must flag a gap time `gap_shifted` and
equal PEP 495 `fold=0`; a fold time `fold_earliest` / `fold_latest` equal to
`fold=0` / `fold=1`). Expected mismatches: 0.

Checks: tzid missing from the timetable (`2A-S4-024`), window derivation
(`-061`), round-trip mismatch (`-062`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from fraud_assets.engine.common.civil_time import (
    FLAG_FOLD_EARLIEST,
    FLAG_FOLD_LATEST,
    FLAG_GAP_SHIFTED,
    FLAG_OK,
    CivilTime,
)
from fraud_assets.engine.seg_2a import common
from fraud_assets.engine.seg_2a import datasets as ds
from fraud_assets.engine.seg_2a.config import Config2A
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_TZID_MISSING = "2A-S4-024"
CODE_WINDOW_INVALID = "2A-S4-061"
CODE_CIVIL_TIME_MISMATCH = "2A-S4-062"

CHECK_TZID_MISSING = "s4_tzid_in_cache"
CHECK_WINDOW = "s4_window_derivation"
CHECK_CIVIL_TIME = "s4_civil_time_roundtrip"

GAP, FOLD = "gap", "fold"
US = 1_000_000
EPOCH = datetime(1970, 1, 1)


def windows(timetable: pl.DataFrame, used: Sequence[str], sites_using: Mapping[str, int],
            h0: int, h1: int) -> pl.DataFrame:
    """`s4_tz_windows` rows (without partition columns) for the used tzids."""
    tt = timetable.filter(pl.col("tzid").is_in(list(used))).sort("tzid", "seq").with_columns(
        pl.col("offset_s").shift(1).over("tzid").alias("off_prev"))
    tr = tt.filter((pl.col("seq") > 0) & (pl.col("delta_prev_s") != 0))
    gap = pl.col("delta_prev_s") > 0
    return tr.select(
        "tzid",
        pl.when(gap).then(pl.lit(GAP)).otherwise(pl.lit(FOLD)).alias("kind"),
        pl.col("utc_start_s").alias("utc_instant_s"),
        pl.when(gap).then(pl.col("utc_start_s") + pl.col("off_prev"))
        .otherwise(pl.col("utc_start_s") + pl.col("offset_s")).cast(pl.Int64).alias("local_start_s"),
        pl.when(gap).then(pl.col("utc_start_s") + pl.col("off_prev") + pl.col("delta_prev_s"))
        .otherwise(pl.col("utc_start_s") + pl.col("off_prev")).cast(pl.Int64).alias("local_end_s"),
        pl.col("delta_prev_s").alias("delta_s"),
        ((pl.col("utc_start_s") >= h0) & (pl.col("utc_start_s") < h1)).alias("in_horizon"),
        pl.col("tzid").replace_strict(dict(sites_using), default=0, return_dtype=pl.Int32).alias("sites_using"),
    )


def window_problems(win: pl.DataFrame, timetable: pl.DataFrame, used: Sequence[str]) -> list:
    """Sign/kind agreement, non-empty local ranges, Δ = off_new − off_prev, one window per Δ ≠ 0 transition."""
    tt = timetable.filter(pl.col("tzid").is_in(list(used))).sort("tzid", "seq").with_columns(
        pl.col("offset_s").shift(1).over("tzid").alias("off_prev"))
    expected = tt.filter((pl.col("seq") > 0) & (pl.col("delta_prev_s") != 0))
    bad: list = []
    wrong_delta = tt.filter((pl.col("seq") > 0) & (pl.col("delta_prev_s") != pl.col("offset_s") - pl.col("off_prev")))
    bad += [["delta", t, s] for t, s in wrong_delta.select("tzid", "seq").iter_rows()]
    exp_keys = set(expected.select("tzid", "utc_start_s").iter_rows())
    got_keys = set(win.select("tzid", "utc_instant_s").iter_rows())
    bad += [["missing_window", t, s] for t, s in sorted(exp_keys - got_keys)]
    bad += [["unexpected_window", t, s] for t, s in sorted(got_keys - exp_keys)]
    inconsistent = win.filter(
        (pl.col("delta_s") == 0) | (pl.col("local_start_s") >= pl.col("local_end_s"))
        | ((pl.col("kind") == GAP) != (pl.col("delta_s") > 0))
        | ((pl.col("local_end_s") - pl.col("local_start_s")) != pl.col("delta_s").abs()))
    bad += [["window", t, s] for t, s in inconsistent.select("tzid", "utc_instant_s").iter_rows()]
    return bad


def _naive_s(local_s: int) -> datetime:
    return EPOCH + timedelta(seconds=local_s)


def zoneinfo_local_to_utc(zone, local_s: int, fold: int) -> int:  # noqa: ANN001 - ZoneInfo
    """PEP 495: the UTC epoch second of a naive local time with `fold` (gap times use the pre-transition offset)."""
    return int(_naive_s(local_s).replace(tzinfo=zone, fold=fold).timestamp())


def crosscheck(ct: CivilTime, timetable: pl.DataFrame, win: pl.DataFrame, used: Sequence[str],
               h0: int, h1: int, step_s: int) -> tuple[int, list]:
    """(probes, mismatches) of civil_time against zoneinfo for the used tzids (see the module docstring)."""
    mismatches: list = []
    probes = 0
    grid = list(range(h0, h1, step_s))
    transitions = dict(timetable.filter(pl.col("seq") > 0).group_by("tzid").agg(pl.col("utc_start_s")).iter_rows())
    for tzid in sorted(used):
        zone = common.load_zone(tzid)
        instants = sorted(set(grid) | {t + d for t in transitions.get(tzid, []) for d in (-1, 0)})
        t_us = np.asarray(instants, dtype=np.int64) * US
        local_us, offset_s, _ = ct.utc_to_local(t_us, tzid)
        for t, lu, off in zip(instants, local_us.tolist(), offset_s.tolist()):
            probes += 1
            d = datetime.fromtimestamp(t, zone)
            z_off = int(d.utcoffset().total_seconds())
            z_wall = int((d.replace(tzinfo=None) - EPOCH).total_seconds())
            if z_off != off or z_wall * US != lu:
                mismatches.append([tzid, "utc_to_local", t])
        rows = win.filter(pl.col("tzid") == tzid)
        for kind, a, b in rows.select("kind", "local_start_s", "local_end_s").iter_rows():
            local = [a, (a + b) // 2, b - 1]
            arr = np.asarray(local, dtype=np.int64) * US
            early = ct.local_to_utc(arr, tzid, ambiguous="earliest")
            late = ct.local_to_utc(arr, tzid, ambiguous="latest")
            for k, ls in enumerate(local):
                probes += 1
                z0 = zoneinfo_local_to_utc(zone, ls, 0) * US
                z1 = zoneinfo_local_to_utc(zone, ls, 1) * US
                if kind == GAP:
                    ok = early.flag[k] == FLAG_GAP_SHIFTED and int(early.ts_utc_us[k]) == z0
                else:
                    ok = (early.flag[k] == FLAG_FOLD_EARLIEST and int(early.ts_utc_us[k]) == z0
                          and late.flag[k] == FLAG_FOLD_LATEST and int(late.ts_utc_us[k]) == z1)
                if not ok:
                    mismatches.append([tzid, kind, ls])
        # an ordinary local time on each side of each window round-trips with flag ok
        for a, b in rows.select("local_start_s", "local_end_s").iter_rows():
            for ls in (a - 3600, b + 3600):
                try:
                    back = ct.local_to_utc(np.asarray([ls * US]), tzid)
                except Exception:  # noqa: BLE001 - outside the window near W's ends: nothing to compare
                    continue
                probes += 1
                if back.flag[0] != FLAG_OK or int(back.ts_utc_us[0]) != zoneinfo_local_to_utc(zone, ls, 0) * US:
                    mismatches.append([tzid, "ordinary", ls])
    return probes, mismatches


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    cfg: Config2A = ctx.config
    w = ctx.world
    site_tz = inputs[ds.SITE_TIMEZONES]
    timetable = inputs[ds.TZ_TIMETABLE]
    counts = dict(site_tz.group_by("tzid").len().iter_rows())
    used_all = sorted(counts)
    cached = set(timetable.get_column("tzid").unique().to_list())
    missing = [t for t in used_all if t not in cached]
    used = [t for t in used_all if t in cached]
    h0, h1 = common.horizon_s(w.preset)
    win = windows(timetable, used, counts, h0, h1)
    out = ds.conform(ds.with_partition(win, w.manifest_fingerprint, w.seed), ds.S4_TZ_WINDOWS)
    ct = CivilTime(timetable)
    probes, mismatches = crosscheck(ct, timetable, win, used, h0, h1, cfg.timetable.crosscheck_step_hours * 3600)
    in_h = out.filter(pl.col("in_horizon"))
    exposed_tzids = set(in_h.get_column("tzid").to_list())
    dst_only = timetable.filter(pl.col("tzid").is_in(used) & (pl.col("seq") > 0) & (pl.col("delta_prev_s") == 0))
    report = common.jsonable({
        "status": "PASS" if not missing and not mismatches else "FAIL",
        "sites_total": site_tz.height, "tzids_used": len(used_all),
        "tzids_with_transitions_in_horizon": len(exposed_tzids),
        "gap_windows_in_horizon": in_h.filter(pl.col("kind") == GAP).height,
        "fold_windows_in_horizon": in_h.filter(pl.col("kind") == FOLD).height,
        "gap_windows": out.filter(pl.col("kind") == GAP).height,
        "fold_windows": out.filter(pl.col("kind") == FOLD).height,
        "dst_only_transitions": dst_only.height,
        "sites_exposed_to_transitions": int(sum(counts[t] for t in exposed_tzids)),
        "crosscheck_probes": probes, "crosscheck_mismatches": len(mismatches),
        "first_mismatches": mismatches[:10], "missing_tzids": missing,
        "horizon": {"start_utc": common.iso_utc(h0), "end_utc": common.iso_utc(h1)},
    })
    meta = {k: report[k] for k in ("status", "tzids_used", "tzids_with_transitions_in_horizon",
                                   "gap_windows_in_horizon", "fold_windows_in_horizon",
                                   "sites_exposed_to_transitions", "crosscheck_probes", "crosscheck_mismatches")}
    return StateResult(outputs={ds.S4_TZ_WINDOWS: out, ds.S4_LEGALITY_REPORT: report}, report=meta)


# ---- checks ---------------------------------------------------------------------------------------


def check_tzid_missing(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    used = set(inputs[ds.SITE_TIMEZONES].get_column("tzid").unique().to_list())
    cached = set(inputs[ds.TZ_TIMETABLE].get_column("tzid").unique().to_list())
    return common.outcome(CODE_TZID_MISSING, sorted(used - cached), len(used))


def check_window(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    win = result.outputs.get(ds.S4_TZ_WINDOWS)
    if win is None:
        return common.missing_output(CODE_WINDOW_INVALID, ds.S4_TZ_WINDOWS)
    used = sorted(set(inputs[ds.SITE_TIMEZONES].get_column("tzid").unique().to_list()))
    return common.outcome(CODE_WINDOW_INVALID, window_problems(win, inputs[ds.TZ_TIMETABLE], used), win.height)


def check_civil_time(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    rep = result.outputs.get(ds.S4_LEGALITY_REPORT)
    if not isinstance(rep, dict):
        return common.missing_output(CODE_CIVIL_TIME_MISMATCH, ds.S4_LEGALITY_REPORT)
    bad = list(rep.get("first_mismatches", []))
    if rep.get("crosscheck_mismatches", 0) and not bad:
        bad = ["mismatches"]
    return common.outcome(CODE_CIVIL_TIME_MISMATCH, bad, int(rep.get("crosscheck_probes", 0)),
                          mismatches=rep.get("crosscheck_mismatches"))

