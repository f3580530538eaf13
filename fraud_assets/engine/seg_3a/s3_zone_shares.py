"""3A S3 — zone shares by a site-anchored Dirichlet draw (spec/engine/3A.md, "S3"; FS).

For every escalated pair `(m, c)` (S1), with `Z_ord(c)` its material zones by tzid:

1. site anchor `ŝ(z)`: the pair's 2A sites mapped into `Z(c)` by
   `engine.common.zone_canon` (material, merged, link, else the country's argmax zone —
   counted as `site_tz_foreign`), `ŝ = counts/n`; the pair's 2A rows must number
   `site_count` (`3A-S3-008 SITE_TZ_MISSING`, fail closed);
2. `center = (1 − w)·share_effective + w·ŝ`, `w = site_anchor_weight`;
3. `ζ` = one standard normal of family `3A.s3.dispersion`, key `"{m}|{c}"` (Box–Muller
   cosine branch, both lanes of block (0, 0): 2 uniforms, 1 block);
   `κ = concentration_scale·alpha_sum_country·exp(σκ·clip(ζ, −kappa_clip_sd, kappa_clip_sd))`;
4. `α_z = max(κ·center_z, alpha_floor)`;
5. one Gamma(α_z) per zone in `Z_ord` order from family `3A.s3.dirichlet`, key `"{m}|{c}"`,
   consuming blocks sequentially from `(0, 0)` with `core.rng`'s Marsaglia–Tsang sampler
   (`gamma_nb`; 3 uniforms and 2 blocks per attempt). In log space: `lnG = ln(G)` for
   `α ≥ 1`; for `α < 1`, `lnG = ln G(α + 1) + ln(u)/α` with `u` one more block (lane 0)
   after the boosted draw — `core.rng`'s consumption exactly, without the underflow of
   `G·u^(1/α)` at `α = 1e-3`;
6. `share_drawn = softmax(lnG)` (max subtracted).

The kernel `dirichlet_nb` (numba, over pairs in CSR layout, built on `core.rng`'s
numba path) sits beside its plain-Python reference `dirichlet_py`; tests pin them bit
for bit. Values depend only on each pair's key and inputs, so pair order is irrelevant.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numba
import numpy as np
import polars as pl

from fraud_assets.core import rng
from fraud_assets.core.errors import EngineFailure
from fraud_assets.core.rng import gamma_nb, philox_block_nb, u01_nb
from fraud_assets.engine.common import zone_canon
from fraud_assets.engine.seg_3a import common
from fraud_assets.engine.seg_3a import datasets as ds
from fraud_assets.engine.seg_3a.config import Config3A
from fraud_assets.engine.state import CheckOutcome, RngTally, StateContext, StateResult

FAMILY_DISPERSION = ds.FAMILY_DISPERSION
FAMILY_DIRICHLET = ds.FAMILY_DIRICHLET

CODE_DOMAIN_S1 = "3A-S3-001"
CODE_ZONE_SET = "3A-S3-002"
CODE_SHARE_SUM = "3A-S3-003"
CODE_ALPHA_INVALID = "3A-S3-004"
CODE_RNG_ACCOUNTING = "3A-S3-005"
CODE_REPLAY = "3A-S3-006"
CODE_SITE_TZ_MISSING = "3A-S3-008"

CHECK_DOMAIN_S1 = "s3_domain_equals_s1"
CHECK_ZONE_SET = "s3_zone_set"
CHECK_SHARE_SUM = "s3_share_sum"
CHECK_ALPHA = "s3_alpha_valid"
CHECK_RNG = "s3_rng_accounting"
CHECK_REPLAY = "s3_replay"
CHECK_SITE_TZ = "s3_site_tz_coverage"

REPLAY_TOL = 1e-12
_ZERO = np.uint64(0)
_ONE = np.uint64(1)


# ---- the Dirichlet kernel ---------------------------------------------------------------------------


@numba.njit(cache=True)
def dirichlet_nb(k, c_hi, c_lo, offsets, alpha):
    """Per pair i (zones offsets[i]..offsets[i+1]): log-gammas, softmax shares, uniforms, blocks."""
    n_pairs = offsets.shape[0] - 1
    lng = np.empty(alpha.shape[0], dtype=np.float64)
    share = np.empty(alpha.shape[0], dtype=np.float64)
    uniforms = np.zeros(n_pairs, dtype=np.int64)
    nblocks = np.zeros(n_pairs, dtype=np.int64)
    for i in range(n_pairs):
        q = _ZERO
        for j in range(offsets[i], offsets[i + 1]):
            a = alpha[j]
            if a >= 1.0:
                g, u, b, q = gamma_nb(k[i], c_hi[i], c_lo[i], _ZERO, q, a)
                lng[j] = math.log(g)
            else:
                g, u, b, q = gamma_nb(k[i], c_hi[i], c_lo[i], _ZERO, q, a + 1.0)
                w0, _w1 = philox_block_nb(k[i], c_hi[i], c_lo[i], _ZERO, q)
                q = q + _ONE
                lng[j] = math.log(g) + math.log(u01_nb(w0)) / a
                u += 1
                b += 1
            uniforms[i] += u
            nblocks[i] += b
        m = -np.inf
        for j in range(offsets[i], offsets[i + 1]):
            m = max(m, lng[j])
        s = 0.0
        for j in range(offsets[i], offsets[i + 1]):
            share[j] = math.exp(lng[j] - m)
            s += share[j]
        for j in range(offsets[i], offsets[i + 1]):
            share[j] = share[j] / s
    return lng, share, uniforms, nblocks


def dirichlet_py(stream: rng.Stream, alpha: list[float]) -> tuple[list[float], list[float], int, int]:
    """Plain-Python reference of one pair: (lnG, shares, uniforms, blocks) — `dirichlet_nb` bit for bit."""
    k, c_hi, c_lo = stream
    q = 0
    lng: list[float] = []
    uniforms = blocks = 0
    for a in alpha:
        if a >= 1.0:
            d = rng.gamma_py(k, c_hi, c_lo, 0, q, a)
            q = d.next_q
            lng.append(math.log(d.value))
            uniforms += d.uniforms
            blocks += d.blocks
        else:
            d = rng.gamma_py(k, c_hi, c_lo, 0, q, a + 1.0)
            w0, _ = rng.block(stream, 0, d.next_q)
            q = (d.next_q + 1) & rng.MASK64
            lng.append(math.log(d.value) + math.log(rng.u01_py(w0)) / a)
            uniforms += d.uniforms + 1
            blocks += d.blocks + 1
    m = max(lng)
    e = [math.exp(x - m) for x in lng]
    s = 0.0
    for x in e:
        s += x
    return lng, [x / s for x in e], uniforms, blocks


def kappa_of(zeta: np.ndarray, alpha_sum: np.ndarray, cfg: Config3A) -> np.ndarray:
    d = cfg.zone_mixture_policy.dispersion
    return d.concentration_scale * np.asarray(alpha_sum, dtype=np.float64) * np.exp(
        d.kappa_log_sigma * np.clip(np.asarray(zeta, dtype=np.float64), -d.kappa_clip_sd, d.kappa_clip_sd))


# ---- the site anchor ----------------------------------------------------------------------------------


def site_zone_counts(site_tz: pl.DataFrame, canon: zone_canon.ZoneCanon,
                     pairs: pl.DataFrame | None = None) -> pl.DataFrame:
    """`merchant_id, legal_country_iso, tzid (zone), sites, foreign` per pair and mapped zone."""
    st = site_tz.select(*common.PAIR, "tzid")
    if pairs is not None:
        st = st.join(pairs.select(common.PAIR), on=common.PAIR, how="semi")
    mapped = canon.map(st, country="legal_country_iso", tzid="tzid", zone="zone", mapping="how")
    return (mapped.group_by(*common.PAIR, "zone").agg(
        pl.len().cast(pl.Int64).alias("sites"), (pl.col("how") == zone_canon.FOREIGN).sum().alias("foreign"))
        .rename({"zone": "tzid"}).sort(common.PAIR_ZONE))


def coverage_problems(escalated: pl.DataFrame, site_tz: pl.DataFrame) -> list[str]:
    """Escalated pairs whose 2A row count differs from `site_count` (`3A-S3-008`)."""
    n2a = site_tz.group_by(common.PAIR).agg(pl.len().alias("n2a"))
    j = escalated.select(*common.PAIR, "site_count").join(n2a, on=common.PAIR, how="left")
    bad = j.filter(pl.col("n2a").is_null() | (pl.col("n2a") != pl.col("site_count"))).sort(common.PAIR)
    return common.key_texts(bad.with_columns(pl.col("n2a").fill_null(0)), [*common.PAIR, "site_count", "n2a"],
                            bad.height)


# ---- the state computation ------------------------------------------------------------------------------


@dataclass
class Shares:
    frame: pl.DataFrame  # s3_zone_shares without partition columns
    tallies: list[RngTally]
    site_tz_foreign: int
    sites: int


def compute(queue: pl.DataFrame, priors: pl.DataFrame, universe: pl.DataFrame, site_tz: pl.DataFrame,
            links: pl.DataFrame, cfg: Config3A, world) -> Shares:
    disp = cfg.zone_mixture_policy.dispersion
    esc = queue.filter(pl.col("is_escalated")).select(*common.PAIR, "site_count").sort(common.PAIR)
    missing = coverage_problems(esc, site_tz)
    if missing:
        raise EngineFailure(CODE_SITE_TZ_MISSING, "escalated pairs whose 2A sites do not cover site_count",
                            dataset=ds.SITE_TIMEZONES, keys=missing)
    canon = zone_canon.ZoneCanon.build(universe, links)
    counts = site_zone_counts(site_tz, canon, esc)
    grid = (esc.join(priors.select(pl.col("country_iso").alias("legal_country_iso"), "tzid",
                                   pl.col("share_effective").alias("prior_share"), "alpha_sum_country",
                                   "prior_policy_version"), on="legal_country_iso", how="inner")
            .join(counts.select(*common.PAIR_ZONE, "sites"), on=common.PAIR_ZONE, how="left")
            .with_columns((pl.col("sites").fill_null(0).cast(pl.Float64) / pl.col("site_count").cast(pl.Float64))
                          .alias("site_share"))
            .with_columns(((1.0 - disp.site_anchor_weight) * pl.col("prior_share")
                           + disp.site_anchor_weight * pl.col("site_share")).alias("center_share"))
            .sort(common.PAIR_ZONE))
    keys = common.pair_keys(esc)
    n = len(keys)
    if n:
        zeta = rng.sample_normal(world.rng.streams(FAMILY_DISPERSION, keys, seed=world.seed)).values
        first = grid.unique(common.PAIR, keep="first", maintain_order=True)
        if not first.select(common.PAIR).equals(esc.select(common.PAIR)):  # every pair has ≥ 1 material zone
            raise EngineFailure(CODE_ZONE_SET, "escalated pairs without material zones in S2",
                                dataset=ds.S2_PRIORS, keys=common.key_texts(
                                    esc.join(first, on=common.PAIR, how="anti"), common.PAIR))
        kappa = kappa_of(zeta, first.get_column("alpha_sum_country").to_numpy(), cfg)
        sizes = grid.group_by(common.PAIR, maintain_order=True).len().get_column("len").to_numpy()
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        kappa_rows = np.repeat(kappa, sizes)
        alpha = np.maximum(kappa_rows * grid.get_column("center_share").to_numpy(), disp.alpha_floor)
        sa = world.rng.streams(FAMILY_DIRICHLET, keys, seed=world.seed)
        _, share, uniforms, nblocks = dirichlet_nb(sa.k, sa.c_hi, sa.c_lo, offsets, alpha)
    else:
        kappa_rows = alpha = share = np.zeros(0)
        uniforms = nblocks = np.zeros(0, dtype=np.int64)
    frame = grid.with_columns(pl.Series("kappa", kappa_rows, dtype=pl.Float64),
                              pl.Series("alpha", alpha, dtype=pl.Float64),
                              pl.Series("share_drawn", share, dtype=pl.Float64)).with_columns(
        pl.col("share_drawn").sum().over(common.PAIR).alias("share_sum_country"),
        pl.lit(cfg.zone_mixture_policy.version).alias("mixture_policy_version"))
    tallies = [common.tally(FAMILY_DISPERSION, n, 2 * n, n),
               common.tally(FAMILY_DIRICHLET, n, int(np.sum(uniforms)), int(np.sum(nblocks)))]
    foreign = int(counts.get_column("foreign").sum()) if counts.height else 0
    return Shares(frame, tallies, foreign, int(esc.get_column("site_count").sum()) if n else 0)


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    cfg: Config3A = ctx.config
    w = ctx.world
    res = compute(inputs[ds.S1_ESCALATION], inputs[ds.S2_PRIORS], inputs[ds.S2_UNIVERSE], inputs[ds.SITE_TIMEZONES],
                  inputs[ds.REF_LINKS], cfg, w)
    out = ds.conform(common.with_partition(res.frame, w.manifest_fingerprint, w.seed), ds.S3_SHARES)
    pairs = out.select(common.PAIR).unique().height
    report = {"escalated_pairs": pairs, "rows": out.height, "zones_per_pair": out.height / pairs if pairs else None,
              "site_tz_foreign": res.site_tz_foreign, "sites": res.sites,
              "kappa_median": common.median(out.unique(common.PAIR).get_column("kappa").to_numpy()),
              **{f"draws.{t.family}": t.draws for t in res.tallies}}
    return StateResult(outputs={ds.S3_SHARES: out}, rng=res.tallies, report=common.jsonable(report))


# ---- checks ---------------------------------------------------------------------------------------


def _out(result: StateResult) -> pl.DataFrame | None:
    return result.outputs.get(ds.S3_SHARES)


def domain_problems(shares: pl.DataFrame, queue: pl.DataFrame) -> list[str]:
    esc = queue.filter(pl.col("is_escalated")).select(common.PAIR)
    have = shares.select(common.PAIR).unique()
    missing = esc.join(have, on=common.PAIR, how="anti").sort(common.PAIR)
    extra = have.join(esc, on=common.PAIR, how="anti").sort(common.PAIR)
    return [f"missing|{k}" for k in common.key_texts(missing, common.PAIR, missing.height)] + \
        [f"extra|{k}" for k in common.key_texts(extra, common.PAIR, extra.height)]


def zone_set_problems(frame: pl.DataFrame, priors: pl.DataFrame) -> list[str]:
    """Per pair, the tzids equal the material zones of the pair's country (no more, no fewer)."""
    material = priors.select(pl.col("country_iso").alias("legal_country_iso"), "tzid")
    expected = frame.select(common.PAIR).unique().join(material, on="legal_country_iso", how="inner")
    have = frame.select(common.PAIR_ZONE)
    missing = expected.join(have, on=common.PAIR_ZONE, how="anti").sort(common.PAIR_ZONE)
    extra = have.join(expected, on=common.PAIR_ZONE, how="anti").sort(common.PAIR_ZONE)
    dup = have.filter(pl.struct(common.PAIR_ZONE).is_duplicated()).unique().sort(common.PAIR_ZONE)
    return [f"missing|{k}" for k in common.key_texts(missing, common.PAIR_ZONE, missing.height)] + \
        [f"extra|{k}" for k in common.key_texts(extra, common.PAIR_ZONE, extra.height)] + \
        [f"duplicate|{k}" for k in common.key_texts(dup, common.PAIR_ZONE, dup.height)]


