"""1A S0 — foundations: country universe, merchant universe, features, coefficients.

Spec: spec/engine/1A.md, section "S0 — Foundations". S0.1 (identity recompute) and
S0.2 (seal: receipt, sealed_inputs) are the runner's; this module implements S0.3
(country universe), S0.4 (merchant universe builder; the merchant_id recipe and its
collision rehash are `core.ids.merchant_id_from_key` / `assign_merchant_ids`) and
S0.5 (features and coefficients). The universe families are seed-free (stream seed 0), so every seed
of a fingerprint shares one universe.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from fraud_assets.core.errors import E_FINGERPRINT_MISMATCH, EngineFailure
from fraud_assets.core.ids import assign_merchant_ids
from fraud_assets.core.rng import blocks, u01
from fraud_assets.engine.seg_1a import datasets as ds
from fraud_assets.engine.seg_1a.common import (
    in_selector,
    key_list,
    largest_remainder,
    mcc_offsets,
    missing_output,
    outcome,
    tally,
)
from fraud_assets.engine.seg_1a.config import (
    CODE_CONFIG_INVALID,
    Config1A,
    Crossborder,
    MerchantUniverse,
    PresetUniverse,
    parse_mcc_selector,
)
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

FAMILY_MCC = "1A.s0.universe.mcc"
FAMILY_CHANNEL = "1A.s0.universe.channel"
UNIVERSE_SEED = 0  # seed-free families: one universe per fingerprint

CHANNEL_CP, CHANNEL_CNP = "card_present", "card_not_present"
CHANNEL_SYM = {CHANNEL_CP: "CP", CHANNEL_CNP: "CNP"}
DEFAULT_RULE = "default"

# check names and codes (spec "Checks and gates")
CHECK_WORLD_IDENTITY, CODE_FINGERPRINT = "world_identity", E_FINGERPRINT_MISMATCH
CHECK_CONFIG_VALID = "config_valid"  # CODE_CONFIG_INVALID = "1A-S0-001"
CHECK_REGION_FLOOR, CODE_REGION_FLOOR = "region_floor", "1A-S0-010"
CHECK_UNIVERSE_FEASIBLE, CODE_UNIVERSE_INFEASIBLE = "universe_feasible", "1A-S0-011"
CHECK_CHANNEL_MIX, CODE_CHANNEL_MIX = "channel_mix", "1A-S0-012"
CHECK_INGRESS_SCHEMA, CODE_INGRESS_SCHEMA = "ingress_schema", "1A-S0-013"

CHANNEL_MIX_MIN_MERCHANTS = 200
FLOOR_TOL = 1e-9


# ---- S0.3 country universe ---------------------------------------------------------------


def preset_policy(cfg: MerchantUniverse, preset: str) -> PresetUniverse:
    try:
        return cfg.by_preset[preset]
    except KeyError:
        raise EngineFailure(CODE_CONFIG_INVALID, f"merchant_universe.by_preset has no preset {preset!r}",
                            dataset="config/engine/1A/merchant_universe.yaml", keys=[preset]) from None


def candidate_homes(inputs: Mapping[str, pl.DataFrame],
                    exclude: Sequence[str]) -> tuple[pl.DataFrame, dict[str, list[str]]]:
    """ISO codes covered by every reference input (S0.3.1), with the reasons others miss."""
    iso = set(inputs[ds.REF_ISO].get_column("country_iso").to_list())
    gdp = inputs[ds.REF_GDP].filter((pl.col("gdp_pc_usd") > 0) & (pl.col("population") > 0))
    bucket = inputs[ds.REF_BUCKETS].select("country_iso", "gdp_bucket")
    countries = inputs[ds.REF_COUNTRIES].select("country_iso", "continent", "synthetic")
    ccy = set(inputs[ds.REF_CURRENCIES].filter(pl.col("is_primary")).get_column("country_iso").to_list())
    cities = set(
        inputs[ds.REF_CITIES].filter(pl.col("population") > 0).get_column("country_iso").unique().to_list()
    )
    sets = {
        "no_gdp_per_capita": set(gdp.get_column("country_iso").to_list()),
        "no_gdp_bucket": set(bucket.get_column("country_iso").to_list()),
        "no_world_country": set(countries.get_column("country_iso").to_list()),
        "no_primary_currency": ccy,
        "no_city": cities,
    }
    reasons: dict[str, list[str]] = {k: sorted(iso - v) for k, v in sets.items()}
    reasons["excluded_by_config"] = sorted(iso & set(exclude))
    keep = set(iso)
    for v in sets.values():
        keep &= v
    keep -= set(exclude)
    frame = (
        pl.DataFrame({"country_iso": sorted(keep)}, schema={"country_iso": pl.String})
        .join(countries, on="country_iso", how="left")
        .join(gdp.select("country_iso", "gdp_pc_usd", "population", "imputed"), on="country_iso", how="left")
        .join(bucket, on="country_iso", how="left")
        .sort("country_iso")
    )
    return frame, {k: v for k, v in reasons.items() if v}


def select_countries(iso: Sequence[str], continent: Sequence[str], weight: Sequence[float], k: int,
                     floor_continents: Sequence[str], region_min: int) -> list[str]:
    """S0.3.3: force the top `region_min` of every floored continent, then fill by weight."""
    order = sorted(range(len(iso)), key=lambda i: (-weight[i], iso[i]))
    chosen: list[int] = []
    taken = set()
    for cont in sorted(floor_continents):
        members = [i for i in order if continent[i] == cont][:region_min]
        for i in members:
            if i not in taken:
                chosen.append(i)
                taken.add(i)
    for i in order:
        if len(chosen) >= k:
            break
        if i not in taken:
            chosen.append(i)
            taken.add(i)
    return sorted(iso[i] for i in chosen)


def apply_region_floors(iso: Sequence[str], continent: Sequence[str], share: Sequence[float],
                        floors: Mapping[str, float]) -> np.ndarray:
    """S0.3.4: lift under-floor continents to their floor, rescale the rest; ≤ #continents passes."""
    s = np.asarray(share, dtype=np.float64).copy()
    cont = np.asarray(continent, dtype=object)
    if math.fsum(floors.values()) > 1.0 + FLOOR_TOL:
        raise EngineFailure(CODE_REGION_FLOOR, "region floors sum above 1",
                            keys=sorted(floors), floor_sum=math.fsum(floors.values()))
    floored: set[str] = set()

    def violated() -> list[str]:
        return [r for r in sorted(floors)
                if math.fsum(s[cont == r].tolist()) < floors[r] - FLOOR_TOL]

    for _ in range(max(1, len(set(continent)))):
        low = violated()
        if not low:
            break
        floored.update(low)
        for r in sorted(floored):
            total_r = math.fsum(s[cont == r].tolist())
            if total_r <= 0.0:
                raise EngineFailure(CODE_REGION_FLOOR, f"continent {r!r} has no universe country to lift",
                                    keys=[r])
            s[cont == r] *= floors[r] / total_r
        unfloored = ~np.isin(cont, sorted(floored))
        rest = math.fsum(s[unfloored].tolist())
        target = 1.0 - math.fsum(floors[r] for r in floored)
        if rest > 0.0:
            s[unfloored] *= target / rest
        elif target > FLOOR_TOL:
            raise EngineFailure(CODE_REGION_FLOOR, "no unfloored country left to absorb the remainder",
                                keys=sorted(floored))
    still = violated()
    if still:
        raise EngineFailure(CODE_REGION_FLOOR, "region floors not satisfiable", keys=still,
                            floors={r: floors[r] for r in still})
    return s


