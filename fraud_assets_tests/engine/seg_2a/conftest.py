"""Fixtures for segment 2A: the real reference frames, worlds, configs and an in-memory chain runner.

2A is about real geometry and the real tzdata wheel, so the fixtures read the
session reference build (`built_reference_root`, shared with every segment's
tests) rather than literal polygons. `run_chain` runs S0..S5 like the runner
(each state gets exactly its declared reads; JSON outputs come back as one-row
frames, as `GatedReader` hands them over) without a store, on literal
`site_locations` frames: 1B's output is only a contract here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from fraud_assets.core.dictionary import Kind
from fraud_assets.core.identity import World, WorldPreset
from fraud_assets.engine.common import tz_resolve as tr
from fraud_assets.engine.seg_2a import catalogue
from fraud_assets.engine.seg_2a import datasets as ds
from fraud_assets.engine.seg_2a.config import Config2A, load_config
from fraud_assets.engine.state import StateContext, StateResult
from fraud_assets_tests.reference.conftest import built_reference_root  # noqa: F401

REPO = Path(__file__).resolve().parents[3]
CONFIG_DIR = REPO / "config" / "engine" / "2A"
REFERENCE_IDS = ("tz_world", "tzif_digest", "tzdb_zone_tab", "tzdb_zone1970_tab", "cities", "mcc_codes",
                 "iso3166_canonical")
PRESETS = {"tiny": (50, datetime(2026, 3, 27, tzinfo=timezone.utc), 3),
           "small": (500, datetime(2026, 3, 2, tzinfo=timezone.utc), 14),
           "medium": (2500, datetime(2026, 3, 2, tzinfo=timezone.utc), 35),
           "large": (10000, datetime(2026, 1, 26, tzinfo=timezone.utc), 70)}
JSON_IDS = {d.id for d in ds.DATASETS if d.kind is Kind.JSON}
TRACE_SCHEMA = {"state": pl.String, "family": pl.String, "keys": pl.Int64, "draws": pl.Int64, "blocks": pl.Int64}


def make_world(preset: str = "tiny", seed: int = 42, fingerprint: str = "f" * 64) -> World:
    merchants, start, days = PRESETS[preset]
    return World(fingerprint, "a" * 64, seed, WorldPreset(preset, merchants, start, days), "2026-01-01T00:00:00Z")


def with_config(cfg: Config2A, **changes) -> Config2A:
    """A copy of `cfg` with nested changes: with_config(cfg, tz_nudge={"epsilon_degrees": 0.0})."""
    data = cfg.model_dump()

    def merge(a: dict, b: Mapping) -> dict:
        for k, v in b.items():
            a[k] = merge(dict(a[k]), v) if isinstance(v, Mapping) and isinstance(a.get(k), dict) else v
        return a

    return Config2A.model_validate(merge(data, changes))


def make_ctx(world: World | None = None, config: Config2A | None = None) -> StateContext:
    return StateContext(world=world or make_world(), config=config or load_config(CONFIG_DIR))


def sites_frame(rows: Sequence[tuple]) -> pl.DataFrame:
    """`site_locations` from (merchant_id, country, site_order, lat, lon) rows."""
    return pl.DataFrame(list(rows), schema=ds.SITE_LOCATIONS_SCHEMA, orient="row")


def merchants_for(sites: pl.DataFrame, mcc: int | Mapping[int, int] = 5411) -> pl.DataFrame:
    ids = sorted(set(sites.get_column("merchant_id").to_list()))
    codes = [mcc.get(i, 5411) if isinstance(mcc, Mapping) else mcc for i in ids]
    return pl.DataFrame({"merchant_id": ids, "mcc": codes}, schema={"merchant_id": pl.Int64, "mcc": pl.Int32})


def as_input(dataset_id: str, value):  # noqa: ANN001, ANN201
    """An output as the runner's reader hands it to the next state (JSON → one-row frame)."""
    return pl.DataFrame([value]) if dataset_id in JSON_IDS else value


def run_chain(refs: Mapping[str, pl.DataFrame], sites: pl.DataFrame, merchant_ids: pl.DataFrame,
              ctx: StateContext, *, upto: str = "S5") -> tuple[dict, dict[str, StateResult]]:
    data: dict = dict(refs)
    data[ds.SITE_LOCATIONS] = sites
    data[ds.MERCHANT_IDS] = merchant_ids
    data[ds.RNG_TRACE] = pl.DataFrame(schema=TRACE_SCHEMA)
    results: dict[str, StateResult] = {}
    for spec in catalogue.STATES:
        res = spec.run({k: data[k] for k in spec.reads}, ctx)
        results[spec.state] = res
        data.update({k: as_input(k, v) for k, v in res.outputs.items()})
        if spec.state == upto:
            break
    return data, results


