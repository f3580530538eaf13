"""3B S1 — virtual classification and settlement (spec/engine/3B.md, "S1").

Classification of every `merchant_ids` row (merchant_id ascending):

1. `outlet_count` = the merchant's `outlet_catalogue` rows (0 if absent); `gdp_bucket` of
   the home country (3 if unmapped);
2. an override (`virtual_rules.overrides`) forces the mode: `rule_id = "OVERRIDE"`,
   reason `OVERRIDE_ACCEPT` (virtual/hybrid) or `OVERRIDE_DENY`; no uniform;
3. otherwise the first rule in config order with the merchant's channel and
   `mcc ∈ mccs ∪ ranges` (ranges filtered to `mcc_codes`) or `mcc: any` — the per-channel
   default rules guarantee a match;
4. rule decision NON_VIRTUAL → NON_VIRTUAL (`DEFAULT_GUARD` for a default rule, else
   `RULE_MATCH`), no uniform; otherwise `p = min(propensity · m_size · m_gdp, cap)` and,
   when p < 1, one uniform of `3B.s1.virtual`: `u < p` → the rule's mode (`RULE_MATCH`),
   else NON_VIRTUAL (`RULE_DECLINED`);
5. `edge_share` = 1 (VIRTUAL_ONLY), `lo + (hi − lo)·u` with one uniform of
   `3B.s1.hybrid_share` (HYBRID), 0 (NON_VIRTUAL).

Settlement of every `is_virtual` merchant, exactly 4 uniforms of `3B.s1.settlement`:
home-country candidates (population desc, geonameid asc, first `candidate_limit`), rank
buckets B1 = {rank 0} ∪ {capital}, B2..B5 (empty buckets dropped, renormalised), `u1` →
bucket, `u2` → city ∝ (population + offset)^exponent, `u3, u4` → address offset
`r = 3 km·√u3, θ = 2π·u4`. A country without cities anchors at its `world_countries`
representative point (`country_point`, city fields null, the uniforms still consumed).
`tzid_settlement`: the city tzid if the tzdata wheel loads it (`INGEST`), else the
resolver at the point, else the country's first zone.tab zone (both `DERIVED`).

RNG addressing: `common` (one uniform per block, lane 0; uniform j at block (0, j)).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from fraud_assets.core.errors import EngineFailure
from fraud_assets.engine.seg_3b import common
from fraud_assets.engine.seg_3b import datasets as ds
from fraud_assets.engine.seg_3b.config import Config3B
from fraud_assets.engine.seg_3b.policy import rule_mcc_set, summary_problems
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

FAMILY_VIRTUAL = "3B.s1.virtual"
FAMILY_HYBRID = "3B.s1.hybrid_share"
FAMILY_SETTLEMENT = "3B.s1.settlement"
FAMILIES = (FAMILY_VIRTUAL, FAMILY_HYBRID, FAMILY_SETTLEMENT)
SETTLEMENT_UNIFORMS = 4

CODE_GATE = "3B-S1-001"
CODE_MERCHANT_DOMAIN = "3B-S1-002"
CODE_RULE_UNMATCHED = "3B-S1-003"
CODE_DUPLICATE_KEY = "3B-S1-004"
CODE_SETTLEMENT_DOMAIN = "3B-S1-005"
CODE_TZ_FAILED = "3B-S1-006"
CODE_COORD_INVALID = "3B-S1-007"

CHECK_GATE = "gate_receipt_valid_3B"
CHECK_MERCHANT_DOMAIN = "classification_domain_3B"
CHECK_RULE_UNMATCHED = "rule_matched_3B"
CHECK_DUPLICATE_KEY = "s1_keys_unique_3B"
CHECK_SETTLEMENT_DOMAIN = "settlement_domain_3B"
CHECK_TZ_FAILED = "settlement_tz_resolved_3B"
CHECK_COORD_INVALID = "settlement_coords_valid_3B"

OVERRIDE = "OVERRIDE"
SETTLEMENT_DOMAIN = b"fa.3B.settlement"
GEONAMES_URL = "https://sws.geonames.org/{}/"
INGEST, DERIVED = "INGEST", "DERIVED"
GEONAMES_CITY, COUNTRY_POINT = "geonames_city", "country_point"
DEFAULT_GDP_BUCKET = 3


# ---- classification law ---------------------------------------------------------------------------


def size_multiplier(outlet_count: int, rows: Sequence[tuple[int, int | None, float]]) -> float:
    """The modifier row covering `max(outlet_count, 1)`."""
    n = max(int(outlet_count), 1)
    for lo, hi, mult in rows:
        if n >= lo and (hi is None or n <= hi):
            return float(mult)
    return 1.0


class RuleBook:
    """The ordered rules with their MCC sets resolved against `mcc_codes`."""

    def __init__(self, cfg: Config3B, known_mccs: frozenset[int]) -> None:
        self.rules = list(cfg.virtual_rules.rules)
        self.sets = [rule_mcc_set(r, known_mccs) for r in self.rules]
        self._memo: dict[tuple[str, int], int | None] = {}

    def match(self, channel: str, mcc: int) -> int | None:
        key = (channel, int(mcc))
        if key not in self._memo:
            self._memo[key] = next((i for i, (r, s) in enumerate(zip(self.rules, self.sets))
                                    if r.channel == channel and (s is None or mcc in s)), None)
        return self._memo[key]


def outlet_counts(merchants: pl.DataFrame, outlets: pl.DataFrame) -> pl.Series:
    counts = outlets.group_by("merchant_id").agg(pl.len().cast(pl.Int32).alias("outlet_count"))
    return (merchants.select("merchant_id").join(counts, on="merchant_id", how="left")
            .get_column("outlet_count").fill_null(0))


def classify(inputs: Mapping[str, Any], ctx: StateContext) -> tuple[pl.DataFrame, dict[str, int]]:
    """`virtual_classification_3B` and the uniforms drawn per family."""
    cfg: Config3B = ctx.config
    vr = cfg.virtual_rules
    mids = inputs[ds.MERCHANT_IDS].select(list(ds.MERCHANT_IDS_COLUMNS)).sort("merchant_id")
    oc = outlet_counts(mids, inputs[ds.OUTLET_CATALOGUE])
    buckets = dict(inputs[ds.REF_GDP_BUCKET].select("country_iso", "gdp_bucket").iter_rows())
    book = RuleBook(cfg, frozenset(inputs[ds.REF_MCC].get_column("mcc").to_list()))
    overrides = {o.merchant_id: o.mode for o in vr.overrides}
    n = mids.height
    ids = mids.get_column("merchant_id").to_numpy()
    mcc = mids.get_column("mcc").to_list()
    channel = mids.get_column("channel").to_list()
    home = mids.get_column("home_country_iso").to_list()
    outlets = oc.to_list()
    gdp = [int(buckets.get(c, DEFAULT_GDP_BUCKET)) for c in home]
    mode = ["NON_VIRTUAL"] * n
    reason: list[str | None] = [None] * n
    rule_id: list[str | None] = [None] * n
    rule_version: list[str | None] = [None] * n
    group: list[str | None] = [None] * n
    propensity = np.full(n, np.nan)
    p_virtual = np.full(n, np.nan)
    needs_u = np.zeros(n, dtype=bool)
    decision: list[str | None] = [None] * n
    for i in range(n):
        forced = overrides.get(int(ids[i]))
        if forced is not None:
            mode[i] = forced
            reason[i] = "OVERRIDE_DENY" if forced == "NON_VIRTUAL" else "OVERRIDE_ACCEPT"
            rule_id[i], rule_version[i], group[i] = OVERRIDE, vr.version, OVERRIDE
            propensity[i] = 0.0 if forced == "NON_VIRTUAL" else 1.0
            continue
        j = book.match(channel[i], mcc[i])
        if j is None:  # impossible with a validated policy (one default per channel); 3B-S1-003 reports it
            continue
        r = book.rules[j]
        rule_id[i], rule_version[i], group[i], propensity[i] = r.rule_id, r.rule_version, r.group, r.propensity
        decision[i] = r.decision
        if r.decision == "NON_VIRTUAL":
            reason[i] = "DEFAULT_GUARD" if r.default else "RULE_MATCH"
            continue
        p = min(r.propensity * size_multiplier(outlets[i], vr.modifiers.size)
                * float(vr.modifiers.gdp_bucket.get(gdp[i], 1.0)), vr.modifiers.propensity_cap)
        p_virtual[i] = p
        if p < 1.0:
            needs_u[i] = True
        else:
            mode[i], reason[i] = r.decision, "RULE_MATCH"
    u = common.uniforms(ctx.world, FAMILY_VIRTUAL, ids[needs_u], 1)
    for i, ui in zip(np.flatnonzero(needs_u).tolist(), u.tolist()):
        if ui < p_virtual[i]:
            mode[i], reason[i] = decision[i], "RULE_MATCH"
        else:
            mode[i], reason[i] = "NON_VIRTUAL", "RULE_DECLINED"
    mode_arr = np.asarray(mode, dtype=object)
    hybrid = mode_arr == "HYBRID"
    lo, hi = cfg.virtual_routing_policy.hybrid_edge_share
    share = np.where(mode_arr == "VIRTUAL_ONLY", 1.0, 0.0)
    uh = common.uniforms(ctx.world, FAMILY_HYBRID, ids[hybrid], 1)
    share[hybrid] = lo + (hi - lo) * uh
    frame = mids.with_columns(
        pl.Series("outlet_count", outlets, dtype=pl.Int32),
        pl.Series("gdp_bucket", gdp, dtype=pl.Int8),
        pl.Series("is_virtual", mode_arr != "NON_VIRTUAL", dtype=pl.Boolean),
        pl.Series("virtual_mode", mode, dtype=pl.String),
        pl.Series("edge_share", share, dtype=pl.Float64),
        pl.Series("decision_reason", reason, dtype=pl.String),
        pl.Series("rule_id", rule_id, dtype=pl.String),
        pl.Series("rule_version", rule_version, dtype=pl.String),
        pl.Series("rule_group", group, dtype=pl.String),
        pl.Series("propensity", propensity, dtype=pl.Float64).fill_nan(None),
        pl.Series("p_virtual", p_virtual, dtype=pl.Float64).fill_nan(None),
        pl.lit(vr.version, dtype=pl.String).alias("rules_policy_version"),
    )
    frame = ds.conform(ds.with_partition(frame, ctx.world.manifest_fingerprint, ctx.world.seed),
                       ds.VIRTUAL_CLASSIFICATION)
    draws = {FAMILY_VIRTUAL: int(needs_u.sum()), FAMILY_HYBRID: int(hybrid.sum())}
    return frame, draws


# ---- settlement law -------------------------------------------------------------------------------


def settlement_site_id(merchant_id: int) -> str:
    """lower-hex16 of the little-endian u64 of sha256(b"fa.3B.settlement" \\x1f dec(merchant_id))[0:8]."""
    digest = hashlib.sha256(SETTLEMENT_DOMAIN + b"\x1f" + b"%d" % int(merchant_id)).digest()
    return f"{int.from_bytes(digest[0:8], 'little'):016x}"


def candidates(cities: pl.DataFrame, countries: Sequence[str], limit: int) -> dict[str, pl.DataFrame]:
    """Per country its candidates: cities by population desc, geonameid asc, first `limit`."""
    sub = (cities.filter(pl.col("country_iso").is_in(sorted(set(countries))))
           .sort(["country_iso", "population", "geonameid"], descending=[False, True, False])
           .with_columns(pl.int_range(pl.len()).over("country_iso").alias("rank"))
           .filter(pl.col("rank") < limit))
    return {c: g for (c,), g in sub.group_by(["country_iso"], maintain_order=True)}


def bucket_plan(cand: pl.DataFrame, buckets: Sequence[Any]) -> list[tuple[str, float, np.ndarray]]:
    """(bucket name, probability, candidate positions) for the non-empty buckets, renormalised."""
    n = cand.height
    capital = np.flatnonzero(cand.get_column("is_capital").to_numpy())
    taken = np.zeros(n, dtype=bool)
    plan = []
    for b in buckets:
        lo, hi = b.ranks
        members = np.arange(min(lo, n), min(hi + 1, n), dtype=np.int64)
        if b.include_capital and capital.size:
            members = np.union1d(members, capital[:1])
        members = members[~taken[members]]
        taken[members] = True
        if members.size:
            plan.append((b.bucket, float(b.probability), members))
    total = sum(p for _, p, _ in plan)
    return [(name, p / total, m) for name, p, m in plan] if total > 0 else []


def settle(classification: pl.DataFrame, inputs: Mapping[str, Any],
           ctx: StateContext) -> tuple[pl.DataFrame, dict[str, int]]:
    cfg: Config3B = ctx.config
    sp = cfg.settlement_policy
    virt = classification.filter(pl.col("is_virtual")).select("merchant_id", "home_country_iso")
    ids = virt.get_column("merchant_id").to_numpy()
    homes = virt.get_column("home_country_iso").to_list()
    n = ids.size
    u = common.uniforms(ctx.world, FAMILY_SETTLEMENT, ids, SETTLEMENT_UNIFORMS).reshape(n, SETTLEMENT_UNIFORMS)
    cities = inputs[ds.REF_CITIES]
    cand = candidates(cities, homes, sp.candidate_limit)
    plans = {c: bucket_plan(g, sp.buckets) for c, g in cand.items()}
    reps = {r[0]: (r[1], r[2]) for r in inputs[ds.REF_COUNTRIES].select(
        "country_iso", "rep_lat_deg", "rep_lon_deg").iter_rows()}
    off, ex = sp.within_bucket.population_offset, sp.within_bucket.exponent
    geo: list[int | None] = [None] * n
    name: list[str | None] = [None] * n
    pop: list[int | None] = [None] * n
    bucket: list[str | None] = [None] * n
    city_tz: list[str | None] = [None] * n
    lat0 = np.zeros(n)
    lon0 = np.zeros(n)
    source = [COUNTRY_POINT] * n
    for i in range(n):
        c = homes[i]
        plan = plans.get(c)
        if plan:
            probs = np.array([p for _, p, _ in plan])
            b = common.inverse_cdf(probs, u[i, 0])
            bname, _, members = plan[b]
            g = cand[c]
            w = (g.get_column("population").to_numpy()[members].astype(np.float64) + off) ** ex
            row = g.row(int(members[common.inverse_cdf(w, u[i, 1])]), named=True)
            geo[i], name[i], pop[i], bucket[i] = row["geonameid"], row["name"], row["population"], bname
            city_tz[i], lat0[i], lon0[i], source[i] = row["tzid"], row["lat_deg"], row["lon_deg"], GEONAMES_CITY
        else:
            rep = reps.get(c)
            if rep is None or rep[0] is None or rep[1] is None:
                raise EngineFailure(CODE_COORD_INVALID, "settlement country has no city and no representative point",
                                    dataset=ds.VIRTUAL_SETTLEMENT, keys=[int(ids[i]), c])
            lat0[i], lon0[i] = rep
    r_km = sp.address_offset_km * np.sqrt(u[:, 2]) if n else np.zeros(0)
    lat, lon = common.offset_points(lat0, lon0, r_km, 2.0 * np.pi * u[:, 3] if n else np.zeros(0))
    tzid, tz_source = settlement_tz(city_tz, lat, lon, homes, inputs, cfg)
    frame = pl.DataFrame({
        "merchant_id": pl.Series(ids, dtype=pl.Int64),
        "settlement_site_id": [settlement_site_id(m) for m in ids.tolist()],
        "settlement_country_iso": pl.Series(homes, dtype=pl.String),
        "city_geonameid": pl.Series(geo, dtype=pl.Int64),
        "city_name": pl.Series(name, dtype=pl.String),
        "city_population": pl.Series(pop, dtype=pl.Int64),
        "city_bucket": pl.Series(bucket, dtype=pl.String),
        "lat_deg": pl.Series(lat, dtype=pl.Float64), "lon_deg": pl.Series(lon, dtype=pl.Float64),
        "tzid_settlement": pl.Series(tzid, dtype=pl.String), "tz_source": pl.Series(tz_source, dtype=pl.String),
        "coord_source": pl.Series(source, dtype=pl.String),
        "offset_km": pl.Series(r_km, dtype=pl.Float64),
        "evidence_url": pl.Series([GEONAMES_URL.format(g) if g is not None else None for g in geo], dtype=pl.String),
    }).with_columns(pl.lit(sp.version, dtype=pl.String).alias("settlement_policy_version"))
    frame = ds.conform(ds.with_partition(frame, ctx.world.manifest_fingerprint, ctx.world.seed),
                       ds.VIRTUAL_SETTLEMENT)
    return frame, {FAMILY_SETTLEMENT: SETTLEMENT_UNIFORMS * n}


def settlement_tz(city_tz: Sequence[str | None], lat: np.ndarray, lon: np.ndarray, countries: Sequence[str],
                  inputs: Mapping[str, Any], cfg: Config3B) -> tuple[list[str | None], list[str | None]]:
    """City tzid if it loads (INGEST); else the resolver at the point; else the first zone.tab zone (DERIVED)."""
    loads = common.loadable_tzids(inputs[ds.REF_TZIF_DIGEST])
    tz: list[str | None] = [t if t is not None and t in loads else None for t in city_tz]
    src: list[str | None] = [INGEST if t is not None else None for t in tz]
    todo = [i for i, t in enumerate(tz) if t is None]
    if todo:
        resolver = common.resolver_from(inputs, cfg.edge_topology.tz_resolver)
        res = resolver.resolve(lat[todo], lon[todo], [countries[i] for i in todo]).get_column("tzid").to_list()
        tab = common.zone_tab_sets(inputs[ds.REF_ZONE_TAB])
        for i, t in zip(todo, res):
            if t is not None and t in loads:
                tz[i], src[i] = t, DERIVED
                continue
            first = next((z for z in tab.get(countries[i], ()) if z in loads), None)
            if first is not None:
                tz[i], src[i] = first, DERIVED
    return tz, src


# ---- run ------------------------------------------------------------------------------------------


def run(inputs: Mapping[str, Any], ctx: StateContext) -> StateResult:
    classification, draws = classify(inputs, ctx)
    settlement, s_draws = settle(classification, inputs, ctx)
    draws.update(s_draws)
    keys = {FAMILY_VIRTUAL: draws[FAMILY_VIRTUAL], FAMILY_HYBRID: draws[FAMILY_HYBRID],
            FAMILY_SETTLEMENT: settlement.height}
    rng = [common.tally(f, keys[f], draws[f], draws[f]) for f in FAMILIES if draws[f]]
    modes = dict(classification.group_by("virtual_mode").len().iter_rows())
    report = common.jsonable({
        "merchants": classification.height, "virtual": settlement.height,
        "modes": {m: modes.get(m, 0) for m in ("NON_VIRTUAL", "HYBRID", "VIRTUAL_ONLY")},
        "reasons": dict(classification.group_by("decision_reason").len().sort("decision_reason").iter_rows()),
        "rules_virtual": dict(classification.filter(pl.col("is_virtual")).group_by("rule_id").len()
                              .sort("rule_id").iter_rows()),
        "coord_source": dict(settlement.group_by("coord_source").len().sort("coord_source").iter_rows()),
        "tz_source": dict(settlement.group_by("tz_source").len().sort("tz_source").iter_rows()),
        "draws": draws,
    })
    return StateResult(outputs={ds.VIRTUAL_CLASSIFICATION: classification, ds.VIRTUAL_SETTLEMENT: settlement},
                       rng=rng, report=report)


# ---- checks ---------------------------------------------------------------------------------------


def check_gate(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    """`3B-S1-001`: S0's summary passed and names this world."""
    doc = common.json_input(inputs.get(ds.S0_GATE_SUMMARY))
    problems = summary_problems(doc, ctx) if doc else ["s0_gate_summary_3B missing"]
    if doc and not doc.get("passed"):
        problems.append("S0 did not pass")
    return common.outcome(CODE_GATE, problems, 1)