def merchant_cap(max_country_share: float, n: int) -> int:
    """U = floor(max_country_share · n) (with a 1e-9 guard against 0.07·100 = 7.000000000000001-style noise)."""
    return int(math.floor(max_country_share * n + 1e-9))


def water_fill(iso: Sequence[str], share: Sequence[float], n: int, m_min: int, cap: int) -> np.ndarray:
    """S0.3.5: counts in [m_min, cap] summing to n, proportional to `share` above the floor."""
    k = len(iso)
    if n < m_min * k or cap * k < n:
        raise EngineFailure(CODE_UNIVERSE_INFEASIBLE, f"n={n}, K={k}, m_min={m_min}, U={cap}",
                            keys=[n, k, m_min, cap])
    s = np.asarray(share, dtype=np.float64)
    counts = np.full(k, m_min, dtype=np.int64)
    free = np.ones(k, dtype=bool)
    r_free = n - m_min * k
    for _ in range(k):
        s_free = math.fsum(s[free].tolist())
        q = np.where(free, r_free * s / s_free if s_free > 0 else 0.0, 0.0)
        over = free & (m_min + q > cap)
        if not over.any():
            break
        counts[over] = cap
        free &= ~over
        r_free -= int(over.sum()) * (cap - m_min)
        if not free.any():
            break
    idx = np.flatnonzero(free)
    if idx.size:
        s_free = math.fsum(s[idx].tolist())
        quotas = [r_free * s[i] / s_free for i in idx] if s_free > 0 else [r_free / idx.size] * idx.size
        extra = largest_remainder(quotas, r_free, [iso[i] for i in idx], base="floor")
        counts[idx] = m_min + extra
    if int(counts.sum()) != n or (counts > cap).any() or (counts < m_min).any():
        raise EngineFailure(CODE_UNIVERSE_INFEASIBLE, "water-fill did not reach n within floor/cap",
                            keys=[iso[i] for i in np.flatnonzero((counts > cap) | (counts < m_min))])
    return counts


