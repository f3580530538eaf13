"""2A S2 — overrides and finalisation: `site_timezones` (spec/engine/2A.md, "S2"; FS, no RNG).

Active programme pins (`applies_to: always`) apply with precedence site › mcc ›
country: `tzid = pin.tzid`, `tzid_source = override`, `resolution = override_pin`.
A pin equal to the provisional tzid still records `override_pin` and is counted
as `override_no_effect` (a counter, never an error). Otherwise `tzid =
tzid_provisional` with `tzid_source` polygon (polygon, nudge, country_snap,
polygon_foreign, country_tiebreak), fallback (country_singleton, nearest_polygon)
or override (S1's override). `in_country` is re-derived for pinned rows from
`s0_country_zones`.

Checks: 1:1 with `s1_tz_lookup` (`2A-S2-050`), PK (`-051`), null tzid (`-052`),
provenance (`-054`), nudge carry (`-056`), tzid ∈ TW (`-057`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timezone

import polars as pl

from fraud_assets.engine.common import tz_resolve as tr
from fraud_assets.engine.seg_2a import common
from fraud_assets.engine.seg_2a import datasets as ds
from fraud_assets.engine.seg_2a.config import Config2A
from fraud_assets.engine.seg_2a.overrides import active_overrides, lookup_overrides, mcc_targets, site_targets
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

KEY = ds.KEY

CODE_COVERAGE = "2A-S2-050"
CODE_PK = "2A-S2-051"
CODE_NULL_TZID = "2A-S2-052"
CODE_PROVENANCE = "2A-S2-054"
CODE_NUDGE_CARRY = "2A-S2-056"
CODE_NOT_IN_TZ_WORLD = "2A-S2-057"

CHECK_COVERAGE = "s2_coverage"
CHECK_PK = "s2_primary_key"
CHECK_NULL_TZID = "s2_null_tzid"
CHECK_PROVENANCE = "s2_provenance"
CHECK_NUDGE_CARRY = "s2_nudge_carry"
CHECK_NOT_IN_TZ_WORLD = "s2_tzid_in_tz_world"

OVERRIDE_PIN = "override_pin"
SOURCE_POLYGON, SOURCE_FALLBACK, SOURCE_OVERRIDE = "polygon", "fallback", "override"
POLYGON_SOURCED = (tr.POLYGON, tr.NUDGE, tr.COUNTRY_SNAP, tr.POLYGON_FOREIGN, tr.COUNTRY_TIEBREAK)
SOURCE_OF = {**{r: SOURCE_POLYGON for r in POLYGON_SOURCED},
             **{r: SOURCE_FALLBACK for r in tr.FALLBACK_RESOLUTIONS}, tr.OVERRIDE: SOURCE_OVERRIDE,
             OVERRIDE_PIN: SOURCE_OVERRIDE}


def finalise(lookup: pl.DataFrame, merchant_ids: pl.DataFrame, country_zones: pl.DataFrame, cfg: Config2A,
             horizon_start) -> tuple[pl.DataFrame, dict]:  # noqa: ANN001 - date
    """`site_timezones` rows (without partition columns) and the pin counters."""
    lk = lookup.sort(KEY)
    pins = active_overrides(cfg.tz_overrides.overrides, "always", horizon_start)
    n = lk.height
    pin_tz: list[str | None] = [None] * n
    pin_scope: list[str | None] = [None] * n
    if any(pins.values()) and n:
        answers = lookup_overrides(pins, site_targets(lk), mcc_targets(lk, merchant_ids),
                                   lk.get_column("legal_country_iso").to_list(), range(n))
        pin_tz = [a[0] for a in answers]
        pin_scope = [a[1] for a in answers]
    zones = {(c, t) for c, t in country_zones.select("country_iso", "tzid").iter_rows()}
    has_zones = set(country_zones.get_column("country_iso").to_list())
    frame = lk.with_columns(pl.Series("pin_tzid", pin_tz, dtype=pl.String),
                            pl.Series("pin_scope", pin_scope, dtype=pl.String))
    pinned = pl.col("pin_tzid").is_not_null()
    frame = frame.with_columns(
        pl.when(pinned).then(pl.col("pin_tzid")).otherwise(pl.col("tzid_provisional")).alias("tzid"),
        pl.when(pinned).then(pl.lit(OVERRIDE_PIN)).otherwise(pl.col("resolution")).alias("resolution"),
        pl.when(pinned).then(pl.col("pin_scope")).otherwise(pl.col("override_scope")).alias("override_scope"),
    ).with_columns(pl.col("resolution").replace_strict(SOURCE_OF, return_dtype=pl.String).alias("tzid_source"))
    if frame.filter(pinned).height:
        recomputed = [c not in has_zones or (c, t) in zones
                      for c, t in frame.select("legal_country_iso", "tzid").iter_rows()]
        frame = frame.with_columns(pl.when(pinned).then(pl.Series(recomputed, dtype=pl.Boolean))
                                   .otherwise(pl.col("in_country")).alias("in_country"))
    counters = {
        "pins_active": sum(len(v) for v in pins.values()),
        "override_pin": frame.filter(pinned).height,
        "override_no_effect": frame.filter(pinned & (pl.col("pin_tzid") == pl.col("tzid_provisional"))).height,
        "pins_by_scope": dict(frame.filter(pinned).group_by("pin_scope").len().sort("pin_scope").iter_rows()),
    }
    return frame, counters


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    cfg: Config2A = ctx.config
    w = ctx.world
    horizon_start = w.preset.horizon_start_utc.astimezone(timezone.utc).date()
    frame, counters = finalise(inputs[ds.S1_TZ_LOOKUP], inputs[ds.MERCHANT_IDS], inputs[ds.S0_COUNTRY_ZONES],
                               cfg, horizon_start)
    out = ds.conform(ds.with_partition(frame, w.manifest_fingerprint, w.seed), ds.SITE_TIMEZONES)
    report = {"sites": out.height, "distinct_tzids": out.get_column("tzid").n_unique(), **counters,
              **{f"tzid_source.{k}": v for k, v in out.group_by("tzid_source").len().sort("tzid_source").iter_rows()}}
    return StateResult(outputs={ds.SITE_TIMEZONES: out}, report=common.jsonable(report))


# ---- checks ---------------------------------------------------------------------------------------


def _out(result: StateResult) -> pl.DataFrame | None:
    return result.outputs.get(ds.SITE_TIMEZONES)


def coverage_problems(site_tz: pl.DataFrame, lookup: pl.DataFrame) -> list:
    a, b = site_tz.select(KEY), lookup.select(KEY)
    missing = b.join(a, on=KEY, how="anti").sort(KEY)
    extra = a.join(b, on=KEY, how="anti").sort(KEY)
    bad = [["missing", *k] for k in common.key_list(missing, KEY)] + [["extra", *k] for k in
                                                                       common.key_list(extra, KEY)]
    if a.height != b.height:
        bad.append(["row_count", a.height, b.height])
    return bad


def check_coverage(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_COVERAGE, ds.SITE_TIMEZONES)
    return common.outcome(CODE_COVERAGE, coverage_problems(out, inputs[ds.S1_TZ_LOOKUP]), out.height)


def check_pk(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_PK, ds.SITE_TIMEZONES)
    dup = out.select(KEY).filter(pl.struct(KEY).is_duplicated()).unique().sort(KEY)
    return common.outcome(CODE_PK, common.key_list(dup, KEY), out.height)


def check_null_tzid(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_NULL_TZID, ds.SITE_TIMEZONES)
    return common.outcome(CODE_NULL_TZID, common.key_list(out.filter(pl.col("tzid").is_null()).sort(KEY), KEY),
                          out.height)


def check_not_in_tz_world(result: StateResult, inputs: Mapping[str, pl.DataFrame],
                          ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_NOT_IN_TZ_WORLD, ds.SITE_TIMEZONES)
    civil = sorted(common.civil_tzids(inputs))
    bad = out.filter(pl.col("tzid").is_not_null() & ~pl.col("tzid").is_in(civil)).sort(KEY)
    return common.outcome(CODE_NOT_IN_TZ_WORLD, [[*k, t] for k, t in zip(common.key_list(bad, KEY),
                                                                       bad.get_column("tzid").to_list())],
                          out.height)


def provenance_problems(site_tz: pl.DataFrame, lookup: pl.DataFrame) -> list:
    j = site_tz.join(lookup.select(*KEY, "tzid_provisional", pl.col("resolution").alias("resolution_s1"),
                                   pl.col("override_scope").alias("override_scope_s1")), on=KEY, how="inner")
    expected_source = pl.col("resolution").replace_strict(SOURCE_OF, default=None, return_dtype=pl.String)
    bad = j.filter(
        expected_source.is_null() | (pl.col("tzid_source") != expected_source)
        | ((pl.col("resolution") != OVERRIDE_PIN) & ((pl.col("resolution") != pl.col("resolution_s1"))
                                                      | (pl.col("tzid") != pl.col("tzid_provisional"))
                                                      | ~pl.col("override_scope").eq_missing(
                                                          pl.col("override_scope_s1"))))
        | ((pl.col("resolution") == OVERRIDE_PIN) & pl.col("override_scope").is_null())
        | (pl.col("override_scope").is_not_null()
           != pl.col("resolution").is_in([tr.OVERRIDE, OVERRIDE_PIN]))
    ).sort(KEY)
    return [[*k, r] for k, r in zip(common.key_list(bad, KEY), bad.get_column("resolution").to_list())]


def check_provenance(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_PROVENANCE, ds.SITE_TIMEZONES)
    return common.outcome(CODE_PROVENANCE, provenance_problems(out, inputs[ds.S1_TZ_LOOKUP]), out.height)


def nudge_carry_problems(site_tz: pl.DataFrame, lookup: pl.DataFrame) -> list:
    j = site_tz.select(*KEY, "nudge_lat_deg", "nudge_lon_deg").join(
        lookup.select(*KEY, "nudge_lat_deg", "nudge_lon_deg"), on=KEY, how="inner", suffix="_s1")
    bad = j.filter(~pl.col("nudge_lat_deg").eq_missing(pl.col("nudge_lat_deg_s1"))
                   | ~pl.col("nudge_lon_deg").eq_missing(pl.col("nudge_lon_deg_s1"))).sort(KEY)
    return common.key_list(bad, KEY)


def check_nudge_carry(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_NUDGE_CARRY, ds.SITE_TIMEZONES)
    return common.outcome(CODE_NUDGE_CARRY, nudge_carry_problems(out, inputs[ds.S1_TZ_LOOKUP]), out.height)