def _frame(result: StateResult, dataset_id: str) -> pl.DataFrame | None:
    value = result.outputs.get(dataset_id)
    return value if isinstance(value, pl.DataFrame) else None


def check_merchant_domain(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    vc = _frame(result, ds.VIRTUAL_CLASSIFICATION)
    if vc is None:
        return common.missing_output(CODE_MERCHANT_DOMAIN, ds.VIRTUAL_CLASSIFICATION)
    mids = inputs[ds.MERCHANT_IDS].select("merchant_id")
    got = vc.select("merchant_id")
    bad = (mids.join(got, on="merchant_id", how="anti").get_column("merchant_id").to_list()
           + got.join(mids, on="merchant_id", how="anti").get_column("merchant_id").to_list())
    joined = vc.join(inputs[ds.MERCHANT_IDS], on="merchant_id", how="inner", suffix="_1a")
    changed = joined.filter((pl.col("mcc") != pl.col("mcc_1a")) | (pl.col("channel") != pl.col("channel_1a"))
                            | (pl.col("home_country_iso") != pl.col("home_country_iso_1a")))
    bad += changed.get_column("merchant_id").to_list()
    return common.outcome(CODE_MERCHANT_DOMAIN, sorted(set(bad)), mids.height)


def check_rule_unmatched(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    vc = _frame(result, ds.VIRTUAL_CLASSIFICATION)
    if vc is None:
        return common.missing_output(CODE_RULE_UNMATCHED, ds.VIRTUAL_CLASSIFICATION)
    bad = vc.filter(pl.col("rule_id").is_null() | pl.col("rule_version").is_null()
                    | pl.col("decision_reason").is_null())
    incoherent = vc.filter((pl.col("is_virtual") != (pl.col("virtual_mode") != "NON_VIRTUAL"))
                           | ((pl.col("virtual_mode") == "VIRTUAL_ONLY") & (pl.col("edge_share") != 1.0))
                           | ((pl.col("virtual_mode") == "NON_VIRTUAL") & (pl.col("edge_share") != 0.0))
                           | ((pl.col("virtual_mode") == "HYBRID")
                              & ~pl.col("edge_share").is_between(0.0, 1.0)))
    keys = sorted(set(bad.get_column("merchant_id").to_list() + incoherent.get_column("merchant_id").to_list()))
    return common.outcome(CODE_RULE_UNMATCHED, keys, vc.height, null_rule=bad.height, incoherent=incoherent.height)


def check_duplicate_key(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    bad: list[Any] = []
    total = 0
    for d in (ds.VIRTUAL_CLASSIFICATION, ds.VIRTUAL_SETTLEMENT):
        f = _frame(result, d)
        if f is None:
            return common.missing_output(CODE_DUPLICATE_KEY, d)
        total += f.height
        bad += f.filter(pl.col("merchant_id").is_duplicated()).get_column("merchant_id").unique().sort().to_list()
    return common.outcome(CODE_DUPLICATE_KEY, bad, total)


def check_settlement_domain(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    vc, vs = _frame(result, ds.VIRTUAL_CLASSIFICATION), _frame(result, ds.VIRTUAL_SETTLEMENT)
    if vc is None or vs is None:
        return common.missing_output(CODE_SETTLEMENT_DOMAIN, ds.VIRTUAL_SETTLEMENT)
    virt = vc.filter(pl.col("is_virtual")).select("merchant_id", "home_country_iso")
    got = vs.select("merchant_id", "settlement_country_iso")
    bad = (virt.join(got, on="merchant_id", how="anti").get_column("merchant_id").to_list()
           + got.join(virt, on="merchant_id", how="anti").get_column("merchant_id").to_list())
    moved = virt.join(got, on="merchant_id").filter(pl.col("home_country_iso") != pl.col("settlement_country_iso"))
    bad += moved.get_column("merchant_id").to_list()
    return common.outcome(CODE_SETTLEMENT_DOMAIN, sorted(set(bad)), virt.height)


def check_tz_failed(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    vs = _frame(result, ds.VIRTUAL_SETTLEMENT)
    if vs is None:
        return common.missing_output(CODE_TZ_FAILED, ds.VIRTUAL_SETTLEMENT)
    loads = common.loadable_tzids(inputs[ds.REF_TZIF_DIGEST])
    bad = vs.filter(pl.col("tzid_settlement").is_null() | ~pl.col("tzid_settlement").is_in(sorted(loads))
                    | ~pl.col("tz_source").is_in([INGEST, DERIVED]))
    return common.outcome(CODE_TZ_FAILED, bad.get_column("merchant_id").to_list(), vs.height)


def check_coord_invalid(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    vs = _frame(result, ds.VIRTUAL_SETTLEMENT)
    if vs is None:
        return common.missing_output(CODE_COORD_INVALID, ds.VIRTUAL_SETTLEMENT)
    bad = vs.filter(~pl.col("lat_deg").is_between(-90.0, 90.0) | ~pl.col("lon_deg").is_between(-180.0, 180.0)
                    | (pl.col("lon_deg") == -180.0) | pl.col("lat_deg").is_nan() | pl.col("lon_deg").is_nan()
                    | ((pl.col("coord_source") == GEONAMES_CITY) & pl.col("city_geonameid").is_null())
                    | ((pl.col("coord_source") == COUNTRY_POINT) & pl.col("city_geonameid").is_not_null()))
    return common.outcome(CODE_COORD_INVALID, bad.get_column("merchant_id").to_list(), vs.height)