def build_country_universe(inputs: Mapping[str, pl.DataFrame], cfg: MerchantUniverse, preset: str,
                           n: int) -> tuple[pl.DataFrame, dict]:
    pol = preset_policy(cfg, preset)
    cands, exclusions = candidate_homes(inputs, cfg.exclude_home_iso)
    iso = cands.get_column("country_iso").to_list()
    cont = cands.get_column("continent").to_list()
    pop = cands.get_column("population").cast(pl.Float64).to_numpy()
    gdp = cands.get_column("gdp_pc_usd").to_numpy()
    w = np.power(pop, cfg.weighting.pop_exponent) * np.power(gdp, cfg.weighting.gdp_pc_exponent)
    chosen = select_countries(iso, cont, w.tolist(), pol.n_countries, list(cfg.region_floor_share),
                              pol.region_min_countries)
    uni = cands.with_columns(pl.Series("weight", w)).filter(pl.col("country_iso").is_in(chosen))
    uni = uni.sort("country_iso")
    uw = uni.get_column("weight").to_list()
    total = math.fsum(uw)
    share = [x / total for x in uw]
    uiso = uni.get_column("country_iso").to_list()
    ucont = uni.get_column("continent").to_list()
    share = apply_region_floors(uiso, ucont, share, cfg.region_floor_share)
    counts = water_fill(uiso, share, n, pol.min_per_country, merchant_cap(pol.max_country_share, n))
    floors = cfg.region_floor_share
    frame = uni.with_columns(
        pl.Series("share", share, dtype=pl.Float64),
        pl.Series("n_merchants", counts, dtype=pl.Int32),
        pl.Series("region_floor_share", [floors.get(c) for c in ucont], dtype=pl.Float64),
    )
    report = {
        "candidate_homes": len(iso),
        "countries_selected": len(uiso),
        "exclusions": exclusions,
        "imputed_gdp_selected": sorted(frame.filter(pl.col("imputed")).get_column("country_iso").to_list()),
        "synthetic_selected": sorted(frame.filter(pl.col("synthetic")).get_column("country_iso").to_list()),
        "continent_shares": {
            c: math.fsum(s for s, cc in zip(share, ucont, strict=True) if cc == c) for c in sorted(set(ucont))
        },
    }
    return ds.conform(frame, ds.COUNTRY_UNIVERSE), report


