"""Fixtures for segment 3A: real reference frames and priors, literal upstream frames, an in-memory chain.

3A's priors come from real reference data (zone.tab, cities, links), so the fixtures
read the session reference build (`built_reference_root`) and run S2 once per session.
The 1A/2A inputs are literal frames (`outlet_catalogue`, `site_timezones` are contracts
here); `run_chain` runs S0..S7 like the runner — each state gets exactly its declared
reads, JSON outputs come back as one-row frames, the RNG trace is assembled from the
states' tallies — without a store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from fraud_assets.core.identity import World, WorldPreset
from fraud_assets.engine.seg_3a import catalogue
from fraud_assets.engine.seg_3a import datasets as ds
from fraud_assets.engine.seg_3a.config import Config3A, load_config
from fraud_assets.engine.state import StateContext, StateResult
from fraud_assets_tests.reference.conftest import built_reference_root  # noqa: F401

REPO = Path(__file__).resolve().parents[3]
CONFIG_DIR = REPO / "config" / "engine" / "3A"
REFERENCE_IDS = ("iso3166_canonical", "tzdb_zone_tab", "tzdb_links", "cities", "tz_world", "world_countries")
PRESETS = {"tiny": (50, datetime(2026, 3, 27, tzinfo=UTC), 3),
           "small": (500, datetime(2026, 3, 2, tzinfo=UTC), 14),
           "medium": (2500, datetime(2026, 3, 2, tzinfo=UTC), 35)}
TRACE_SCHEMA = {"state": pl.String, "family": pl.String, "keys": pl.Int64, "draws": pl.Int64, "blocks": pl.Int64}
FP = "f" * 64
MAX_ID = 2**63 - 1

# (merchant_id, country, [(tzid, sites), ...]): every rule of the S1 ladder and every zone_canon mapping
PAIRS: list[tuple[int, str, list[tuple[str, int]]]] = [
    (101, "US", [("America/New_York", 14), ("America/Chicago", 9), ("America/Los_Angeles", 8),
                 ("America/Denver", 3), ("America/Sitka", 1), ("US/Eastern", 2), ("America/Toronto", 1)]),  # 38: forced
    (101, "CA", [("America/Toronto", 4), ("America/Vancouver", 2)]),
    (102, "US", [("America/Chicago", 3), ("America/New_York", 2)]),   # rule e
    (103, "DE", [("Europe/Berlin", 10)]),                              # K = 1
    (104, "BR", [("America/Sao_Paulo", 1)]),                           # n < 2
    (105, "CN", [("Asia/Shanghai", 3)]),                               # dominant zone
    (106, "RU", [("Europe/Moscow", 12), ("Asia/Yekaterinburg", 4), ("Asia/Novosibirsk", 3), ("Asia/Vladivostok", 1)]),
    (107, "MX", [("America/Mexico_City", 7), ("America/Tijuana", 2), ("America/Monterrey", 3)]),
    (107, "AU", [("Australia/Sydney", 4), ("Australia/Melbourne", 3), ("Australia/Perth", 1)]),
    (108, "NO", [("Europe/Berlin", 2)]),                               # reverse link → Europe/Oslo
    (109, "UA", [("Europe/Kiev", 3)]),                                 # link → Europe/Kyiv
    (MAX_ID, "FR", [("Europe/Paris", 2)]),
    (110, "AR", [("America/Argentina/Buenos_Aires", 30), ("America/Argentina/Cordoba", 6)]),  # forced
    (111, "ID", [("Asia/Jakarta", 6), ("Asia/Makassar", 2)]),
    (112, "KZ", [("Asia/Almaty", 5), ("Asia/Aqtobe", 2)]),
    (113, "US", [("America/Phoenix", 2), ("Pacific/Honolulu", 1), ("America/Los_Angeles", 4)]),
]


def make_world(preset: str = "tiny", seed: int = 42, fingerprint: str = FP) -> World:
    merchants, start, days = PRESETS[preset]
    return World(fingerprint, "a" * 64, seed, WorldPreset(preset, merchants, start, days), "2026-01-01T00:00:00Z")


def with_config(cfg: Config3A, **changes) -> Config3A:
    """A copy of `cfg` with nested changes: with_config(cfg, zone_mixture_policy={"dispersion": {...}})."""
    data = cfg.model_dump()

    def merge(a: dict, b: Mapping) -> dict:
        for k, v in b.items():
            a[k] = merge(dict(a[k]), v) if isinstance(v, Mapping) and isinstance(a.get(k), dict) else v
        return a

    return Config3A.model_validate(merge(data, changes))


def make_ctx(world: World | None = None, config: Config3A | None = None, identity: dict | None = None) -> StateContext:
    w = world or make_world()
    settings = {"recomputed_identity": identity or {"parameter_hash": w.parameter_hash,
                                                    "manifest_fingerprint": w.manifest_fingerprint}}
    return StateContext(world=w, config=config or load_config(CONFIG_DIR), exec_settings=settings)


def upstream_frames(pairs: Iterable[tuple[int, str, Sequence[tuple[str, int]]]], world: World) -> tuple[pl.DataFrame,
                                                                                                        pl.DataFrame]:
    """(`outlet_catalogue`, `site_timezones`) of literal pairs, site_order 1..n per pair, partition columns set."""
    oc_rows, st_rows = [], []
    for m, c, zones in pairs:
        order = 0
        for tz, k in zones:
            for _ in range(k):
                order += 1
                oc_rows.append((m, c, order))
                st_rows.append((m, c, order, tz))
    oc = pl.DataFrame(oc_rows, schema={"merchant_id": pl.Int64, "legal_country_iso": pl.String,
                                       "site_order": pl.Int32}, orient="row").with_columns(
        pl.lit(world.manifest_fingerprint).alias("manifest_fingerprint"),
        pl.lit(world.seed, dtype=pl.UInt64).alias("global_seed")).sort(ds.PAIR_SORT + ("site_order",))
    st = pl.DataFrame(st_rows, schema={"merchant_id": pl.Int64, "legal_country_iso": pl.String,
                                       "site_order": pl.Int32, "tzid": pl.String}, orient="row").with_columns(
        pl.lit(world.manifest_fingerprint).alias("manifest_fingerprint"),
        pl.lit(world.seed, dtype=pl.UInt64).alias("seed")).sort(ds.PAIR_SORT + ("site_order",))
    return oc, st


def as_input(dataset_id: str, value):
    """An output as the runner's reader hands it to the next state (JSON → one-row frame)."""
    return pl.DataFrame([value]) if dataset_id in ds.JSON_IDS else value


