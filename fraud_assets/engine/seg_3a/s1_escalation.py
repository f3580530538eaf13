"""3A S1 — escalation queue (spec/engine/3A.md, "S1"; FS).

Per 1A pair `(m, c)`: `n = site_count` (rows of `outlet_catalogue`), the country's
structure from `s2_country_zone_priors` (`K`, `K_eff = 1/Σ share_effective²`, `top1`),
then the first matching rule of `zone_mixture_policy.escalation`:

  a. `K == 1` → monolithic `forced_monolithic`;
  b. `n < min_sites` → monolithic `below_min_sites`;
  c. `n ≥ force_escalation_sites` → escalated `forced_escalation`;
  d. `n·(1 − top1) < min_expected_secondary_sites` → monolithic `dominant_zone`;
  e. `p = clamp(σ(β0 + βn·ln n + βk·ln K_eff), p_min, p_max)`; `u` = one uniform (lane 0 of
     block `(0, 0)`) of family `3A.s1.escalation`, key `"{merchant_id}|{c}"`; `u < p` →
     escalated `default_escalation`, else monolithic `legacy_default`.

`p` is monotone in `n` and `K_eff` (βn, βk ≥ 0 by the config model). Exactly one draw
per rule-e row. A country absent from S2 fails closed (`3A-S1-002`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from fraud_assets.core import rng
from fraud_assets.core.errors import EngineFailure
from fraud_assets.engine.seg_3a import common
from fraud_assets.engine.seg_3a import datasets as ds
from fraud_assets.engine.seg_3a.config import Config3A, Escalation
from fraud_assets.engine.state import CheckOutcome, RngTally, StateContext, StateResult

FAMILY = ds.FAMILY_ESCALATION

CODE_GATE_RECEIPT = "3A-S1-001"
CODE_UNKNOWN_COUNTRY = "3A-S1-002"
CODE_DOMAIN_1A = "3A-S1-003"
CODE_SITE_COUNT = "3A-S1-004"
CODE_DUPLICATE_KEY = "3A-S1-005"
CODE_POLICY_REPLAY = "3A-S1-006"
CODE_RNG_ACCOUNTING = "3A-S1-007"

CHECK_GATE_RECEIPT = "s1_gate_receipt"
CHECK_UNKNOWN_COUNTRY = "s1_known_country"
CHECK_DOMAIN_1A = "s1_domain_equals_1A"
CHECK_SITE_COUNT = "s1_site_count"
CHECK_DUPLICATE_KEY = "s1_primary_key"
CHECK_POLICY_REPLAY = "s1_policy_replay"
CHECK_RNG_ACCOUNTING = "s1_rng_accounting"

FORCED_MONOLITHIC = "forced_monolithic"
BELOW_MIN_SITES = "below_min_sites"
FORCED_ESCALATION = "forced_escalation"
DOMINANT_ZONE = "dominant_zone"
DEFAULT_ESCALATION = "default_escalation"
LEGACY_DEFAULT = "legacy_default"
REASONS = (FORCED_MONOLITHIC, BELOW_MIN_SITES, DOMINANT_ZONE, FORCED_ESCALATION, DEFAULT_ESCALATION, LEGACY_DEFAULT)
ESCALATED_REASONS = (FORCED_ESCALATION, DEFAULT_ESCALATION)
STOCHASTIC = "stochastic"  # rule e before its draw


def site_counts(outlets: pl.DataFrame) -> pl.DataFrame:
    """`merchant_id, legal_country_iso, site_count: Int32` per 1A pair (row counts)."""
    return (outlets.group_by(common.PAIR).agg(pl.len().cast(pl.Int32).alias("site_count"))
            .sort(common.PAIR))


def country_structure(priors: pl.DataFrame) -> pl.DataFrame:
    """`legal_country_iso, zone_count_country (K), effective_zone_count (K_eff), top1_prior_share`."""
    return (priors.group_by("country_iso").agg(
        pl.col("zone_count_country").first(), pl.col("effective_zone_count").first(),
        pl.col("share_effective").max().alias("top1_prior_share"))
        .rename({"country_iso": "legal_country_iso"}).sort("legal_country_iso"))


def escalation_prob(n: np.ndarray, k_eff: np.ndarray, esc: Escalation) -> np.ndarray:
    """Rule e: `clamp(σ(β0 + βn ln n + βk ln K_eff), p_min, p_max)` (vectorised, float64)."""
    lg = esc.logistic
    x = lg.beta0 + lg.beta_log_sites * np.log(np.asarray(n, dtype=np.float64)) \
        + lg.beta_log_effective_zones * np.log(np.asarray(k_eff, dtype=np.float64))
    p = np.where(x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x))))
    lo, hi = esc.prob_bounds
    return np.clip(p, lo, hi)


def rule_ladder(frame: pl.DataFrame, esc: Escalation) -> pl.DataFrame:
    """+ `expected_secondary_sites`, `decision_reason` (rule e rows as `stochastic`) and `escalation_prob`."""
    n = pl.col("site_count")
    reason = (pl.when(pl.col("zone_count_country") == 1).then(pl.lit(FORCED_MONOLITHIC))
              .when(n < esc.min_sites).then(pl.lit(BELOW_MIN_SITES))
              .when(n >= esc.force_escalation_sites).then(pl.lit(FORCED_ESCALATION))
              .when(pl.col("expected_secondary_sites") < esc.min_expected_secondary_sites).then(pl.lit(DOMINANT_ZONE))
              .otherwise(pl.lit(STOCHASTIC)))
    out = frame.with_columns((n.cast(pl.Float64) * (1.0 - pl.col("top1_prior_share"))).alias("expected_secondary_sites")) \
        .with_columns(reason.alias("decision_reason"))
    stochastic = out.get_column("decision_reason").to_numpy() == STOCHASTIC
    prob = np.full(out.height, np.nan)
    if stochastic.any():
        prob[stochastic] = escalation_prob(out.get_column("site_count").to_numpy()[stochastic],
                                           out.get_column("effective_zone_count").to_numpy()[stochastic], esc)
    return out.with_columns(pl.Series("escalation_prob", prob, dtype=pl.Float64).fill_nan(None))


def escalation_uniforms(keys: list[str], root: rng.RngRoot, seed: int) -> np.ndarray:
    """One uniform per key: lane 0 of block (0, 0) of family `3A.s1.escalation`."""
    if not keys:
        return np.zeros(0, dtype=np.float64)
    sa = root.streams(FAMILY, keys, seed=seed)
    w0, _ = rng.blocks(sa.k, sa.c_hi, sa.c_lo, 0, 0)
    return rng.u01(w0)


def decide(outlets: pl.DataFrame, priors: pl.DataFrame, cfg: Config3A, world) -> tuple[pl.DataFrame, RngTally]:
    """The escalation queue (without partition columns) and the RNG tally of rule e."""
    esc = cfg.zone_mixture_policy.escalation
    pairs = site_counts(outlets)
    structure = country_structure(priors)
    j = pairs.join(structure, on="legal_country_iso", how="left")
    unknown = j.filter(pl.col("zone_count_country").is_null())
    if unknown.height:
        raise EngineFailure(CODE_UNKNOWN_COUNTRY, "1A pairs in countries without S2 priors",
                            dataset=ds.S2_PRIORS, keys=common.key_texts(unknown, common.PAIR))
    q = rule_ladder(j, esc)
    stochastic = q.get_column("decision_reason").to_numpy() == STOCHASTIC
    keys = common.pair_keys(q.filter(pl.Series(stochastic)))
    u = escalation_uniforms(keys, world.rng, world.seed)
    escalate = np.zeros(q.height, dtype=bool)
    escalate[stochastic] = u < q.get_column("escalation_prob").to_numpy()[stochastic]
    reason = q.get_column("decision_reason").to_numpy().astype(object)
    reason[stochastic] = np.where(escalate[stochastic], DEFAULT_ESCALATION, LEGACY_DEFAULT)
    q = q.with_columns(pl.Series("decision_reason", reason.tolist(), dtype=pl.String)).with_columns(
        pl.col("decision_reason").is_in(list(ESCALATED_REASONS)).alias("is_escalated"),
        pl.lit(cfg.zone_mixture_policy.version).alias("mixture_policy_version"))
    n = int(stochastic.sum())
    return q, common.tally(FAMILY, n, n, n)


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    cfg: Config3A = ctx.config
    w = ctx.world
    queue, t = decide(inputs[ds.OUTLET_CATALOGUE], inputs[ds.S2_PRIORS], cfg, w)
    out = ds.conform(common.with_partition(queue, w.manifest_fingerprint, w.seed), ds.S1_ESCALATION)
    by_reason = dict(out.group_by("decision_reason").len().sort("decision_reason").iter_rows())
    multi = out.filter((pl.col("zone_count_country") >= 2) & (pl.col("site_count") >= 2))
    report = {"pairs": out.height, "escalated": out.filter(pl.col("is_escalated")).height,
              "escalation_rate": out.filter(pl.col("is_escalated")).height / out.height if out.height else None,
              "escalation_rate_k2_n2": (multi.filter(pl.col("is_escalated")).height / multi.height
                                        if multi.height else None),
              "rule_e_draws": t.draws, **{f"reason.{k}": v for k, v in by_reason.items()}}
    return StateResult(outputs={ds.S1_ESCALATION: out}, rng=[t], report=common.jsonable(report))


# ---- checks ---------------------------------------------------------------------------------------


def _out(result: StateResult) -> pl.DataFrame | None:
    return result.outputs.get(ds.S1_ESCALATION)


def check_gate_receipt(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    receipt = common.json_input(inputs.get(ds.S0_GATE))
    bad = []
    if not receipt:
        bad.append("s0_gate_3A missing")
    else:
        if receipt.get("passed") is not True:
            bad.append("s0_gate_3A did not pass")
        for key in ("manifest_fingerprint", "parameter_hash", "seed"):
            if receipt.get(key) != getattr(ctx.world, key):
                bad.append(f"{key} differs from the world")
    return common.outcome(CODE_GATE_RECEIPT, bad, 1)


def check_unknown_country(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_UNKNOWN_COUNTRY, ds.S1_ESCALATION)
    known = inputs[ds.S2_PRIORS].get_column("country_iso").unique().to_list()
    bad = out.filter(~pl.col("legal_country_iso").is_in(known)).sort(common.PAIR)
    return common.outcome(CODE_UNKNOWN_COUNTRY, common.key_texts(bad, common.PAIR, bad.height), out.height)


def domain_problems(queue: pl.DataFrame, outlets: pl.DataFrame) -> list[str]:
    pairs = outlets.select(common.PAIR).unique()
    missing = pairs.join(queue.select(common.PAIR), on=common.PAIR, how="anti").sort(common.PAIR)
    extra = queue.select(common.PAIR).join(pairs, on=common.PAIR, how="anti").sort(common.PAIR)
    return [f"missing|{k}" for k in common.key_texts(missing, common.PAIR, missing.height)] + \
        [f"extra|{k}" for k in common.key_texts(extra, common.PAIR, extra.height)]


def check_domain_1a(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_DOMAIN_1A, ds.S1_ESCALATION)
    return common.outcome(CODE_DOMAIN_1A, domain_problems(out, inputs[ds.OUTLET_CATALOGUE]), out.height)


def site_count_problems(queue: pl.DataFrame, outlets: pl.DataFrame) -> list[str]:
    j = queue.select(*common.PAIR, "site_count").join(site_counts(outlets).rename({"site_count": "n1a"}),
                                                      on=common.PAIR, how="inner")
    bad = j.filter((pl.col("site_count") != pl.col("n1a")) | (pl.col("site_count") < 1)).sort(common.PAIR)
    return common.key_texts(bad, [*common.PAIR, "site_count", "n1a"], bad.height)


def check_site_count(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_SITE_COUNT, ds.S1_ESCALATION)
    return common.outcome(CODE_SITE_COUNT, site_count_problems(out, inputs[ds.OUTLET_CATALOGUE]), out.height)


def check_duplicate_key(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_DUPLICATE_KEY, ds.S1_ESCALATION)
    dup = out.select(common.PAIR).filter(pl.struct(common.PAIR).is_duplicated()).unique().sort(common.PAIR)
    return common.outcome(CODE_DUPLICATE_KEY, common.key_texts(dup, common.PAIR, dup.height), out.height)


REPLAY_COLUMNS = ("site_count", "zone_count_country", "effective_zone_count", "top1_prior_share",
                  "expected_secondary_sites", "is_escalated", "decision_reason", "escalation_prob")


def replay_problems(queue: pl.DataFrame, outlets: pl.DataFrame, priors: pl.DataFrame, cfg: Config3A,
                    world) -> tuple[list[str], RngTally]:
    """S1 re-decided from its inputs (rule e draws included) against the written queue."""
    again, t = decide(outlets, priors, cfg, world)
    cols = [*common.PAIR, *REPLAY_COLUMNS]
    a = queue.select(cols).sort(common.PAIR)
    b = ds.conform(common.with_partition(again, world.manifest_fingerprint, world.seed),
                   ds.S1_ESCALATION).select(cols)
    if a.height != b.height or not a.select(common.PAIR).equals(b.select(common.PAIR)):
        return ["pair set differs from the replay"], t
    diff = np.zeros(a.height, dtype=bool)
    for c in REPLAY_COLUMNS:
        x, y = a.get_column(c), b.get_column(c)
        if x.dtype == pl.Float64:
            xv, yv = x.to_numpy(), y.to_numpy()
            same = (np.isnan(xv) & np.isnan(yv)) | (np.abs(xv - yv) <= 1e-12)
            diff |= ~same
        else:
            diff |= ~(x.eq_missing(y)).to_numpy()
    bad = a.filter(pl.Series(diff)).sort(common.PAIR)
    return common.key_texts(bad, [*common.PAIR, "decision_reason"], bad.height), t


def check_policy_replay(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_POLICY_REPLAY, ds.S1_ESCALATION)
    bad, _ = replay_problems(out, inputs[ds.OUTLET_CATALOGUE], inputs[ds.S2_PRIORS], ctx.config, ctx.world)
    return common.outcome(CODE_POLICY_REPLAY, bad, out.height)


def rng_problems(queue: pl.DataFrame, tallies: list[RngTally]) -> list[str]:
    rule_e = queue.filter(pl.col("escalation_prob").is_not_null()).height
    mine = [t for t in tallies if t.family == FAMILY]
    got = (sum(t.keys for t in mine), sum(t.draws for t in mine), sum(t.blocks for t in mine))
    return [] if got == (rule_e, rule_e, rule_e) else [f"trace (keys, draws, blocks) {got} != rule-e rows {rule_e}"]


def check_rng_accounting(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_RNG_ACCOUNTING, ds.S1_ESCALATION)
    return common.outcome(CODE_RNG_ACCOUNTING, rng_problems(out, result.rng), out.height, family=FAMILY)