# ---- S0.4 merchant universe ---------------------------------------------------------------


def mcc_cdf(codes: Sequence[int], cfg: MerchantUniverse) -> np.ndarray:
    """Cumulative mass over `codes` (ascending): each range's mass split by multipliers."""
    arr = np.asarray(codes, dtype=np.int64)
    w = np.zeros(arr.size, dtype=np.float64)
    mult = cfg.mcc_mix.multipliers
    for lo, hi, mass in cfg.mcc_mix.ranges:
        idx = np.flatnonzero((arr >= lo) & (arr <= hi))
        if idx.size == 0:
            continue
        m = np.array([float(mult.get(int(arr[i]), 1.0)) for i in idx])
        tot = math.fsum(m.tolist())
        if tot > 0:
            w[idx] += mass * m / tot
    if not (w > 0).any():
        raise EngineFailure(CODE_CONFIG_INVALID, "mcc_mix puts no mass on any mcc_codes member")
    return np.cumsum(w)


def draw_mcc(u: np.ndarray, codes: Sequence[int], cdf: np.ndarray) -> np.ndarray:
    """Inverse CDF (codes ascending): the first code whose cumulative mass exceeds u·total."""
    idx = np.searchsorted(cdf, u * cdf[-1], side="right")
    idx = np.minimum(idx, len(codes) - 1)
    return np.asarray(codes, dtype=np.int64)[idx]


def base_p_cnp(mcc: int, cfg: MerchantUniverse) -> float:
    ch = cfg.channel
    if mcc in ch.codes:
        return ch.codes[mcc]
    for lo, hi, p in ch.ranges:
        if lo <= mcc <= hi:
            return p
    return ch.default_p_cnp


def p_cnp(mcc: int, gdp_bucket: int, cfg: MerchantUniverse) -> float:
    p = base_p_cnp(mcc, cfg) * cfg.channel.cnp_bucket_multiplier[int(gdp_bucket)]
    return min(max(p, 0.01), 0.95)


def build_merchants(universe: pl.DataFrame, mcc_codes: pl.DataFrame, cfg: MerchantUniverse,
                    world) -> pl.DataFrame:
    uni = universe.sort("country_iso")
    slots: list[tuple[str, int]] = []
    buckets: list[int] = []
    for iso, n_c, b in uni.select("country_iso", "n_merchants", "gdp_bucket").iter_rows():
        slots.extend((iso, j) for j in range(n_c))
        buckets.extend([b] * n_c)
    ids = assign_merchant_ids(slots, cfg.universe_salt)
    codes = sorted(set(mcc_codes.get_column("mcc").to_list()))
    root = world.rng
    u_mcc = _uniforms(root, FAMILY_MCC, slots)
    u_ch = _uniforms(root, FAMILY_CHANNEL, slots)
    mcc = draw_mcc(u_mcc, codes, mcc_cdf(codes, cfg))
    pc = np.array([p_cnp(int(m), b, cfg) for m, b in zip(mcc, buckets, strict=True)], dtype=np.float64)
    channel = np.where(u_ch < pc, CHANNEL_CNP, CHANNEL_CP)
    frame = pl.DataFrame({
        "merchant_id": ids,
        "mcc": mcc,
        "channel": channel.tolist(),
        "home_country_iso": [s[0] for s in slots],
    }, schema={"merchant_id": pl.Int64, "mcc": pl.Int64, "channel": pl.String, "home_country_iso": pl.String})
    return ds.conform(frame, ds.MERCHANT_IDS)


def _uniforms(root, family: str, keys: Sequence[tuple[str, int]]) -> np.ndarray:
    if not keys:
        return np.zeros(0, dtype=np.float64)
    sa = root.streams(family, list(keys), seed=UNIVERSE_SEED)
    w0, _ = blocks(sa.k, sa.c_hi, sa.c_lo, 0, 0)
    return u01(w0)


