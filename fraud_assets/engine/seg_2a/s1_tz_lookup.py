"""2A S1 — time-zone lookup (spec/engine/2A.md, "S1"; FS, no RNG).

Every `site_locations` row gets exactly one civil tzid through the shared ladder
`engine.common.tz_resolve` (membership, ε-nudge, same-country tie-break, country
singleton, nearest same-country polygon, foreign snap). This state adds step 4,
the governed ambiguity overrides (`applies_to: unresolved`, active against the
horizon start), with precedence site (`"m|c|s"`) › mcc (`merchant_ids.mcc`, four
digits) › country. S1 never aborts on geometry: every border, offshore and
antimeridian case ends in a tzid, and the fallbacks are listed in the run report.

Checks: coverage (`2A-S1-050`), PK (`-051`), null tzid (`-052`), tzid ∈ TW
(`-053`), nudge pair (`-054`), provenance coherence (`-056`).
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
from fraud_assets.engine.seg_2a.realism import run_report
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_COVERAGE = "2A-S1-050"
CODE_PK = "2A-S1-051"
CODE_NULL_TZID = "2A-S1-052"
CODE_UNKNOWN_TZID = "2A-S1-053"
CODE_NUDGE_PAIR = "2A-S1-054"
CODE_RESOLUTION_INVALID = "2A-S1-056"

CHECK_COVERAGE = "s1_coverage"
CHECK_PK = "s1_primary_key"
CHECK_NULL_TZID = "s1_null_tzid"
CHECK_UNKNOWN_TZID = "s1_unknown_tzid"
CHECK_NUDGE_PAIR = "s1_nudge_pair"
CHECK_RESOLUTION = "s1_resolution_provenance"

KEY = ds.KEY


# ---- the lookup -----------------------------------------------------------------------------------


def resolver(inputs: Mapping[str, pl.DataFrame], cfg: Config2A) -> tr.TzResolver:
    world = tr.TzWorld.of(inputs[ds.REF_TZ_WORLD], cfg.tz_lookup.non_civil_prefixes)
    zones = tr.ZoneSets.from_frame(inputs[ds.S0_COUNTRY_ZONES].select("country_iso", "tzid", "rank", "in_zone_tab"),
                                   world.civil_tzids)
    return tr.TzResolver(world, zones, tr.LadderPolicy(cfg.tz_nudge.epsilon_degrees,
                                                       cfg.tz_lookup.foreign_snap_max_km))


def lookup(sites: pl.DataFrame, merchant_ids: pl.DataFrame, res: tr.TzResolver, cfg: Config2A,
           horizon_start) -> pl.DataFrame:  # noqa: ANN001 - date
    """`s1_tz_lookup` rows (without partition columns) for `sites`, in site-key order."""
    sites = sites.select(list(ds.SITE_LOCATIONS_SCHEMA)).sort(KEY)
    country = sites.get_column("legal_country_iso").to_list()
    table = active_overrides(cfg.tz_overrides.overrides, "unresolved", horizon_start)
    fn = None
    if any(table.values()):
        site = site_targets(sites)
        mcc = mcc_targets(sites, merchant_ids)
        fn = lambda idx: lookup_overrides(table, site, mcc, country, idx)  # noqa: E731
    out = res.resolve(sites.get_column("lat_deg").to_numpy(), sites.get_column("lon_deg").to_numpy(), country,
                      overrides=fn)
    return sites.hstack(out.rename({"tzid": "tzid_provisional"}))


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    cfg: Config2A = ctx.config
    w = ctx.world
    horizon_start = w.preset.horizon_start_utc.astimezone(timezone.utc).date()
    frame = lookup(inputs[ds.SITE_LOCATIONS], inputs[ds.MERCHANT_IDS], resolver(inputs, cfg), cfg, horizon_start)
    out = ds.conform(ds.with_partition(frame, w.manifest_fingerprint, w.seed), ds.S1_TZ_LOOKUP)
    report = run_report(out, cfg.validation.max_listed_exceptions)
    meta = {"sites": report["sites"], "distinct_tzids": report["distinct_tzids"],
            "fallbacks": report["fallbacks"], "exceptions": report["exceptions_count"],
            "out_of_country": report["out_of_country"],
            **{f"resolution.{k}": v for k, v in report["resolutions"].items()},
            "exceptions_listed": report["exceptions"][:20]}
    return StateResult(outputs={ds.S1_TZ_LOOKUP: out}, report=meta)


# ---- checks ---------------------------------------------------------------------------------------


def _keys(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(KEY)


def check_coverage(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = result.outputs.get(ds.S1_TZ_LOOKUP)
    if out is None:
        return common.missing_output(CODE_COVERAGE, ds.S1_TZ_LOOKUP)
    sites = _keys(inputs[ds.SITE_LOCATIONS])
    missing = sites.join(_keys(out), on=KEY, how="anti").sort(KEY)
    extra = _keys(out).join(sites, on=KEY, how="anti").sort(KEY)
    bad = [["missing", *k] for k in common.key_list(missing, KEY)] + [["extra", *k] for k in
                                                                       common.key_list(extra, KEY)]
    if out.height != sites.height:
        bad.append(["row_count", out.height, sites.height])
    return common.outcome(CODE_COVERAGE, bad, sites.height, missing=missing.height, extra=extra.height)


def check_pk(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = result.outputs.get(ds.S1_TZ_LOOKUP)
    if out is None:
        return common.missing_output(CODE_PK, ds.S1_TZ_LOOKUP)
    dup = _keys(out).filter(pl.struct(KEY).is_duplicated()).unique().sort(KEY)
    return common.outcome(CODE_PK, common.key_list(dup, KEY), out.height)


def tzid_problems(frame: pl.DataFrame, column: str, civil: set[str] | frozenset[str]) -> tuple[list, list]:
    null = common.key_list(frame.filter(pl.col(column).is_null()).sort(KEY), KEY)
    unknown = frame.filter(pl.col(column).is_not_null() & ~pl.col(column).is_in(sorted(civil))).sort(KEY)
    return null, [[*k, t] for k, t in zip(common.key_list(unknown, KEY), unknown.get_column(column).to_list())]


def check_null_tzid(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = result.outputs.get(ds.S1_TZ_LOOKUP)
    if out is None:
        return common.missing_output(CODE_NULL_TZID, ds.S1_TZ_LOOKUP)
    null = common.key_list(out.filter(pl.col("tzid_provisional").is_null()).sort(KEY), KEY)
    return common.outcome(CODE_NULL_TZID, null, out.height)


def check_unknown_tzid(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = result.outputs.get(ds.S1_TZ_LOOKUP)
    if out is None:
        return common.missing_output(CODE_UNKNOWN_TZID, ds.S1_TZ_LOOKUP)
    _, unknown = tzid_problems(out, "tzid_provisional", common.civil_tzids(inputs))
    return common.outcome(CODE_UNKNOWN_TZID, unknown, out.height)


def nudge_pair_problems(frame: pl.DataFrame) -> list:
    bad = frame.filter(pl.col("nudge_lat_deg").is_null() != pl.col("nudge_lon_deg").is_null()).sort(KEY)
    return common.key_list(bad, KEY)


def check_nudge_pair(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = result.outputs.get(ds.S1_TZ_LOOKUP)
    if out is None:
        return common.missing_output(CODE_NUDGE_PAIR, ds.S1_TZ_LOOKUP)
    return common.outcome(CODE_NUDGE_PAIR, nudge_pair_problems(out), out.height)


def resolution_problems(frame: pl.DataFrame) -> list:
    """override_scope set ⇔ resolution = override; distance set ⇔ snap/nearest; known resolutions."""
    bad = frame.filter(
        ~pl.col("resolution").is_in(list(tr.RESOLUTIONS)) | pl.col("resolution").is_null()
        | (pl.col("override_scope").is_not_null() != (pl.col("resolution") == tr.OVERRIDE))
        | (pl.col("fallback_distance_m").is_not_null() != pl.col("resolution").is_in(list(tr.DISTANCE_RESOLUTIONS)))
        | (pl.col("fallback_exception") & (pl.col("resolution") != tr.NEAREST_POLYGON))
        | (pl.col("nudge_lat_deg").is_not_null() != (pl.col("candidate_count") != 1))
    ).sort(KEY)
    return [[*k, r] for k, r in zip(common.key_list(bad, KEY), bad.get_column("resolution").to_list())]


def check_resolution(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = result.outputs.get(ds.S1_TZ_LOOKUP)
    if out is None:
        return common.missing_output(CODE_RESOLUTION_INVALID, ds.S1_TZ_LOOKUP)
    counts = dict(out.group_by("resolution").len().sort("resolution").iter_rows())
    return common.outcome(CODE_RESOLUTION_INVALID, resolution_problems(out), out.height, resolutions=counts)

