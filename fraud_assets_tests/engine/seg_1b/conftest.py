"""Fixtures for segment 1B: a literal geographic world, a fake raster, worlds, configs, a chain runner,
and a real-reference world home (built once per session) for the chain tests.

The literal world (WKB MultiPolygons, as `world_countries` ships them) carries the traps that
matter: a country with a hole (`ZA` around `LS`, the Lesotho case), a country split at the
antimeridian (`FJ`), a Chukotka-like part at −180 (`RU`), a single-tile synthetic island
(`KI`), Namibia's `NA`, and Antarctica (excluded by config).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from fraud_assets.core.identity import World, WorldPreset
from fraud_assets.engine.inputs import RasterMeta
from fraud_assets.engine.seg_1b import catalogue
from fraud_assets.engine.seg_1b import datasets as ds
from fraud_assets.engine.seg_1b.config import Config1B, load_config
from fraud_assets.engine.state import StateContext, StateResult
from fraud_assets_tests.reference.conftest import built_reference_root  # noqa: F401

REPO = Path(__file__).resolve().parents[3]
CONFIG_DIR = REPO / "config" / "engine" / "1B"
PRESET_SIZES = {"tiny": 50, "small": 500, "medium": 2500, "large": 10000}

ZA_OUTER = box(20.0, -35.0, 30.0, -25.0)
LS_BOX = box(24.2, -31.8, 26.8, -29.2)
GEOMETRIES = {
    "AA": MultiPolygon([box(10.5, 10.2, 13.3, 12.6)]),
    "FJ": MultiPolygon([box(178.2, -18.4, 180.0, -16.5), box(-180.0, -17.2, -179.4, -16.1)]),
    "KI": MultiPolygon([box(173.1, 1.1, 173.5, 1.4)]),
    "LS": MultiPolygon([LS_BOX]),
    "NA": MultiPolygon([Polygon([(12.0, -17.0), (19.0, -17.0), (19.0, -28.0), (15.0, -28.0)])]),
    "RU": MultiPolygon([box(170.0, 60.0, 180.0, 70.0), box(-180.0, 64.3, -178.5, 66.7)]),
    "ZA": MultiPolygon([Polygon(ZA_OUTER.exterior.coords, [LS_BOX.exterior.coords])]),
    "AQ": MultiPolygon([box(-179.0, -89.0, 179.0, -70.0)]),
}
CONTINENTS = {"AA": "Africa", "FJ": "Oceania", "KI": "Oceania", "LS": "Africa", "NA": "Africa", "RU": "Europe",
              "ZA": "Africa", "AQ": "Antarctica"}
SYNTHETIC = {"KI"}
# (geonameid, iso, lat, lon, population)
CITIES = [
    (101, "AA", 11.50, 11.20, 900_000), (102, "AA", 12.10, 12.90, 40_000), (103, "AA", 10.60, 13.10, 5_000),
    (201, "FJ", -18.14, 178.44, 80_000), (202, "FJ", -16.80, -179.70, 10_000), (203, "FJ", -17.60, 179.50, 3_000),
    (301, "KI", 1.33, 173.21, 12_000),
    (401, "LS", -29.31, 27.48, 330_000), (402, "LS", -30.50, 25.50, 20_000),
    (501, "NA", -22.56, 17.08, 300_000), (502, "NA", -19.90, 15.00, 0),
    (601, "RU", 64.73, 177.50, 15_000), (602, "RU", 65.90, -179.20, 1_000), (603, "RU", 62.00, 172.00, 2_000),
    (701, "ZA", -26.20, 28.05, 4_400_000), (702, "ZA", -33.92, 20.60, 3_400_000), (703, "ZA", -29.00, 24.80, 50_000),
]
# (merchant_id, legal_country_iso, n_sites)
OUTLETS = [(11, "AA", 5), (11, "ZA", 2), (12, "ZA", 40), (13, "FJ", 7), (14, "KI", 3), (14, "RU", 12),
           (15, "LS", 1), (16, "NA", 9), (17, "AA", 1), (18, "RU", 4)]


def wkb(geom) -> bytes:
    return shapely.to_wkb(geom)


def literal_countries(geometries: Mapping[str, object] | None = None) -> pl.DataFrame:
    geometries = GEOMETRIES if geometries is None else geometries
    isos = sorted(geometries)
    return pl.DataFrame({
        "country_iso": isos, "continent": [CONTINENTS.get(i, "Africa") for i in isos],
        "synthetic": [i in SYNTHETIC for i in isos],
        "geometry": [wkb(geometries[i]) for i in isos],
    }, schema={"country_iso": pl.String, "continent": pl.String, "synthetic": pl.Boolean, "geometry": pl.Binary})


def literal_cities() -> pl.DataFrame:
    return pl.DataFrame(CITIES, orient="row", schema={"geonameid": pl.Int64, "country_iso": pl.String,
                                                      "lat_deg": pl.Float64, "lon_deg": pl.Float64,
                                                      "population": pl.Int64})


def outlet_catalogue(outlets=OUTLETS, fingerprint: str = "f" * 64, seed: int = 42) -> pl.DataFrame:
    rows = [(fingerprint, m, f"{s:06d}", c, c, n > 1, n, n, s, seed) for m, c, n in outlets for s in range(1, n + 1)]
    return pl.DataFrame(rows, orient="row", schema={
        "manifest_fingerprint": pl.String, "merchant_id": pl.Int64, "site_id": pl.String,
        "home_country_iso": pl.String, "legal_country_iso": pl.String, "single_vs_multi_flag": pl.Boolean,
        "raw_nb_outlet_draw": pl.Int32, "final_country_outlet_count": pl.Int32, "site_order": pl.Int32,
        "global_seed": pl.UInt64}).sort("merchant_id", "legal_country_iso", "site_order")


def country_universe(isos=("AA", "FJ", "KI", "LS", "NA", "RU", "ZA")) -> pl.DataFrame:
    floors = {"Africa": 0.10, "Oceania": 0.05}
    return pl.DataFrame({"country_iso": list(isos), "continent": [CONTINENTS[i] for i in isos],
                         "region_floor_share": [floors.get(CONTINENTS[i]) for i in isos]},
                        schema={"country_iso": pl.String, "continent": pl.String, "region_floor_share": pl.Float64})


class FakeRaster:
    """A `RasterSource` stand-in: the 3600 × 7200 contract, values from sparse deposits (or a patch)."""

    def __init__(self, deposits: Mapping[tuple[int, int], float] | None = None, *, shape=(3600, 7200),
                 transform=(0.05, 0.0, -180.0, 0.0, -0.05, 90.0), crs="EPSG:4326", dtype="float32", nodata=None):
        self.deposits = dict(deposits or {})
        self._meta = RasterMeta(shape[1], shape[0], transform, crs, dtype, nodata)

    @classmethod
    def from_cities(cls, cities: pl.DataFrame) -> FakeRaster:
        dep: dict[tuple[int, int], float] = {}
        for lat, lon, pop in cities.select("lat_deg", "lon_deg", "population").iter_rows():
            r, c = min(int((90.0 - lat) * 20), 3599), min(int((lon + 180.0) * 20), 7199)
            dep[(r, c)] = dep.get((r, c), 0.0) + float(pop)
        return cls(dep)

    def meta(self) -> RasterMeta:
        return self._meta

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        out = np.zeros((stop - start, self._meta.width), dtype=np.float64)
        for (r, c), v in self.deposits.items():
            if start <= r < stop:
                out[r - start, c] = v
        return out


def literal_inputs(outlets=OUTLETS, seed: int = 42) -> dict[str, object]:
    cities = literal_cities()
    return {
        ds.OUTLET_CATALOGUE: outlet_catalogue(outlets, seed=seed),
        ds.COUNTRY_UNIVERSE: country_universe(),
        ds.REF_COUNTRIES: literal_countries(),
        ds.REF_CITIES: cities,
        ds.REF_ISO: pl.DataFrame({"country_iso": sorted(GEOMETRIES)}),
        ds.REF_RASTER: FakeRaster.from_cities(cities),
    }


def make_world(preset: str = "tiny", seed: int = 42, fingerprint: str = "f" * 64,
               parameter_hash: str = "a" * 64) -> World:
    return World(manifest_fingerprint=fingerprint, parameter_hash=parameter_hash, seed=seed,
                 preset=WorldPreset(preset, PRESET_SIZES[preset], datetime(2026, 3, 27, tzinfo=timezone.utc), 3),
                 registered_utc="2026-01-01T00:00:00Z")


def make_ctx(world: World | None = None, config: Config1B | None = None, **exec_settings) -> StateContext:
    return StateContext(world=world or make_world(), config=config or load_config(CONFIG_DIR),
                        exec_settings=exec_settings)


def with_config(cfg: Config1B, **changes: dict) -> Config1B:
    """A copy of `cfg` with nested changes: with_config(cfg, placement={"jitter": {"p_city": 0.0}})."""
    data = cfg.model_dump()

    def merge(a: dict, b: Mapping) -> dict:
        for k, v in b.items():
            a[k] = merge(dict(a[k]), v) if isinstance(v, Mapping) and isinstance(a.get(k), dict) else v
        return a

    return Config1B.model_validate(merge(data, changes))


def trace_frame(results: Mapping[str, StateResult]) -> pl.DataFrame:
    rows = [(state, t.family, t.keys, t.draws, t.blocks) for state, res in results.items() for t in res.rng]
    return pl.DataFrame(rows, orient="row", schema=ds.RNG_TRACE_SCHEMA)


def run_chain(inputs: Mapping[str, object], ctx: StateContext, *, upto: str = "S9"):
    """Run S0..`upto` like the runner: each state gets exactly its declared reads."""
    data: dict[str, object] = dict(inputs)
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


def failed_checks(spec, result: StateResult, data: Mapping[str, object], ctx: StateContext) -> dict[str, dict]:
    """Check name -> evidence of every failing check of `spec` on `result`."""
    sub = {k: data[k] for k in spec.reads}
    out = {}
    for chk in spec.checks:
        o = chk.fn(result, sub, ctx)
        if not o.passed:
            out[chk.name] = {"code": chk.code, **o.evidence}
    return out


@pytest.fixture(scope="session")
def config() -> Config1B:
    return load_config(CONFIG_DIR)


@pytest.fixture(scope="session")
def literal_chain(config):
    ctx = make_ctx(make_world("tiny", 42), config)
    data, results = run_chain(literal_inputs(), ctx)
    return data, results, ctx


@pytest.fixture(scope="session")
def literal_chain_small(config):
    """The literal world on the small grid (tpd = 2)."""
    ctx = make_ctx(make_world("small", 7), config)
    data, results = run_chain(literal_inputs(seed=7), ctx)
    return data, results, ctx


# ---- real reference data ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def real_home(tmp_path_factory, built_reference_root) -> Path:  # noqa: F811
    """A store home holding the session's reference data (copied once; worlds are built inside)."""
    home = tmp_path_factory.mktemp("home_1b")
    shutil.copytree(built_reference_root / "reference", home / "reference")
    return home


@pytest.fixture(scope="session")
def real_refs(built_reference_root) -> dict[str, object]:  # noqa: F811
    from fraud_assets.engine.inputs import RasterSource
    from fraud_assets.reference import catalog

    return {ds.REF_COUNTRIES: catalog.load(built_reference_root, "world_countries"),
            ds.REF_CITIES: catalog.load(built_reference_root, "cities"),
            ds.REF_ISO: catalog.load(built_reference_root, "iso3166_canonical"),
            ds.REF_RASTER: RasterSource(catalog.raster_path(built_reference_root))}