def trace_frame(results: Mapping[str, StateResult]) -> pl.DataFrame:
    rows = [(state, t.family, t.keys, t.draws, t.blocks) for state, r in results.items() for t in r.rng]
    return pl.DataFrame(rows, schema=TRACE_SCHEMA, orient="row").sort("state", "family")


def run_chain(refs: Mapping[str, pl.DataFrame], oc: pl.DataFrame, st: pl.DataFrame, ctx: StateContext, *,
              upto: str = "S7", s2_outputs: Mapping[str, pl.DataFrame] | None = None) -> tuple[dict, dict]:
    """S0..`upto` in catalogue order; `s2_outputs` reuses precomputed priors instead of running S2."""
    data: dict = dict(refs)
    data[ds.OUTLET_CATALOGUE] = oc
    data[ds.SITE_TIMEZONES] = st
    results: dict[str, StateResult] = {}
    for spec in catalogue.STATES:
        if spec.state == "S2" and s2_outputs is not None:
            results["S2"] = StateResult(outputs=dict(s2_outputs))
        else:
            if spec.validation:
                data[ds.RNG_TRACE] = trace_frame(results)
            results[spec.state] = spec.run({k: data[k] for k in spec.reads}, ctx)
        data.update({k: as_input(k, v) for k, v in results[spec.state].outputs.items()})
        if spec.state == upto:
            break
    return data, results


def run_checks(spec, result: StateResult, data: Mapping, ctx: StateContext) -> dict:
    inputs = {k: data[k] for k in spec.reads if k in data}
    return {c.code: c.fn(result, inputs, ctx) for c in spec.checks}


@pytest.fixture(scope="session")
def config() -> Config3A:
    return load_config(CONFIG_DIR)


@pytest.fixture(scope="session")
def refs(built_reference_root) -> dict[str, pl.DataFrame]:  # noqa: F811
    from fraud_assets.reference import catalog

    return {f"ref.{i}": catalog.load(built_reference_root, i) for i in REFERENCE_IDS}


@pytest.fixture(scope="session")
def s2_result(refs, config) -> StateResult:
    return catalogue.S2.run({k: refs[k] for k in catalogue.S2.reads if k in refs}, make_ctx(config=config))


@pytest.fixture(scope="session")
def universe(s2_result) -> pl.DataFrame:
    return s2_result.outputs[ds.S2_UNIVERSE]


@pytest.fixture(scope="session")
def priors(s2_result) -> pl.DataFrame:
    return s2_result.outputs[ds.S2_PRIORS]


@pytest.fixture(scope="session")
def links(refs) -> pl.DataFrame:
    return refs[ds.REF_LINKS]


@pytest.fixture(scope="session")
def chain(refs, config, s2_result):
    """The literal PAIRS world through S7 (tiny, seed 42): (data, results, ctx)."""
    ctx = make_ctx(make_world("tiny", 42), config)
    oc, st = upstream_frames(PAIRS, ctx.world)
    data, results = run_chain(refs, oc, st, ctx, s2_outputs=s2_result.outputs)
    return data, results, ctx