def share_sum_problems(shares: pl.DataFrame, tol: float) -> list[str]:
    s = shares.group_by(common.PAIR).agg(pl.col("share_drawn").sum().alias("s"),
                                         pl.col("share_sum_country").first().alias("stored"),
                                         pl.col("site_share").sum().alias("anchor"),
                                         pl.col("share_drawn").min().alias("lo"), pl.col("share_drawn").max().alias("hi"))
    bad = s.filter(((pl.col("s") - 1.0).abs() > tol) | ((pl.col("stored") - pl.col("s")).abs() > tol)
                   | ((pl.col("anchor") - 1.0).abs() > 1e-9) | (pl.col("lo") < 0) | (pl.col("hi") > 1)
                   | pl.col("s").is_nan()).sort(common.PAIR)
    return common.key_texts(bad, [*common.PAIR, "s"], bad.height)


def alpha_problems(shares: pl.DataFrame, cfg: Config3A) -> list[str]:
    floor = cfg.zone_mixture_policy.dispersion.alpha_floor
    bad = shares.filter(~pl.col("alpha").is_finite() | (pl.col("alpha") < floor) | ~pl.col("kappa").is_finite()
                        | (pl.col("kappa") <= 0)).sort(common.PAIR_ZONE)
    return common.key_texts(bad, [*common.PAIR_ZONE, "alpha"], bad.height)


