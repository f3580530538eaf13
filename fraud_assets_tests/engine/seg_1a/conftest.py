"""Fixtures for segment 1A: a small literal reference world, worlds, configs and a chain runner.

The literal reference frames (22 countries, a few cities each, 66 MCC codes) carry
the exact columns of ARCHITECTURE §9 that 1A reads, with the traps that matter:
Namibia `NA`, Fiji's cities on both sides of the antimeridian, an imputed-GDP
synthetic-box home (SG), a sanctioned country (RU), Antarctica (excluded by
config) and codes without coverage (XK has no currency).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from fraud_assets.core.identity import World, WorldPreset
from fraud_assets.engine.seg_1a import catalogue
from fraud_assets.engine.seg_1a import datasets as ds
from fraud_assets.engine.seg_1a.config import Config1A, load_config
from fraud_assets.engine.state import StateContext, StateResult

REPO = Path(__file__).resolve().parents[3]
CONFIG_DIR = REPO / "config" / "engine" / "1A"

PRESET_SIZES = {"tiny": 50, "small": 500, "medium": 2500, "large": 10000}

# iso, continent, population, gdp_pc_usd, currency, imputed, synthetic, cities [(lat, lon, pop)]
COUNTRIES = [
    ("AR", "South America", 45_000_000, 8_500.0, "ARS", False, False, [(-34.60, -58.38, 3_000_000)]),
    ("AU", "Oceania", 25_000_000, 52_000.0, "AUD", False, False, [(-33.87, 151.21, 4_600_000)]),
    ("BR", "South America", 212_000_000, 8_700.0, "BRL", False, False,
     [(-23.55, -46.63, 12_000_000), (-22.90, -43.20, 6_700_000)]),
    ("CA", "North America", 38_000_000, 46_000.0, "CAD", False, False,
     [(43.65, -79.38, 2_700_000), (45.50, -73.57, 1_700_000)]),
    ("CL", "South America", 19_000_000, 13_000.0, "CLP", False, False, [(-33.45, -70.67, 5_600_000)]),
    ("CN", "Asia", 1_400_000_000, 10_500.0, "CNY", False, False,
     [(39.90, 116.40, 11_000_000), (31.20, 121.50, 22_000_000)]),
    ("DE", "Europe", 83_000_000, 46_000.0, "EUR", False, False,
     [(52.52, 13.40, 3_600_000), (48.14, 11.58, 1_500_000)]),
    ("ES", "Europe", 47_000_000, 27_000.0, "EUR", False, False, [(40.42, -3.70, 3_200_000)]),
    ("FJ", "Oceania", 900_000, 6_000.0, "FJD", False, False,
     [(-18.14, 178.44, 80_000), (-16.80, -179.97, 10_000)]),
    ("FR", "Europe", 67_000_000, 40_000.0, "EUR", False, False, [(48.85, 2.35, 2_100_000)]),
    ("GB", "Europe", 67_000_000, 42_000.0, "GBP", False, False, [(51.50, -0.12, 8_900_000)]),
    ("IN", "Asia", 1_380_000_000, 1_900.0, "INR", False, False,
     [(28.61, 77.21, 10_000_000), (19.07, 72.88, 12_000_000)]),
    ("JP", "Asia", 126_000_000, 40_000.0, "JPY", False, False, [(35.68, 139.69, 8_300_000)]),
    ("KE", "Africa", 54_000_000, 1_800.0, "KES", False, False, [(-1.29, 36.82, 4_400_000)]),
    ("MX", "North America", 126_000_000, 9_900.0, "MXN", False, False, [(19.43, -99.13, 8_900_000)]),
    ("NA", "Africa", 2_500_000, 5_000.0, "NAD", False, False, [(-22.56, 17.08, 300_000)]),
    ("NG", "Africa", 206_000_000, 2_100.0, "NGN", False, False, [(6.52, 3.38, 9_000_000)]),
    ("NZ", "Oceania", 5_000_000, 41_000.0, "NZD", False, False, [(-36.85, 174.76, 1_400_000)]),
    ("RU", "Europe", 144_000_000, 10_000.0, "RUB", False, False,
     [(55.75, 37.62, 12_000_000), (43.10, 131.90, 600_000)]),
    ("SG", "Asia", 5_700_000, 60_000.0, "SGD", True, True, [(1.29, 103.85, 3_500_000)]),
    ("US", "North America", 331_000_000, 65_000.0, "USD", False, False,
     [(40.70, -74.00, 8_300_000), (34.05, -118.24, 3_900_000)]),
    ("ZA", "Africa", 59_000_000, 5_600.0, "ZAR", False, False, [(-26.20, 28.05, 4_400_000)]),
]
NEIGHBOURS = [("US", "CA"), ("US", "MX"), ("BR", "AR"), ("AR", "CL"), ("DE", "FR"), ("FR", "ES"),
              ("ZA", "NA"), ("CN", "IN"), ("CN", "RU")]
MCC_CODES = [742, 763, 1520, 1711, 3000, 3501, 4111, 4121, 4511, 4722, 4789, 4812, 4814, 4816, 4829, 4899,
             4900, 5200, 5211, 5251, 5310, 5311, 5331, 5399, 5411, 5499, 5541, 5542, 5651, 5691, 5732, 5812,
             5813, 5814, 5815, 5816, 5817, 5818, 5912, 5942, 5945, 5964, 5966, 5967, 5969, 5999, 6010, 6011,
             6012, 6051, 7011, 7230, 7298, 7372, 7399, 7538, 7542, 7832, 7995, 8011, 8021, 8099, 8999, 9211,
             9399, 9402]


def _bucket(gdp: float) -> int:
    for i, edge in enumerate((3_000, 9_000, 15_000, 42_000), start=1):
        if gdp <= edge:
            return i
    return 5


def literal_refs() -> dict[str, pl.DataFrame]:
    iso_all = sorted([c[0] for c in COUNTRIES] + ["AQ", "XK"])
    refs = {
        ds.REF_ISO: pl.DataFrame({"country_iso": iso_all, "name": iso_all}),
        ds.REF_GDP: pl.DataFrame(
            [(c[0], c[3], c[2], c[5]) for c in COUNTRIES] + [("XK", 4_000.0, 1_800_000, False)], orient="row",
            schema={"country_iso": pl.String, "gdp_pc_usd": pl.Float64, "population": pl.Int64, "imputed": pl.Boolean}),
        ds.REF_BUCKETS: pl.DataFrame(
            [(c[0], _bucket(c[3])) for c in COUNTRIES] + [("XK", 2)], orient="row",
            schema={"country_iso": pl.String, "gdp_bucket": pl.Int8}),
        ds.REF_COUNTRIES: pl.DataFrame(
            [(c[0], c[1], c[6]) for c in COUNTRIES] + [("AQ", "Antarctica", False), ("XK", "Europe", True)],
            orient="row", schema={"country_iso": pl.String, "continent": pl.String, "synthetic": pl.Boolean}),
        ds.REF_CITIES: pl.DataFrame(
            [(i, c[0], lat, lon, pop) for i, (c, (lat, lon, pop)) in
             enumerate(((c, city) for c in COUNTRIES for city in c[7]), start=1)]
            + [(999, "XK", 42.66, 21.17, 200_000)], orient="row",
            schema={"geonameid": pl.Int64, "country_iso": pl.String, "lat_deg": pl.Float64, "lon_deg": pl.Float64,
                    "population": pl.Int64}),
        ds.REF_NEIGHBOURS: pl.DataFrame(
            sorted(NEIGHBOURS + [(b, a) for a, b in NEIGHBOURS]), orient="row",
            schema={"country_iso": pl.String, "neighbour_iso": pl.String}),
        ds.REF_CURRENCIES: pl.DataFrame(
            [(c[0], c[4], True) for c in COUNTRIES], orient="row",
            schema={"country_iso": pl.String, "currency": pl.String, "is_primary": pl.Boolean}),
        ds.REF_MCC: pl.DataFrame({"mcc": MCC_CODES, "range_start": [m // 100 * 100 for m in MCC_CODES],
                                  "range_end": [m // 100 * 100 + 99 for m in MCC_CODES]},
                                 schema={"mcc": pl.Int32, "range_start": pl.Int32, "range_end": pl.Int32}),
    }
    return refs


def make_world(preset: str = "tiny", seed: int = 42, merchants: int | None = None,
               fingerprint: str = "f" * 64, parameter_hash: str = "a" * 64) -> World:
    return World(manifest_fingerprint=fingerprint, parameter_hash=parameter_hash, seed=seed,
                 preset=WorldPreset(preset, merchants or PRESET_SIZES[preset],
                                    datetime(2026, 3, 27, tzinfo=timezone.utc), 3),
                 registered_utc="2026-01-01T00:00:00Z")


def make_ctx(world: World | None = None, config: Config1A | None = None, **exec_settings) -> StateContext:
    """A context as the runner builds it: by default the recomputed identity equals the world's."""
    world = world or make_world()
    exec_settings.setdefault("recomputed_identity", {"parameter_hash": world.parameter_hash,
                                                     "manifest_fingerprint": world.manifest_fingerprint})
    return StateContext(world=world, config=config or load_config(CONFIG_DIR), exec_settings=exec_settings)