# ---- S0.5 features and coefficients -----------------------------------------------------------


def build_coefficients(mcc_codes: pl.DataFrame, cfg: Config1A) -> pl.DataFrame:
    codes = sorted(set(mcc_codes.get_column("mcc").to_list()))
    frame = pl.DataFrame({
        "mcc": codes,
        "beta_hurdle_mcc": mcc_offsets(codes, cfg.hurdle.mcc_ranges, cfg.hurdle.mcc),
        "beta_mu_mcc": mcc_offsets(codes, cfg.nb.mean.mcc_ranges, cfg.nb.mean.mcc),
        "beta_phi_mcc": mcc_offsets(codes, cfg.nb.dispersion.mcc_ranges, cfg.nb.dispersion.mcc),
    }, schema_overrides={"mcc": pl.Int32})
    return ds.conform(frame, ds.MODEL_COEFFICIENTS)


def openness(bucket: int, channel_sym: str, mcc: int, cfg: Crossborder) -> float:
    tilt = 0.0
    for t in cfg.openness.tilts:  # first matching tilt only
        if in_selector(mcc, parse_mcc_selector(t.mcc)):
            tilt = t.add
            break
    raw = cfg.openness.bucket_base[int(bucket)] + getattr(cfg.openness.channel_delta, channel_sym) + tilt
    return min(max(raw, 0.0), 1.0)


def eligibility(mcc: int, channel_sym: str, iso: str, cfg: Crossborder) -> tuple[bool, str]:
    """Any matching deny beats any allow; within a decision lower priority, then id, wins."""
    matches = []
    for rule in cfg.eligibility.rules:
        if rule.channel != "*" and channel_sym not in rule.channel:
            continue
        if rule.iso != "*" and iso not in rule.iso:
            continue
        if rule.mcc != "*" and not in_selector(mcc, parse_mcc_selector(rule.mcc)):
            continue
        matches.append(rule)
    for decision in ("deny", "allow"):
        hits = sorted((r for r in matches if r.decision == decision), key=lambda r: (r.priority, r.id))
        if hits:
            return decision == "allow", hits[0].id
    return cfg.eligibility.default_decision == "allow", DEFAULT_RULE


def build_features(merchants: pl.DataFrame, universe: pl.DataFrame, cfg: Config1A) -> pl.DataFrame:
    m = merchants.sort("merchant_id").join(
        universe.select("country_iso", "gdp_pc_usd", "gdp_bucket"),
        left_on="home_country_iso", right_on="country_iso", how="left",
    )
    sym = [CHANNEL_SYM[c] for c in m.get_column("channel").to_list()]
    mcc = m.get_column("mcc").to_list()
    iso = m.get_column("home_country_iso").to_list()
    bucket = m.get_column("gdp_bucket").to_list()
    cb = cfg.crossborder
    elig = [eligibility(a, b, c, cb) for a, b, c in zip(mcc, sym, iso, strict=True)]
    frame = m.with_columns(
        pl.Series("channel_sym", sym, dtype=pl.String),
        pl.col("gdp_pc_usd").log().alias("ln_gdp_pc"),
        pl.Series("openness", [openness(b, s, c, cb) for b, s, c in zip(bucket, sym, mcc, strict=True)],
                  dtype=pl.Float64),
        pl.Series("is_eligible", [e[0] for e in elig], dtype=pl.Boolean),
        pl.Series("eligibility_rule", [e[1] for e in elig], dtype=pl.String),
    )
    return ds.conform(frame, ds.MERCHANT_FEATURES)