def replay_problems(shares: pl.DataFrame, inputs: Mapping[str, pl.DataFrame], cfg: Config3A,
                    world) -> tuple[list[str], list[RngTally]]:
    """Re-run S3 from its inputs; rows whose values differ by more than 1e-12 (or whose keys differ)."""
    again = compute(inputs[ds.S1_ESCALATION], inputs[ds.S2_PRIORS], inputs[ds.S2_UNIVERSE],
                    inputs[ds.SITE_TIMEZONES], inputs[ds.REF_LINKS], cfg, world)
    b = ds.conform(common.with_partition(again.frame, world.manifest_fingerprint, world.seed), ds.S3_SHARES)
    a = shares.sort(common.PAIR_ZONE)
    if a.height != b.height or not a.select(common.PAIR_ZONE).equals(b.select(common.PAIR_ZONE)):
        return ["key set differs from the replay"], again.tallies
    diff = np.zeros(a.height, dtype=bool)
    for c in ("site_count", "prior_share", "site_share", "center_share", "kappa", "alpha", "share_drawn",
              "share_sum_country"):
        x, y = a.get_column(c).cast(pl.Float64).to_numpy(), b.get_column(c).cast(pl.Float64).to_numpy()
        diff |= ~(np.abs(x - y) <= REPLAY_TOL)
    for c in ("prior_policy_version", "mixture_policy_version"):
        diff |= ~a.get_column(c).eq_missing(b.get_column(c)).to_numpy()
    bad = a.filter(pl.Series(diff))
    return common.key_texts(bad, common.PAIR_ZONE, bad.height), again.tallies


