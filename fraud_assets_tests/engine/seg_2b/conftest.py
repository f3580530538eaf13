"""Fixtures for segment 2B: literal sites, a fake population raster, a literal 3B edge world, worlds,
configs and an in-memory chain runner.

`run_chain` runs S0..S8 like the runner (each state gets exactly its declared reads; JSON outputs
come back as one-row frames, as `GatedReader` hands them over; S8 gets the RNG trace built from the
states' tallies) without a store. The 3B inputs follow INTEGRATION B.1 and 3B's datasets: the edge
blob is built with `core.alias` and handed over as the `{file: bytes}` mapping of a FILES dataset.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from fraud_assets.core import alias
from fraud_assets.core.canonical import canonical_sha256
from fraud_assets.core.identity import World, WorldPreset
from fraud_assets.engine.inputs import RasterMeta
from fraud_assets.engine.seg_2b import catalogue
from fraud_assets.engine.seg_2b import datasets as ds
from fraud_assets.engine.seg_2b.config import Config2B, load_config
from fraud_assets.engine.state import StateContext, StateResult
from fraud_assets_tests.reference.conftest import built_reference_root  # noqa: F401

REPO = Path(__file__).resolve().parents[3]
CONFIG_DIR = REPO / "config" / "engine" / "2B"
PRESETS = {"tiny": (50, datetime(2026, 3, 27, tzinfo=timezone.utc), 3),
           "small": (500, datetime(2026, 3, 2, tzinfo=timezone.utc), 14),
           "medium": (2500, datetime(2026, 3, 2, tzinfo=timezone.utc), 35),
           "large": (10000, datetime(2026, 1, 26, tzinfo=timezone.utc), 70)}
TRACE_SCHEMA = {"state": pl.String, "family": pl.String, "keys": pl.Int64, "draws": pl.Int64, "blocks": pl.Int64}
SITE_SCHEMA = {"merchant_id": pl.Int64, "legal_country_iso": pl.String, "site_order": pl.Int32,
               "lat_deg": pl.Float64, "lon_deg": pl.Float64}
TZ_SCHEMA = {"merchant_id": pl.Int64, "legal_country_iso": pl.String, "site_order": pl.Int32, "tzid": pl.String}
BLOB_FILE = "edge_alias_blob_3B.bin"


def make_world(preset: str = "tiny", seed: int = 42, fingerprint: str = "f" * 64,
               start: datetime | None = None, days: int | None = None) -> World:
    merchants, s, d = PRESETS[preset]
    return World(fingerprint, "a" * 64, seed, WorldPreset(preset, merchants, start or s, days or d),
                 "2026-01-01T00:00:00Z")


def with_config(cfg: Config2B, **changes) -> Config2B:
    data = cfg.model_dump()

    def merge(a: dict, b: Mapping) -> dict:
        for k, v in b.items():
            a[k] = merge(dict(a[k]), v) if isinstance(v, Mapping) and isinstance(a.get(k), dict) else v
        return a

    return Config2B.model_validate(merge(data, changes))


def make_ctx(world: World | None = None, config: Config2B | None = None) -> StateContext:
    return StateContext(world=world or make_world(), config=config or load_config(CONFIG_DIR))


class FakeRaster:
    """A deterministic 3600 × 7200 'population' surface: a smooth field plus optional overrides."""

    def __init__(self, overrides: Mapping[tuple[int, int], float] | None = None) -> None:
        self.overrides = dict(overrides or {})
        self.reads: list[tuple[int, int]] = []

    def meta(self) -> RasterMeta:
        return RasterMeta(7200, 3600, (0.05, 0.0, -180.0, 0.0, -0.05, 90.0), "EPSG:4326", "float32", None)

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        self.reads.append((start, stop))
        r = np.arange(start, stop, dtype=np.float64)[:, None]
        c = np.arange(7200, dtype=np.float64)[None, :]
        block = 3000.0 * (1.0 + np.sin(r / 37.0) * np.cos(c / 53.0)) + (r * 7 + c * 13) % 997
        for (row, col), v in self.overrides.items():
            if start <= row < stop:
                block[row - start, col] = v
        return block


def cell_of(lat: float, lon: float) -> tuple[int, int]:
    return min(int(np.floor((90 - lat) * 20)), 3599), min(int(np.floor((lon + 180) * 20)), 7199)


# (merchant_id, home, [(country, site_order, lat, lon, tzid), ...])
LITERAL_MERCHANTS = [
    (1001, "FR", [("FR", 1, 48.85, 2.35, "Europe/Paris")]),
    (1002, "US", [("US", 1, 40.71, -74.0, "America/New_York"), ("US", 2, 41.88, -87.63, "America/Chicago"),
                  ("US", 3, 34.05, -118.24, "America/Los_Angeles"), ("US", 4, 42.36, -71.06, "America/New_York")]),
    (1003, "DE", [("DE", 1, 52.52, 13.40, "Europe/Berlin"), ("DE", 2, 48.14, 11.58, "Europe/Berlin"),
                  ("AT", 1, 48.21, 16.37, "Europe/Vienna")]),
    (1004, "ES", [("ES", 1, 40.42, -3.70, "Europe/Madrid"), ("ES", 2, 28.12, -15.43, "Atlantic/Canary"),
                  ("ES", 3, 41.39, 2.17, "Europe/Madrid"), ("PT", 1, 38.72, -9.14, "Europe/Lisbon"),
                  ("PT", 2, 41.15, -8.61, "Europe/Lisbon")]),
    (1005, "GB", [("GB", 1, 51.51, -0.13, "Europe/London"), ("GB", 2, 53.48, -2.24, "Europe/London")]),
    (1006, "AU", [("AU", i, -33.87 + 0.3 * i, 151.21 - 0.2 * i, "Australia/Sydney") for i in range(1, 10)]
     + [("AU", 10, -37.81, 144.96, "Australia/Melbourne"), ("NZ", 1, -36.85, 174.76, "Pacific/Auckland")]),
    (1007, "CA", [("CA", 1, 43.65, -79.38, "America/Toronto"), ("US", 1, 47.61, -122.33, "America/Los_Angeles")]),
    # a merchant whose home country has no site: the flagship comes from all sites
    (1008, "IT", [("CH", 1, 47.37, 8.54, "Europe/Zurich"), ("CH", 2, 46.20, 6.14, "Europe/Zurich")]),
]


def literal_sites(merchants: Sequence = LITERAL_MERCHANTS) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(site_locations, site_timezones, merchant_ids) from literal merchants."""
    loc, tz, mids = [], [], []
    for mid, home, sites in merchants:
        mids.append((mid, home))
        for c, so, lat, lon, tzid in sites:
            loc.append((mid, c, so, lat, lon))
            tz.append((mid, c, so, tzid))
    return (pl.DataFrame(loc, schema=SITE_SCHEMA, orient="row").sort("merchant_id", "legal_country_iso", "site_order"),
            pl.DataFrame(tz, schema=TZ_SCHEMA, orient="row").sort("merchant_id", "legal_country_iso", "site_order"),
            pl.DataFrame(mids, schema={"merchant_id": pl.Int64, "home_country_iso": pl.String}, orient="row"))