def with_config(cfg: Config1A, **changes: dict) -> Config1A:
    """A copy of `cfg` with nested changes: with_config(cfg, nb={"mean": {"intercept": -3.0}})."""
    data = cfg.model_dump()

    def merge(a: dict, b: Mapping) -> dict:
        for k, v in b.items():
            a[k] = merge(dict(a[k]), v) if isinstance(v, Mapping) and isinstance(a.get(k), dict) else v
        return a

    return Config1A.model_validate(merge(data, changes))


def trace_frame(results: Mapping[str, StateResult]) -> pl.DataFrame:
    """The runner's rng_trace_1A: one row per (state, family)."""
    rows = [(state, t.family, t.keys, t.draws, t.blocks) for state, res in results.items() for t in res.rng]
    return pl.DataFrame(rows, orient="row", schema=ds.RNG_TRACE_SCHEMA)


def run_chain(refs: Mapping[str, pl.DataFrame], ctx: StateContext, *, upto: str = "S9"):
    """Run S0..`upto` like the runner: each state gets exactly its declared reads."""
    data: dict[str, pl.DataFrame] = dict(refs)
    results: dict[str, StateResult] = {}
    for spec in catalogue.STATES:
        if spec.validation:
            data[ds.RNG_TRACE] = trace_frame(results)
        res = spec.run({k: data[k] for k in spec.reads}, ctx)
        results[spec.state] = res
        data.update(res.outputs)
        if spec.state == upto:
            break
    return data, results