# ---- run ----------------------------------------------------------------------------------


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    cfg: Config1A = ctx.config
    preset = ctx.world.preset
    universe, report = build_country_universe(inputs, cfg.merchant_universe, preset.name, preset.merchants)
    merchants = build_merchants(universe, inputs[ds.REF_MCC], cfg.merchant_universe, ctx.world)
    features = build_features(merchants, universe, cfg)
    coefficients = build_coefficients(inputs[ds.REF_MCC], cfg)
    n = merchants.height
    cp = merchants.filter(pl.col("channel") == CHANNEL_CP).height
    report.update({
        "merchants": n,
        "card_present_share": cp / n if n else None,
        "eligible_share": features.get_column("is_eligible").mean() if n else None,
        "model_coefficients": coefficients.height,
    })
    return StateResult(
        outputs={
            ds.COUNTRY_UNIVERSE: universe,
            ds.MERCHANT_IDS: merchants,
            ds.MERCHANT_FEATURES: features,
            ds.MODEL_COEFFICIENTS: coefficients,
        },
        rng=[tally(FAMILY_MCC, n, n, n), tally(FAMILY_CHANNEL, n, n, n)],
        report=report,
    )


# ---- checks -------------------------------------------------------------------------------


def check_world_identity(result: StateResult, inputs: Mapping[str, pl.DataFrame],
                         ctx: StateContext) -> CheckOutcome:
    """S0.1: the runner's recomputed identity (exec_settings["recomputed_identity"]) equals the world."""
    recomputed = ctx.exec_settings.get("recomputed_identity")
    if recomputed is None:  # fail closed: no recomputed identity is no evidence
        return outcome(CODE_FINGERPRINT, ["recomputed_identity missing"], 1)
    bad = [k for k in ("parameter_hash", "manifest_fingerprint")
           if recomputed.get(k) != getattr(ctx.world, k)]
    return outcome(CODE_FINGERPRINT, bad, 2, world={k: getattr(ctx.world, k) for k in bad},
                   recomputed={k: recomputed.get(k) for k in bad})


def check_config_valid(result: StateResult, inputs: Mapping[str, pl.DataFrame],
                       ctx: StateContext) -> CheckOutcome:
    """S0.1: the config validates strictly and knows the world's preset."""
    bad = []
    try:
        Config1A.model_validate(ctx.config.model_dump())
    except Exception as exc:  # noqa: BLE001 — evidence, not control flow
        bad.append(f"invalid: {exc}"[:300])
    if ctx.world.preset.name not in ctx.config.merchant_universe.by_preset:
        bad.append(f"by_preset lacks {ctx.world.preset.name}")
    return outcome(CODE_CONFIG_INVALID, bad, 1)


def check_region_floor(result: StateResult, inputs: Mapping[str, pl.DataFrame],
                       ctx: StateContext) -> CheckOutcome:
    cu = result.outputs.get(ds.COUNTRY_UNIVERSE)
    if cu is None:
        return missing_output(CODE_REGION_FLOOR, ds.COUNTRY_UNIVERSE)
    floors = ctx.config.merchant_universe.region_floor_share
    sums = {r: math.fsum(cu.filter(pl.col("continent") == r).get_column("share").to_list()) for r in floors}
    bad = [r for r in sorted(floors) if sums[r] < floors[r] - FLOOR_TOL]
    if math.fsum(floors.values()) > 1.0 + FLOOR_TOL:
        bad.append("floors_sum_above_1")
    share_sum = math.fsum(cu.get_column("share").to_list())
    if abs(share_sum - 1.0) > 1e-9:
        bad.append("shares_do_not_sum_to_1")
    return outcome(CODE_REGION_FLOOR, bad, len(floors), continent_shares=sums, share_sum=share_sum)