def rng_problems(tallies: list[RngTally], expected: list[RngTally]) -> list[str]:
    got = {t.family: (t.keys, t.draws, t.blocks) for t in tallies}
    want = {t.family: (t.keys, t.draws, t.blocks) for t in expected}
    return [f"{f}: trace {got.get(f)} != replay {want.get(f)}" for f in sorted(set(got) | set(want))
            if got.get(f) != want.get(f)]


def check_domain_s1(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_DOMAIN_S1, ds.S3_SHARES)
    return common.outcome(CODE_DOMAIN_S1, domain_problems(out, inputs[ds.S1_ESCALATION]), out.height)


def check_zone_set(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_ZONE_SET, ds.S3_SHARES)
    return common.outcome(CODE_ZONE_SET, zone_set_problems(out, inputs[ds.S2_PRIORS]), out.height)


def check_share_sum(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_SHARE_SUM, ds.S3_SHARES)
    tol = ctx.config.validation_policy.share_sum_tol
    return common.outcome(CODE_SHARE_SUM, share_sum_problems(out, tol), out.height, tolerance=tol)


def check_alpha(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_ALPHA_INVALID, ds.S3_SHARES)
    return common.outcome(CODE_ALPHA_INVALID, alpha_problems(out, ctx.config), out.height)


def check_replay(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_REPLAY, ds.S3_SHARES)
    bad, _ = replay_problems(out, inputs, ctx.config, ctx.world)
    return common.outcome(CODE_REPLAY, bad, out.height, tolerance=REPLAY_TOL)


def check_rng_accounting(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    out = _out(result)
    if out is None:
        return common.missing_output(CODE_RNG_ACCOUNTING, ds.S3_SHARES)
    _, expected = replay_problems(out, inputs, ctx.config, ctx.world)
    n = out.select(common.PAIR).unique().height
    bad = rng_problems(result.rng, expected)
    disp = next((t for t in result.rng if t.family == FAMILY_DISPERSION), None)
    if disp is None or (disp.keys, disp.draws, disp.blocks) != (n, 2 * n, n):
        bad.append(f"{FAMILY_DISPERSION}: expected (keys, draws, blocks) = ({n}, {2 * n}, {n})")
    return common.outcome(CODE_RNG_ACCOUNTING, bad, len(result.rng))


def check_site_tz(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    esc = inputs[ds.S1_ESCALATION].filter(pl.col("is_escalated"))
    return common.outcome(CODE_SITE_TZ_MISSING, coverage_problems(esc, inputs[ds.SITE_TIMEZONES]), esc.height)
