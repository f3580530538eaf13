"""Fixtures for segment 3B: the real reference frames, literal 1A inputs, worlds, configs, an in-memory chain.

3B is about real cities, GDP and tz polygons, so the fixtures read the session reference
build (`built_reference_root`, shared with every segment's tests). 1A is only a contract
here: `merchants_frame` / `outlets_frame` build literal `merchant_ids` and `outlet_catalogue`
frames, and `run_chain` runs S0..S5 like the runner (each state gets exactly its declared
reads; JSON outputs come back as one-row frames, as `GatedReader` hands them over; S5 gets the
RNG trace the runner would write) without a store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from fraud_assets.core.identity import World, WorldPreset
from fraud_assets.engine.seg_3b import catalogue
from fraud_assets.engine.seg_3b import datasets as ds
from fraud_assets.engine.seg_3b.config import Config3B, load_config
from fraud_assets.engine.state import StateContext, StateResult
from fraud_assets_tests.reference.conftest import built_reference_root  # noqa: F401

REPO = Path(__file__).resolve().parents[3]
CONFIG_DIR = REPO / "config" / "engine" / "3B"
REFERENCE_IDS = ("cities", "world_countries", "gdp_bucket_map", "tz_world", "tzdb_zone_tab", "tzdb_zone1970_tab",
                 "tzdb_links", "tzif_digest", "mcc_codes")
PRESETS = {"tiny": (50, datetime(2026, 3, 27, tzinfo=UTC), 3),
           "small": (500, datetime(2026, 3, 2, tzinfo=UTC), 14),
           "medium": (2500, datetime(2026, 3, 2, tzinfo=UTC), 35)}
TRACE_SCHEMA = {"state": pl.String, "family": pl.String, "keys": pl.Int64, "draws": pl.Int64, "blocks": pl.Int64}
CNP, CP = "card_not_present", "card_present"


def make_world(preset: str = "small", seed: int = 42, fingerprint: str = "f" * 64) -> World:
    merchants, start, days = PRESETS[preset]
    return World(fingerprint, "a" * 64, seed, WorldPreset(preset, merchants, start, days), "2026-01-01T00:00:00Z")


def with_config(cfg: Config3B, **changes) -> Config3B:
    """A copy of `cfg` with nested changes: with_config(cfg, edge_topology={"jitter_radius_km": 0})."""
    data = cfg.model_dump()

    def merge(a: dict, b: Mapping) -> dict:
        for k, v in b.items():
            a[k] = merge(dict(a[k]), v) if isinstance(v, Mapping) and isinstance(a.get(k), dict) else v
        return a

    return Config3B.model_validate(merge(data, changes))


def make_ctx(world: World | None = None, config: Config3B | None = None) -> StateContext:
    return StateContext(world=world or make_world(), config=config or load_config(CONFIG_DIR))


def merchants_frame(rows: Sequence[tuple[int, int, str, str]]) -> pl.DataFrame:
    """`merchant_ids` from (merchant_id, mcc, channel, home_country_iso) rows."""
    return pl.DataFrame(list(rows), schema=ds.MERCHANT_IDS_COLUMNS, orient="row").sort("merchant_id")


def outlets_frame(counts: Mapping[int, int], home: Mapping[int, str]) -> pl.DataFrame:
    """`outlet_catalogue` with `counts[m]` rows per merchant in its home country."""
    rows = [(m, home[m], i + 1) for m, n in sorted(counts.items()) for i in range(n)]
    return pl.DataFrame(rows, schema={"merchant_id": pl.Int64, "legal_country_iso": pl.String,
                                      "site_order": pl.Int32}, orient="row")


HOMES = ("US", "GB", "DE", "FR", "IN", "BR", "JP", "CN", "AU", "ZA", "MX", "NG", "ID", "CA", "ES", "IT", "KR", "EG",
         "AR", "PL")
ONLINE_MCCS = (5815, 5816, 5817, 5818, 4816, 5734, 7372, 7995, 5964, 5966, 4812, 4899, 6051, 7273, 4722, 7011,
               5311, 5999, 5411, 7299)


def synthetic_world(n: int = 240, n_card_present: int = 1400) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`n` merchants in online MCCs (≈ 110 virtual ones, varied sizes and homes) diluted by `n_card_present`
    grocery merchants (VR99, no draw), so prevalence lands in the realism band."""
    rows, counts, home = [], {}, {}
    for i in range(n_card_present):
        m = 900_000 + 3 * i
        h = HOMES[i % len(HOMES)]
        rows.append((m, 5411, CP, h))
        counts[m] = 1 + i % 5
        home[m] = h
    for i in range(n):
        m = 10_000 + 7 * i
        channel = CNP if i % 4 != 3 else CP
        mcc = ONLINE_MCCS[i % len(ONLINE_MCCS)]
        h = HOMES[(i * 7) % len(HOMES)]
        rows.append((m, mcc, channel, h))
        counts[m] = 1 + (i * 13) % 29 if i % 3 == 0 else 1
        home[m] = h
    return merchants_frame(rows), outlets_frame(counts, home)


def as_input(dataset_id: str, value):
    """An output as the runner's reader hands it to the next state (JSON → one-row frame)."""
    return pl.DataFrame([value]) if dataset_id in ds.JSON_IDS else value


def run_chain(refs: Mapping[str, pl.DataFrame], merchant_ids: pl.DataFrame, outlets: pl.DataFrame,
              ctx: StateContext, *, upto: str = "S5") -> tuple[dict, dict[str, StateResult]]:
    data: dict = dict(refs)
    data[ds.MERCHANT_IDS] = merchant_ids
    data[ds.OUTLET_CATALOGUE] = outlets
    trace: list[tuple] = []
    results: dict[str, StateResult] = {}
    for spec in catalogue.STATES:
        if spec.validation:
            data[ds.RNG_TRACE] = pl.DataFrame(trace, schema=TRACE_SCHEMA, orient="row").sort("state", "family")
        res = spec.run({k: data[k] for k in spec.reads}, ctx)
        results[spec.state] = res
        data.update({k: as_input(k, v) for k, v in res.outputs.items()})
        trace += [(spec.state, t.family, t.keys, t.draws, t.blocks) for t in res.rng]
        if spec.state == upto:
            break
    return data, results


def run_checks(spec, result: StateResult, data: Mapping, ctx: StateContext) -> dict:
    inputs = {k: data[k] for k in spec.reads}
    return {c.code: c.fn(result, inputs, ctx) for c in spec.checks}


@pytest.fixture(scope="session")
def config() -> Config3B:
    return load_config(CONFIG_DIR)


@pytest.fixture(scope="session")
def refs(built_reference_root) -> dict[str, pl.DataFrame]:  # noqa: F811
    from fraud_assets.reference import catalog

    return {f"ref.{i}": catalog.load(built_reference_root, i) for i in REFERENCE_IDS}


@pytest.fixture(scope="session")
def synthetic() -> tuple[pl.DataFrame, pl.DataFrame]:
    return synthetic_world()


@pytest.fixture(scope="session")
def chain(refs, synthetic, config):
    """S0..S5 over the synthetic merchant mix (small world, seed 42)."""
    ctx = make_ctx(make_world("small", 42), config)
    data, results = run_chain(refs, *synthetic, ctx)
    return data, results, ctx