ZONES = {"FR": ["Europe/Paris"], "DE": ["Europe/Berlin"], "ES": ["Europe/Madrid", "Atlantic/Canary"],
         "US": ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"],
         "AU": ["Australia/Sydney", "Australia/Perth", "Australia/Brisbane"], "GB": ["Europe/London"],
         "PT": ["Europe/Lisbon", "Atlantic/Madeira"]}


def synthetic_sites(n_merchants: int, seed: int = 0, id_base: int = 10_000) -> tuple[pl.DataFrame, pl.DataFrame,
                                                                                      pl.DataFrame]:
    """A larger random site world (sizes 1..15, 70 % in the home country)."""
    rng = np.random.default_rng(seed)
    countries = sorted(ZONES)
    merchants = []
    for i in range(n_merchants):
        mid = id_base + 7 * i
        home = countries[int(rng.integers(len(countries)))]
        n = int(rng.choice([1, 1, 2, 3, 4, 6, 9, 15]))
        sites, order = [], {}
        for _ in range(n):
            c = home if rng.random() < 0.7 else countries[int(rng.integers(len(countries)))]
            order[c] = order.get(c, 0) + 1
            sites.append((c, order[c], float(rng.uniform(-55, 65)), float(rng.uniform(-170, 170)),
                          ZONES[c][int(rng.integers(len(ZONES[c])))]))
        merchants.append((mid, home, sites))
    return literal_sites(merchants)


