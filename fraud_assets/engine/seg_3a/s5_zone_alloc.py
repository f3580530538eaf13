"""3A S5 — `zone_alloc` egress and the routing-universe hash (spec/engine/3A.md, "S5"; FS, no RNG).

`zone_alloc` covers every 1A pair and holds only rows with `zone_site_count ≥ 1`:

1. escalated pairs: the `s4_zone_counts` rows with a count ≥ 1;
2. monolithic pairs: one row, `zone_site_count = site_count`, `tzid` = the modal zone of the
   pair's 2A sites mapped by `engine.common.zone_canon` (ties: higher `share_effective`, then
   tzid asc); a pair without 2A sites takes the country's argmax zone.

`zone_alloc_digest = content_digest(zone_alloc minus routing_universe_hash, every other
column, PK order)`; components `priors_digest` (content digest of `s2_country_zone_priors`),
`mixture_policy_digest`, `prior_policy_digest`, `floor_policy_digest` (`common.policy_digests`)
and `zone_alloc_digest`; `routing_universe_hash = sha256(canonical_json(components))`, set on
every row and written with the components to `zone_alloc_universe_hash.json`.

Checks `3A-S5-001..006` (module bottom).
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from fraud_assets.core.canonical import canonical_sha256
from fraud_assets.core.digest import content_digest
from fraud_assets.engine.common import zone_canon
from fraud_assets.engine.seg_3a import common
from fraud_assets.engine.seg_3a import datasets as ds
from fraud_assets.engine.seg_3a.config import Config3A
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_PAIR_SET = "3A-S5-001"
CODE_CONSERVATION = "3A-S5-002"
CODE_ZONE_DOMAIN = "3A-S5-003"
CODE_DIGEST = "3A-S5-004"
CODE_HASH = "3A-S5-005"
CODE_ZERO_ROWS = "3A-S5-006"

CHECK_PAIR_SET = "s5_pair_set_equals_s1"
CHECK_CONSERVATION = "s5_conservation_1A"
CHECK_ZONE_DOMAIN = "s5_tzid_in_zones"
CHECK_DIGEST = "s5_zone_alloc_digest"
CHECK_HASH = "s5_routing_universe_hash"
CHECK_ZERO_ROWS = "s5_no_zero_rows"

HASH_VERSION = "zone_alloc_universe_hash.v1"
HASH_COLUMN = "routing_universe_hash"


def digest_columns() -> list[str]:
    return [c for c in ds.SCHEMAS[ds.ZONE_ALLOC] if c != HASH_COLUMN]


def zone_alloc_digest(frame: pl.DataFrame) -> str:
    """Content digest of `zone_alloc` without the hash column (no digest ↔ hash recursion)."""
    return content_digest(frame, digest_columns(), list(ds.PAIR_ZONE_SORT))


def priors_digest(priors: pl.DataFrame) -> str:
    return content_digest(priors, list(ds.SCHEMAS[ds.S2_PRIORS]), list(ds.COUNTRY_ZONE_SORT))


def universe_hash(components: Mapping[str, str]) -> str:
    return canonical_sha256(dict(components))


def monolithic_zones(mono: pl.DataFrame, site_tz: pl.DataFrame, canon: zone_canon.ZoneCanon,
                     priors: pl.DataFrame) -> pl.DataFrame:
    """`merchant_id, legal_country_iso, tzid` of each monolithic pair (modal mapped site zone)."""
    st = site_tz.select(*common.PAIR, "tzid").join(mono.select(common.PAIR), on=common.PAIR, how="semi")
    mapped = canon.map(st, country="legal_country_iso", tzid="tzid", zone="zone", mapping="how")
    share = priors.select(pl.col("country_iso").alias("legal_country_iso"), pl.col("tzid").alias("zone"),
                          "share_effective")
    modal = (mapped.group_by(*common.PAIR, "zone").agg(pl.len().alias("sites"))
             .join(share, on=["legal_country_iso", "zone"], how="left")
             .sort([*common.PAIR, "sites", "share_effective", "zone"], descending=[False, False, True, True, False],
                   nulls_last=True)
             .unique(common.PAIR, keep="first", maintain_order=True).select(*common.PAIR, pl.col("zone").alias("tzid")))
    no_sites = mono.select(common.PAIR).join(modal.select(common.PAIR), on=common.PAIR, how="anti")
    fallback = no_sites.join(canon.argmax.rename({"country_iso": "legal_country_iso", "zone_tzid": "tzid"}),
                             on="legal_country_iso", how="left")
    return pl.concat([modal, fallback.select(*common.PAIR, "tzid")]).sort(common.PAIR)


def build_zone_alloc(queue: pl.DataFrame, counts: pl.DataFrame, priors: pl.DataFrame, universe: pl.DataFrame,
                     site_tz: pl.DataFrame, links: pl.DataFrame, cfg: Config3A, world) -> tuple[pl.DataFrame, dict]:
    """(`zone_alloc` with partition columns and hash, the universe-hash document)."""
    canon = zone_canon.ZoneCanon.build(universe, links)
    alpha_sum = priors.group_by("country_iso").agg(pl.col("alpha_sum_country").first()) \
        .rename({"country_iso": "legal_country_iso"})
    q = queue.select(*common.PAIR, "site_count", "is_escalated", "decision_reason")
    esc = (counts.filter(pl.col("zone_site_count") >= 1).select(*common.PAIR_ZONE, "zone_site_count")
           .join(q, on=common.PAIR, how="inner")
           .join(alpha_sum, on="legal_country_iso", how="left"))
    mono_pairs = q.filter(~pl.col("is_escalated"))
    mono = (monolithic_zones(mono_pairs, site_tz, canon, priors).join(q, on=common.PAIR, how="inner")
            .with_columns(pl.col("site_count").alias("zone_site_count"),
                          pl.lit(None, dtype=pl.Float64).alias("alpha_sum_country")))
    cols = [*common.PAIR_ZONE, "zone_site_count", "site_count", "is_escalated", "decision_reason", "alpha_sum_country"]
    frame = (pl.concat([esc.select(cols), mono.select(cols)], how="vertical_relaxed")
             .with_columns((pl.col("zone_site_count").cast(pl.Float64) / pl.col("site_count").cast(pl.Float64))
                           .alias("zone_share"),
                           pl.lit(cfg.zone_prior_policy.version).alias("prior_policy_version"),
                           pl.lit(cfg.zone_floor_policy.version).alias("floor_policy_version"),
                           pl.lit(cfg.zone_mixture_policy.version).alias("mixture_policy_version"),
                           pl.lit("").alias(HASH_COLUMN)))
    frame = ds.conform(common.with_partition(frame, world.manifest_fingerprint, world.seed), ds.ZONE_ALLOC)
    za_digest = zone_alloc_digest(frame)
    components = {"priors_digest": priors_digest(priors), **common.policy_digests(cfg),
                  "zone_alloc_digest": za_digest}
    ruh = universe_hash(components)
    frame = frame.with_columns(pl.lit(ruh).alias(HASH_COLUMN))
    doc = {"manifest_fingerprint": world.manifest_fingerprint, "seed": world.seed,
           "parameter_hash": world.parameter_hash, "components": components, "zone_alloc_digest": za_digest,
           HASH_COLUMN: ruh, "version": HASH_VERSION}
    return frame, doc


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    cfg: Config3A = ctx.config
    frame, doc = build_zone_alloc(inputs[ds.S1_ESCALATION], inputs[ds.S4_COUNTS], inputs[ds.S2_PRIORS],
                                  inputs[ds.S2_UNIVERSE], inputs[ds.SITE_TIMEZONES], inputs[ds.REF_LINKS], cfg,
                                  ctx.world)
    per = frame.group_by(common.PAIR).agg(pl.len().alias("zones"), pl.col("zone_share").max().alias("top1"),
                                          pl.col("is_escalated").first())
    report = {"rows": frame.height, "pairs": per.height, "sites": int(frame.get_column("zone_site_count").sum()),
              "multi_zone_pairs": per.filter(pl.col("zones") > 1).height,
              "escalated_pairs": per.filter(pl.col("is_escalated")).height,
              "median_top1_share_escalated": common.median(
                  per.filter(pl.col("is_escalated")).get_column("top1").to_numpy()),
              HASH_COLUMN: doc[HASH_COLUMN]}
    return StateResult(outputs={ds.ZONE_ALLOC: frame, ds.UNIVERSE_HASH: doc}, report=common.jsonable(report))


# ---- checks ---------------------------------------------------------------------------------------


def _outs(result: StateResult) -> tuple[pl.DataFrame | None, dict | None]:
    doc = result.outputs.get(ds.UNIVERSE_HASH)
    return result.outputs.get(ds.ZONE_ALLOC), (common.json_input(doc) if doc is not None else None)


def pair_set_problems(alloc: pl.DataFrame, queue: pl.DataFrame) -> list[str]:
    a, b = alloc.select(common.PAIR).unique(), queue.select(common.PAIR)
    missing = b.join(a, on=common.PAIR, how="anti").sort(common.PAIR)
    extra = a.join(b, on=common.PAIR, how="anti").sort(common.PAIR)
    return [f"missing|{k}" for k in common.key_texts(missing, common.PAIR, missing.height)] + \
        [f"extra|{k}" for k in common.key_texts(extra, common.PAIR, extra.height)]


def conservation_problems(alloc: pl.DataFrame, outlets: pl.DataFrame) -> list[str]:
    n1a = outlets.group_by(common.PAIR).agg(pl.len().alias("n1a"))
    s = alloc.group_by(common.PAIR).agg(pl.col("zone_site_count").sum().alias("sum"),
                                        pl.col("site_count").min().alias("lo"), pl.col("site_count").max().alias("hi"))
    j = n1a.join(s, on=common.PAIR, how="full", coalesce=True)
    bad = j.filter(pl.col("sum").is_null() | pl.col("n1a").is_null() | (pl.col("sum") != pl.col("n1a"))
                   | (pl.col("lo") != pl.col("n1a")) | (pl.col("hi") != pl.col("n1a"))).sort(common.PAIR)
    return common.key_texts(bad, [*common.PAIR, "sum", "n1a"], bad.height)


def zone_domain_problems(alloc: pl.DataFrame, priors: pl.DataFrame) -> list[str]:
    zones = priors.select(pl.col("country_iso").alias("legal_country_iso"), "tzid")
    bad = alloc.select(common.PAIR_ZONE).join(zones, on=["legal_country_iso", "tzid"], how="anti").sort(common.PAIR_ZONE)
    return common.key_texts(bad, common.PAIR_ZONE, bad.height)


def zero_row_problems(alloc: pl.DataFrame) -> list[str]:
    bad = alloc.filter(pl.col("zone_site_count") < 1).sort(common.PAIR_ZONE)
    return common.key_texts(bad, common.PAIR_ZONE, bad.height)


def digest_problems(alloc: pl.DataFrame, doc: Mapping) -> list[str]:
    recomputed = zone_alloc_digest(alloc)
    bad = []
    if doc.get("zone_alloc_digest") != recomputed:
        bad.append(f"zone_alloc_digest {doc.get('zone_alloc_digest')} != recomputed {recomputed}")
    if (doc.get("components") or {}).get("zone_alloc_digest") != recomputed:
        bad.append("components.zone_alloc_digest differs from the recomputed digest")
    return bad


def hash_problems(alloc: pl.DataFrame, doc: Mapping, priors: pl.DataFrame, cfg: Config3A, world) -> list[str]:
    components = {"priors_digest": priors_digest(priors), **common.policy_digests(cfg),
                  "zone_alloc_digest": zone_alloc_digest(alloc)}
    expected = universe_hash(components)
    bad = []
    if dict(doc.get("components") or {}) != components:
        bad.append("components differ from the recomputed digests")
    if doc.get(HASH_COLUMN) != expected:
        bad.append(f"document hash {doc.get(HASH_COLUMN)} != recomputed {expected}")
    stored = alloc.get_column(HASH_COLUMN).unique().to_list()
    if stored != [expected]:
        bad.append(f"row hashes {stored[:3]} != recomputed {expected}")
    for key in ("manifest_fingerprint", "seed", "parameter_hash"):
        if doc.get(key) != getattr(world, key):
            bad.append(f"{key} differs from the world")
    return bad


def check_pair_set(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    alloc, _ = _outs(result)
    if alloc is None:
        return common.missing_output(CODE_PAIR_SET, ds.ZONE_ALLOC)
    return common.outcome(CODE_PAIR_SET, pair_set_problems(alloc, inputs[ds.S1_ESCALATION]), alloc.height)


def check_conservation(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    alloc, _ = _outs(result)
    if alloc is None:
        return common.missing_output(CODE_CONSERVATION, ds.ZONE_ALLOC)
    return common.outcome(CODE_CONSERVATION, conservation_problems(alloc, inputs[ds.OUTLET_CATALOGUE]), alloc.height)


def check_zone_domain(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    alloc, _ = _outs(result)
    if alloc is None:
        return common.missing_output(CODE_ZONE_DOMAIN, ds.ZONE_ALLOC)
    return common.outcome(CODE_ZONE_DOMAIN, zone_domain_problems(alloc, inputs[ds.S2_PRIORS]), alloc.height)


def check_zero_rows(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    alloc, _ = _outs(result)
    if alloc is None:
        return common.missing_output(CODE_ZERO_ROWS, ds.ZONE_ALLOC)
    return common.outcome(CODE_ZERO_ROWS, zero_row_problems(alloc), alloc.height)


def check_digest(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    alloc, doc = _outs(result)
    if alloc is None or doc is None:
        return common.missing_output(CODE_DIGEST, ds.UNIVERSE_HASH)
    return common.outcome(CODE_DIGEST, digest_problems(alloc, doc), 1)


def check_hash(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    alloc, doc = _outs(result)
    if alloc is None or doc is None:
        return common.missing_output(CODE_HASH, ds.UNIVERSE_HASH)
    return common.outcome(CODE_HASH, hash_problems(alloc, doc, inputs[ds.S2_PRIORS], ctx.config, ctx.world), 1)