def check_universe_feasible(result: StateResult, inputs: Mapping[str, pl.DataFrame],
                            ctx: StateContext) -> CheckOutcome:
    cu = result.outputs.get(ds.COUNTRY_UNIVERSE)
    if cu is None:
        return missing_output(CODE_UNIVERSE_INFEASIBLE, ds.COUNTRY_UNIVERSE)
    pol = ctx.config.merchant_universe.by_preset[ctx.world.preset.name]
    n = ctx.world.preset.merchants
    cap = merchant_cap(pol.max_country_share, n)
    bad_rows = cu.filter((pl.col("n_merchants") < pol.min_per_country) | (pl.col("n_merchants") > cap))
    bad = key_list(bad_rows, ["country_iso"])
    total = int(cu.get_column("n_merchants").sum() or 0)
    if total != n:
        bad.insert(0, f"sum {total} != {n}")
    if cu.height > pol.n_countries:
        bad.insert(0, f"{cu.height} countries > {pol.n_countries}")
    return outcome(CODE_UNIVERSE_INFEASIBLE, bad, cu.height, n=n, m_min=pol.min_per_country,
                   cap=cap, countries=cu.height, merchants_total=total)


def check_channel_mix(result: StateResult, inputs: Mapping[str, pl.DataFrame],
                      ctx: StateContext) -> CheckOutcome:
    mi = result.outputs.get(ds.MERCHANT_IDS)
    if mi is None:
        return missing_output(CODE_CHANNEL_MIX, ds.MERCHANT_IDS)
    n = mi.height
    lo, hi = ctx.config.merchant_universe.channel.cp_share_bounds
    share = mi.filter(pl.col("channel") == CHANNEL_CP).height / n if n else None
    bad = []
    if n >= CHANNEL_MIX_MIN_MERCHANTS and share is not None and not lo <= share <= hi:
        bad = [share]
    return outcome(CODE_CHANNEL_MIX, bad, n, card_present_share=share, bounds=[lo, hi],
                   enforced=n >= CHANNEL_MIX_MIN_MERCHANTS)


def check_ingress_schema(result: StateResult, inputs: Mapping[str, pl.DataFrame],
                         ctx: StateContext) -> CheckOutcome:
    mi = result.outputs.get(ds.MERCHANT_IDS)
    if mi is None:
        return missing_output(CODE_INGRESS_SCHEMA, ds.MERCHANT_IDS)
    problems: dict[str, list] = {}
    expected = ds.SCHEMAS[ds.MERCHANT_IDS]
    if dict(mi.schema) != expected:
        problems["schema"] = [f"{c}:{t}" for c, t in mi.schema.items() if expected.get(c) != t] or ["columns"]
        return outcome(CODE_INGRESS_SCHEMA, problems["schema"], mi.height, problems=problems)
    dup = mi.filter(pl.col("merchant_id").is_duplicated())
    problems["pk_duplicate"] = key_list(dup, ["merchant_id"])
    problems["id_range"] = key_list(mi.filter((pl.col("merchant_id") <= 0) | pl.col("merchant_id").is_null()),
                                    ["merchant_id"])
    codes = inputs[ds.REF_MCC].get_column("mcc").cast(pl.Int32).implode()
    problems["mcc_unknown"] = key_list(mi.filter(~pl.col("mcc").is_in(codes) | pl.col("mcc").is_null()),
                                       ["merchant_id"])
    problems["channel_invalid"] = key_list(
        mi.filter(~pl.col("channel").is_in([CHANNEL_CP, CHANNEL_CNP]) | pl.col("channel").is_null()),
        ["merchant_id"])
    iso = inputs[ds.REF_ISO].get_column("country_iso").implode()
    problems["home_iso_fk"] = key_list(
        mi.filter(~pl.col("home_country_iso").is_in(iso) | pl.col("home_country_iso").is_null()),
        ["merchant_id"])
    cu = result.outputs.get(ds.COUNTRY_UNIVERSE)
    if cu is not None:
        problems["home_outside_universe"] = key_list(
            mi.filter(~pl.col("home_country_iso").is_in(cu.get_column("country_iso").implode())),
            ["merchant_id"])
    sorted_ok = mi.get_column("merchant_id").is_sorted()
    bad = [k for v in problems.values() for k in v] + ([] if sorted_ok else ["not_sorted"])
    return outcome(CODE_INGRESS_SCHEMA, bad, mi.height,
                   counts={k: len(v) for k, v in problems.items()}, sorted=sorted_ok)