def edge_world(merchants: Mapping[int, tuple[str, float]], n_edges: Mapping[int, int] | None = None,
               all_merchants: Sequence[int] = (), seed: int = 3) -> dict[str, object]:
    """The five 3B inputs for `merchants` {merchant_id: (virtual_mode, edge_share)} (+ NON_VIRTUAL others)."""
    rng = np.random.default_rng(seed)
    rows, cat, tables, index = [], [], [], []
    for mid in sorted(set(all_merchants) | set(merchants)):
        mode, share = merchants.get(mid, ("NON_VIRTUAL", 0.0))
        rows.append((mid, mode != "NON_VIRTUAL", mode, share))
    virtual = sorted(m for m, (mode, _) in merchants.items() if mode != "NON_VIRTUAL")
    for mid in virtual:
        n = (n_edges or {}).get(mid, int(rng.integers(2, 9)))
        w = rng.gamma(2.0, 1.0, n)
        w = w / w.sum()
        for i in range(n):
            cat.append((mid, (mid * 1000 + i) % (1 << 62), i, ["FR", "DE", "US"][i % 3], 10.0 + i, 20.0 - i,
                        ["Europe/Paris", "Europe/Berlin", "America/New_York"][i % 3], float(w[i])))
        tables.append(alias.build(w))
    blob, offsets = alias.write_blob(tables)
    digest = hashlib.sha256(blob).hexdigest()
    for mid, (off, length), (prob, _) in zip(virtual, offsets, tables, strict=True):
        index.append(("MERCHANT", mid, off, length, prob.shape[0], 31, None))
    index.append(("GLOBAL", None, None, None, sum(t[0].shape[0] for t in tables), 31, digest))
    classification = pl.DataFrame(rows, orient="row", schema={"merchant_id": pl.Int64, "is_virtual": pl.Boolean,
                                                              "virtual_mode": pl.String, "edge_share": pl.Float64})
    catalogue_ = pl.DataFrame(cat, orient="row", schema={
        "merchant_id": pl.Int64, "edge_id": pl.Int64, "edge_seq_index": pl.Int32, "country_iso": pl.String,
        "lat_deg": pl.Float64, "lon_deg": pl.Float64, "tzid_operational": pl.String, "edge_weight": pl.Float64})
    idx = pl.DataFrame(index, orient="row", schema={
        "scope": pl.String, "merchant_id": pl.Int64, "blob_offset_bytes": pl.Int64, "blob_length_bytes": pl.Int32,
        "edge_count_total": pl.Int32, "qbits": pl.Int32, "blob_sha256_hex": pl.String})
    components = {"alias_layout": "fa.alias.v1/31", "edge_alias_blob": digest}
    universe = {"edge_universe_hash": canonical_sha256(components), "components": components}
    return {ds.VIRTUAL_CLASSIFICATION: classification, ds.EDGE_CATALOGUE: catalogue_, ds.EDGE_ALIAS_INDEX: idx,
            ds.EDGE_ALIAS_BLOB: {BLOB_FILE: blob}, ds.EDGE_UNIVERSE_HASH: pl.DataFrame([universe])}


def as_input(dataset_id: str, value):  # noqa: ANN001, ANN201
    """An output as the runner's reader hands it to the next state (JSON → one-row frame)."""
    return pl.DataFrame([value]) if dataset_id in ds.JSON_IDS else value


def base_inputs(sites: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame], edges: Mapping[str, object],
                raster: FakeRaster | None = None) -> dict:
    loc, tz, mids = sites
    return {ds.SITE_LOCATIONS: loc, ds.SITE_TIMEZONES: tz, ds.MERCHANT_IDS: mids,
            ds.REF_POPULATION_RASTER: raster or FakeRaster(), **edges}


def run_chain(data: Mapping, ctx: StateContext, *, upto: str = "S8") -> tuple[dict, dict[str, StateResult]]:
    data = dict(data)
    results: dict[str, StateResult] = {}
    trace: list[dict] = []
    for spec in catalogue.STATES:
        if spec.validation:
            data[ds.RNG_TRACE] = pl.DataFrame(trace, schema=TRACE_SCHEMA).sort("state", "family") if trace else \
                pl.DataFrame(schema=TRACE_SCHEMA)
        res = spec.run({k: data[k] for k in spec.reads if k in data}, ctx)
        results[spec.state] = res
        trace += [{"state": spec.state, "family": t.family, "keys": t.keys, "draws": t.draws, "blocks": t.blocks}
                  for t in res.rng]
        data.update({k: as_input(k, v) for k, v in res.outputs.items()})
        if spec.state == upto:
            break
    return data, results


def run_checks(spec, result: StateResult, data: Mapping, ctx: StateContext) -> dict:  # noqa: ANN001
    inputs = {k: data[k] for k in spec.reads if k in data}
    return {c.code: c.fn(result, inputs, ctx) for c in spec.checks}


def failed(checks: Mapping) -> dict:
    return {code: o.evidence for code, o in checks.items() if not o.passed}


@pytest.fixture(scope="session")
def config() -> Config2B:
    return load_config(CONFIG_DIR)


@pytest.fixture(scope="session")
def literal() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    return literal_sites()


@pytest.fixture(scope="session")
def literal_edges() -> dict:
    return edge_world({1002: ("HYBRID", 0.15), 1004: ("HYBRID", 0.6), 1009: ("VIRTUAL_ONLY", 1.0)},
                      all_merchants=[m for m, _, _ in LITERAL_MERCHANTS])


@pytest.fixture(scope="session")
def tiny_chain(literal, literal_edges, config):
    ctx = make_ctx(make_world("tiny", 42), config)
    data, results = run_chain(base_inputs(literal, literal_edges), ctx)
    return data, results, ctx


@pytest.fixture(scope="session")
def synthetic_chain(config):
    sites = synthetic_sites(120, seed=5)
    mids = sites[2].get_column("merchant_id").to_list()
    edges = edge_world({m: ("HYBRID", 0.3) for m in mids[:15]} | {m: ("VIRTUAL_ONLY", 1.0) for m in mids[15:20]},
                       all_merchants=mids)
    ctx = make_ctx(make_world("small", 42), config)
    data, results = run_chain(base_inputs(sites, edges), ctx)
    return data, results, ctx