def run_checks(spec, result: StateResult, data: Mapping, ctx: StateContext) -> dict:  # noqa: ANN001
    inputs = {k: data[k] for k in spec.reads}
    return {c.code: c.fn(result, inputs, ctx) for c in spec.checks}


@pytest.fixture(scope="session")
def config() -> Config2A:
    return load_config(CONFIG_DIR)


@pytest.fixture(scope="session")
def refs(built_reference_root) -> dict[str, pl.DataFrame]:  # noqa: F811
    from fraud_assets.reference import catalog

    return {f"ref.{i}": catalog.load(built_reference_root, i) for i in REFERENCE_IDS}


@pytest.fixture(scope="session")
def resolver(refs, config) -> tr.TzResolver:
    return tr.resolver_for(refs[ds.REF_TZ_WORLD], refs[ds.REF_ZONE_TAB], refs[ds.REF_ZONE1970_TAB],
                           epsilon_degrees=config.tz_nudge.epsilon_degrees,
                           foreign_snap_max_km=config.tz_lookup.foreign_snap_max_km,
                           extra_country_zones=config.tz_lookup.extra_country_zones)


# Sites on real borders, offshore and across the antimeridian, plus ordinary cities (tiny-like sizes).
BORDER_SITES = [
    (101, "US", 1, 49.0, -100.0),            # US/Canada 49th parallel
    (101, "CA", 1, 49.0, -100.0),
    (102, "US", 1, 49.0, -123.0),            # Blaine / Point Roberts strait
    (103, "ES", 1, 41.95, -8.2),             # Spain/Portugal (Minho)
    (103, "PT", 1, 41.95, -8.2),
    (104, "CN", 1, 48.4, 135.0),             # China/Russia (Amur/Ussuri)
    (104, "RU", 1, 48.4, 135.0),
    (105, "PT", 1, 38.70, -10.13),           # 30 km off Lisbon (Etc/GMT+1)
    (106, "FJ", 1, -16.8, -179.97),          # Fiji west of 180
    (106, "FJ", 2, -17.7, 178.0),
    (106, "FJ", 3, -20.0, 180.0),            # lon = 180 in open sea
    (107, "KI", 1, 1.87, -157.4),            # Kiritimati (Line Islands, UTC+14)
    (107, "KI", 2, 1.33, 172.98),            # Tarawa (UTC+12)
    (108, "RU", 1, 65.0, -171.0),            # Chukotka coast across the antimeridian
    (108, "RU", 2, 64.73, 177.5),            # Anadyr
    (109, "DE", 1, 53.669047, 14.274526999999999),  # a vertex shared by Europe/Berlin and Europe/Warsaw
    (110, "PS", 1, 31.947185499999996, 35.224610337028935),  # Asia/Hebron ∩ Asia/Jerusalem
    (110, "IL", 1, 31.947185499999996, 35.224610337028935),
    (111, "TG", 1, 6.13, 1.17),              # a Togo site inside Ghana's polygon 3 km from the border
    (112, "FR", 1, 4.93, -52.33),            # French Guiana
    (113, "NO", 1, 90.0, 0.0),               # the pole: nudge clamps lat, wraps lon
    (114, "VN", 1, 21.0285, 105.8542),       # Hanoi → Asia/Bangkok via zone1970
    (115, "UA", 1, 47.8388, 35.1396),        # Zaporizhzhia
    (116, "DE", 1, 47.6965, 8.6905),         # Büsingen
    (117, "FR", 1, 48.8566, 2.3522),         # Paris (EU spring-forward 2026-03-29)
    (117, "FR", 2, 45.764, 4.8357),
    (118, "US", 1, 40.7128, -74.006),        # New York (US spring-forward 2026-03-08)
    (118, "US", 2, 34.0522, -118.2437),
    (119, "GB", 1, 51.5074, -0.1278),
    (120, "AU", 1, -31.5553, 159.0821),      # Lord Howe Island (30-minute DST)
    (121, "IN", 1, 28.6139, 77.209),
    (122, "XK", 1, 42.6629, 21.1655),        # Kosovo (extra_country_zones)
]


@pytest.fixture(scope="session")
def border_sites() -> pl.DataFrame:
    return sites_frame(BORDER_SITES)


@pytest.fixture(scope="session")
def tiny_chain(refs, border_sites, config):
    ctx = make_ctx(make_world("tiny", 42), config)
    data, results = run_chain(refs, border_sites, merchants_for(border_sites), ctx)
    return data, results, ctx