@pytest.fixture(scope="session")
def config() -> Config1A:
    return load_config(CONFIG_DIR)


@pytest.fixture(scope="session")
def refs() -> dict[str, pl.DataFrame]:
    return literal_refs()


@pytest.fixture(scope="session")
def tiny_chain(refs, config):
    ctx = make_ctx(make_world("tiny", 42), config)
    data, results = run_chain(refs, ctx)
    return data, results, ctx


@pytest.fixture(scope="session")
def small_chain(refs, config):
    ctx = make_ctx(make_world("small", 7), config)
    data, results = run_chain(refs, ctx)
    return data, results, ctx


# ---- real reference data ----------------------------------------------------------------------------
# Uses the reference helper's shared session build (fraud_assets_tests/reference/conftest.py) when it
# already exists in this process or FRAUD_ASSETS_TEST_REFERENCE_ROOT points at a kept build; otherwise
# builds only the eight datasets 1A reads (≈9 s instead of the full ≈25–45 s build with raster and tz).

REAL_REFERENCE_IDS = ("iso3166_canonical", "world_countries", "gdp_per_capita", "gdp_bucket_map", "cities",
                      "country_neighbours", "currencies", "mcc_codes")


@pytest.fixture(scope="session")
def real_refs(tmp_path_factory) -> dict[str, pl.DataFrame]:
    """The reference frames 1A reads, built from the installed packages."""
    from fraud_assets.reference import catalog
    root = None
    try:
        from fraud_assets_tests.reference import conftest as ref_conftest

        if ref_conftest._BUILT.get("root") is not None or os.environ.get(ref_conftest.ROOT_ENV):
            root = ref_conftest.reference_build(tmp_path_factory)[0]
    except ImportError:  # pragma: no cover
        pass
    if root is None:
        root = tmp_path_factory.mktemp("reference_1a")
        catalog.build_all(root, only=REAL_REFERENCE_IDS)
    return {f"ref.{i}": catalog.load(root, i) for i in REAL_REFERENCE_IDS}
