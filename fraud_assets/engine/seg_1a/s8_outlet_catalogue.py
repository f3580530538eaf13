"""1A S8 — outlet catalogue: one immutable row per outlet stub (egress). No RNG.

Spec: spec/engine/1A.md, section "S8". For every (merchant, legal country, count)
of `s7_country_counts`: rows `site_order = 1..count`, `site_id` the zero-padded
6-digit site_order (a merchant-local sequence token, not a physical-site id).
The embedded `manifest_fingerprint` and `global_seed` must equal the partition.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from fraud_assets.core.errors import E_PARTITION_MISMATCH, EngineFailure
from fraud_assets.engine.seg_1a import datasets as ds
from fraud_assets.engine.seg_1a.common import key_list, missing_output, outcome
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

SITE_ID_DIGITS = 6
SITE_ID_MAX = 10**SITE_ID_DIGITS - 1

CHECK_SEQUENCE_GAP, CODE_SEQUENCE_GAP = "sequence_gap", "1A-S8-001"
CHECK_SITE_ID_OVERFLOW, CODE_SITE_ID_OVERFLOW = "site_id_overflow", "1A-S8-002"
CHECK_OUTLET_SUM, CODE_OUTLET_SUM = "outlet_sum_mismatch", "1A-S8-003"
CHECK_PARTITION, CODE_PARTITION = "partition_tokens", E_PARTITION_MISMATCH


def build_catalogue(counts: pl.DataFrame, hurdle: pl.DataFrame, nb: pl.DataFrame, merchants: pl.DataFrame,
                    manifest_fingerprint: str, seed: int) -> pl.DataFrame:
    over = counts.filter(pl.col("count") > SITE_ID_MAX).sort("merchant_id", "country_iso")
    if over.height:
        raise EngineFailure(CODE_SITE_ID_OVERFLOW, f"{over.height} (merchant, country) counts above {SITE_ID_MAX}",
                            dataset=ds.OUTLET_CATALOGUE, keys=key_list(over, ["merchant_id", "country_iso"]))
    m = (counts.select("merchant_id", pl.col("country_iso").alias("legal_country_iso"),
                       pl.col("count").alias("final_country_outlet_count"))
         .join(merchants.select("merchant_id", "home_country_iso"), on="merchant_id", how="left")
         .join(hurdle.select("merchant_id", pl.col("is_multi").alias("single_vs_multi_flag")), on="merchant_id",
               how="left")
         .join(nb.select("merchant_id", "n_outlets"), on="merchant_id", how="left")
         .with_columns(pl.when(pl.col("single_vs_multi_flag")).then(pl.col("n_outlets")).otherwise(1)
                       .alias("raw_nb_outlet_draw")))
    rows = (m.with_columns(pl.int_ranges(1, pl.col("final_country_outlet_count") + 1).alias("site_order"))
            .explode("site_order")
            .with_columns(pl.col("site_order").cast(pl.Int32),
                          pl.col("site_order").cast(pl.String).str.zfill(SITE_ID_DIGITS).alias("site_id"),
                          pl.lit(manifest_fingerprint).alias("manifest_fingerprint"),
                          pl.lit(seed, dtype=pl.UInt64).alias("global_seed")))
    return ds.conform(rows, ds.OUTLET_CATALOGUE)


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    out = build_catalogue(inputs[ds.S7_COUNTRY_COUNTS], inputs[ds.HURDLE_DECISIONS], inputs[ds.NB_OUTLET_DRAWS],
                          inputs[ds.MERCHANT_IDS], ctx.world.manifest_fingerprint, ctx.world.seed)
    foreign = out.filter(pl.col("home_country_iso") != pl.col("legal_country_iso")).height
    return StateResult(outputs={ds.OUTLET_CATALOGUE: out}, report={
        "rows": out.height, "merchants": out.get_column("merchant_id").n_unique(),
        "home_ne_legal_share": foreign / out.height if out.height else None})


def _catalogue(result: StateResult, code: str) -> pl.DataFrame | CheckOutcome:
    oc = result.outputs.get(ds.OUTLET_CATALOGUE)
    return missing_output(code, ds.OUTLET_CATALOGUE) if oc is None else oc


def check_sequence_gap(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """1A-S8-001: per (merchant, country) site_order = 1..count, rows = count = s7 count, PK unique."""
    oc = _catalogue(result, CODE_SEQUENCE_GAP)
    if isinstance(oc, CheckOutcome):
        return oc
    per = oc.group_by("merchant_id", "legal_country_iso").agg(
        pl.len().alias("_rows"), pl.col("site_order").min().alias("_min"), pl.col("site_order").max().alias("_max"),
        pl.col("site_order").n_unique().alias("_u"), pl.col("final_country_outlet_count").min().alias("_c"),
        pl.col("final_country_outlet_count").max().alias("_c2"))
    s7 = inputs[ds.S7_COUNTRY_COUNTS].select("merchant_id", pl.col("country_iso").alias("legal_country_iso"),
                                             pl.col("count").alias("_s7"))
    j = per.join(s7, on=["merchant_id", "legal_country_iso"], how="full", coalesce=True)
    bad = j.filter(~((pl.col("_min") == 1) & (pl.col("_max") == pl.col("_rows")) & (pl.col("_u") == pl.col("_rows"))
                     & (pl.col("_c") == pl.col("_rows")) & (pl.col("_c2") == pl.col("_rows"))
                     & (pl.col("_s7") == pl.col("_rows"))).fill_null(False)).sort("merchant_id", "legal_country_iso")
    return outcome(CODE_SEQUENCE_GAP, key_list(bad, ["merchant_id", "legal_country_iso"]), j.height)


def check_site_id_overflow(result: StateResult, inputs: Mapping[str, pl.DataFrame],
                           ctx: StateContext) -> CheckOutcome:
    """1A-S8-002: site_id is the 6-digit zero-padded site_order, counts ≤ 999999."""
    oc = _catalogue(result, CODE_SITE_ID_OVERFLOW)
    if isinstance(oc, CheckOutcome):
        return oc
    bad = oc.filter((pl.col("final_country_outlet_count") > SITE_ID_MAX) | (pl.col("site_order") > SITE_ID_MAX)
                    | (pl.col("site_id") != pl.col("site_order").cast(pl.String).str.zfill(SITE_ID_DIGITS))
                    | (pl.col("site_id").str.len_chars() != SITE_ID_DIGITS))
    return outcome(CODE_SITE_ID_OVERFLOW, key_list(bad, ["merchant_id", "legal_country_iso", "site_order"]),
                   oc.height)


def check_outlet_sum(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """1A-S8-003: Σ rows per merchant = raw_nb_outlet_draw = N (1 single-site); flags match S1; every merchant."""
    oc = _catalogue(result, CODE_OUTLET_SUM)
    if isinstance(oc, CheckOutcome):
        return oc
    per = oc.group_by("merchant_id").agg(
        pl.len().alias("_rows"), pl.col("raw_nb_outlet_draw").min().alias("_raw"),
        pl.col("raw_nb_outlet_draw").max().alias("_raw2"), pl.col("single_vs_multi_flag").first().alias("_flag"),
        pl.col("single_vs_multi_flag").n_unique().alias("_flags"), pl.col("home_country_iso").first().alias("_home"))
    exp = inputs[ds.HURDLE_DECISIONS].select("merchant_id", "is_multi").join(
        inputs[ds.NB_OUTLET_DRAWS].select("merchant_id", "n_outlets"), on="merchant_id", how="left").join(
        inputs[ds.MERCHANT_IDS].select("merchant_id", "home_country_iso"), on="merchant_id", how="left").with_columns(
        pl.when(pl.col("is_multi")).then(pl.col("n_outlets")).otherwise(1).alias("_n"))
    j = exp.join(per, on="merchant_id", how="full", coalesce=True)
    bad = j.filter(~((pl.col("_rows") == pl.col("_n")) & (pl.col("_raw") == pl.col("_n"))
                     & (pl.col("_raw2") == pl.col("_n")) & (pl.col("_flag") == pl.col("is_multi"))
                     & (pl.col("_flags") == 1) & (pl.col("_home") == pl.col("home_country_iso"))).fill_null(False)
                   ).sort("merchant_id")
    return outcome(CODE_OUTLET_SUM, key_list(bad, ["merchant_id"]), j.height)


def check_partition(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """E_PARTITION_MISMATCH: embedded manifest_fingerprint / global_seed equal the world's partition tokens."""
    oc = _catalogue(result, CODE_PARTITION)
    if isinstance(oc, CheckOutcome):
        return oc
    bad = oc.filter((pl.col("manifest_fingerprint") != ctx.world.manifest_fingerprint)
                    | (pl.col("global_seed") != pl.lit(ctx.world.seed, dtype=pl.UInt64))
                    | pl.col("manifest_fingerprint").is_null() | pl.col("global_seed").is_null())
    return outcome(CODE_PARTITION, key_list(bad, ["merchant_id", "legal_country_iso", "site_order"]), oc.height,
                   manifest_fingerprint=ctx.world.manifest_fingerprint, seed=ctx.world.seed)
