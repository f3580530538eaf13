"""Every dataset segment 1A writes: scope, sort keys, exact schema (spec/engine/1A.md).

`SCHEMAS` holds the polars dtypes; `DATASETS` the `DatasetSpec`s the catalogue
publishes (dtype names). `conform` is the one way a state shapes an output:
declared columns in declared order, exact dtypes, sorted by the declared keys.
The RNG trace (`rng_trace_1A`) is written by the runner from `StateResult.rng`;
its schema is `RNG_TRACE_SCHEMA`.
"""

from __future__ import annotations

import polars as pl

from fraud_assets.core.dictionary import Scope
from fraud_assets.engine.common.tables import SegmentTables

SEGMENT = "1A"
LAYER = 1

COUNTRY_UNIVERSE = "country_universe"
MERCHANT_IDS = "merchant_ids"
MERCHANT_FEATURES = "merchant_features"
MODEL_COEFFICIENTS = "model_coefficients"
HURDLE_DECISIONS = "hurdle_decisions"
NB_OUTLET_DRAWS = "nb_outlet_draws"
S3_CANDIDATE_SET = "s3_candidate_set"
S4_FOREIGN_TARGET = "s4_foreign_target"
CCY_COUNTRY_WEIGHTS = "ccy_country_weights_cache"
MERCHANT_CURRENCY = "merchant_currency"
SPARSE_FLAG = "sparse_flag"
S6_MEMBERSHIP = "s6_membership"
S7_COUNTRY_COUNTS = "s7_country_counts"
OUTLET_CATALOGUE = "outlet_catalogue"
RNG_TRACE = "rng_trace_1A"

# reference inputs (ARCHITECTURE §9)
REF_ISO = "ref.iso3166_canonical"
REF_GDP = "ref.gdp_per_capita"
REF_BUCKETS = "ref.gdp_bucket_map"
REF_COUNTRIES = "ref.world_countries"
REF_CITIES = "ref.cities"
REF_NEIGHBOURS = "ref.country_neighbours"
REF_CURRENCIES = "ref.currencies"
REF_MCC = "ref.mcc_codes"

I64, I32, I8, U64 = pl.Int64, pl.Int32, pl.Int8, pl.UInt64
F64, STR, BOOL = pl.Float64, pl.String, pl.Boolean
LIST_STR = pl.List(pl.String)

RNG_TRACE_SCHEMA = {"state": STR, "family": STR, "keys": I64, "draws": I64, "blocks": I64}

# id -> (scope, sort keys, schema)
_TABLE: dict[str, tuple[Scope, tuple[str, ...], dict[str, pl.DataType]]] = {
    COUNTRY_UNIVERSE: (Scope.F, ("country_iso",), {
        "country_iso": STR, "continent": STR, "weight": F64, "share": F64, "n_merchants": I32,
        "gdp_pc_usd": F64, "population": I64, "gdp_bucket": I8, "region_floor_share": F64,
    }),
    MERCHANT_IDS: (Scope.F, ("merchant_id",), {
        "merchant_id": I64, "mcc": I32, "channel": STR, "home_country_iso": STR,
    }),
    MERCHANT_FEATURES: (Scope.F, ("merchant_id",), {
        "merchant_id": I64, "mcc": I32, "channel_sym": STR, "home_country_iso": STR,
        "gdp_pc_usd": F64, "ln_gdp_pc": F64, "gdp_bucket": I8, "openness": F64,
        "is_eligible": BOOL, "eligibility_rule": STR,
    }),
    MODEL_COEFFICIENTS: (Scope.F, ("mcc",), {
        "mcc": I32, "beta_hurdle_mcc": F64, "beta_mu_mcc": F64, "beta_phi_mcc": F64,
    }),
    HURDLE_DECISIONS: (Scope.FS, ("merchant_id",), {
        "merchant_id": I64, "eta": F64, "pi": F64, "u": F64, "is_multi": BOOL, "deterministic": BOOL,
    }),
    NB_OUTLET_DRAWS: (Scope.FS, ("merchant_id",), {
        "merchant_id": I64, "mu": F64, "phi": F64, "n_outlets": I32, "nb_rejections": I32,
        "gamma_draws": I64, "poisson_draws": I64,
    }),
    S3_CANDIDATE_SET: (Scope.FS, ("merchant_id", "candidate_rank"), {
        "merchant_id": I64, "country_iso": STR, "candidate_rank": I32, "is_home": BOOL, "tier": STR,
        "log_score": F64, "base_weight": F64, "distance_km": F64,
        "reason_codes": LIST_STR, "filter_tags": LIST_STR,
    }),
    S4_FOREIGN_TARGET: (Scope.FS, ("merchant_id",), {
        "merchant_id": I64, "admissible_count": I32, "openness": F64, "p_expand": F64,
        "u_expand": F64, "expanded": BOOL, "lambda_extra": F64, "k_target": I32,
        "ztp_attempts": I32, "ztp_zero_draws": I32, "exhausted": BOOL, "reason": STR,
    }),
    CCY_COUNTRY_WEIGHTS: (Scope.F, ("currency", "country_iso"), {
        "currency": STR, "country_iso": STR, "weight": F64, "weight_fp": I64,
        "in_currency_area": BOOL, "is_hub": BOOL,
    }),
    MERCHANT_CURRENCY: (Scope.F, ("merchant_id",), {
        "merchant_id": I64, "kappa": STR, "source": STR,
    }),
    SPARSE_FLAG: (Scope.F, ("currency",), {
        "currency": STR, "is_sparse": BOOL, "area_size": I32, "threshold": I32,
    }),
    S6_MEMBERSHIP: (Scope.FS, ("merchant_id", "candidate_rank"), {
        "merchant_id": I64, "country_iso": STR, "candidate_rank": I32, "weight": F64, "u": F64,
        "gumbel_key": F64, "selected": BOOL, "selection_order": I32,
    }),
    S7_COUNTRY_COUNTS: (Scope.FS, ("merchant_id", "candidate_rank"), {
        "merchant_id": I64, "country_iso": STR, "candidate_rank": I32, "is_home": BOOL,
        "alpha": F64, "share": F64, "count": I32, "residual": F64, "residual_rank": I32,
    }),
    OUTLET_CATALOGUE: (Scope.FS, ("merchant_id", "legal_country_iso", "site_order"), {
        "manifest_fingerprint": STR, "merchant_id": I64, "site_id": STR, "home_country_iso": STR,
        "legal_country_iso": STR, "single_vs_multi_flag": BOOL, "raw_nb_outlet_draw": I32,
        "final_country_outlet_count": I32, "site_order": I32, "global_seed": U64,
    }),
}

TABLES = SegmentTables(SEGMENT, LAYER, _TABLE)
SCHEMAS = TABLES.schemas
SORT = TABLES.sort
SCOPES = TABLES.scopes
DATASETS = TABLES.datasets
empty = TABLES.empty
conform = TABLES.conform


