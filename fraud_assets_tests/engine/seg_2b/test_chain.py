"""1A → 1B → 2A → 3A → 3B → 2B over the real reference data through `EngineRunner` (no Dagster): every 2B
blocking check passes, a second build is byte-identical, seed 7 builds too, `RoutingFabric.open` on the
store replays S5's roster and routes 10^5 arrivals like the in-state fabric, and a tampered 3B bundle is
refused at 2B's gate.

2B reads 3B's `edge_alias_blob_3B`, a `Kind.FILES` dataset; the runner must hand it over (as
`{file name: bytes}`). The module probes that once the 3B build exists and skips, naming the reason,
while the runner cannot.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from fraud_assets.core.canonical import sha256_file
from fraud_assets.core.errors import E_NO_PASS_NO_READ, EngineFailure
from fraud_assets.core.store import PublishStatus, WorldStore
from fraud_assets.engine import catalogue as engine_catalogue
from fraud_assets.engine.runner import EngineRunner, GatedReader, bundle_dir
from fraud_assets.engine.seg_2b import catalogue, router
from fraud_assets.engine.seg_2b import datasets as ds
from fraud_assets.engine.worlds import register
from fraud_assets.reference import catalog as reference
from fraud_assets.settings import config_root
from fraud_assets_tests.engine.seg_2b.test_router import words

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(tmp_path_factory, built_reference_root) -> Path:  # noqa: F811
    home = tmp_path_factory.mktemp("home_2b")
    shutil.copytree(built_reference_root / "reference", home / "reference")
    return home


def _world(home: Path, seed: int):  # noqa: ANN202
    store = WorldStore(home)
    world, _ = register(store, config_root(), "tiny", seed, reference.reference_digests(home))
    return store, world


def _build(home: Path, seed: int):  # noqa: ANN202
    store, world = _world(home, seed)
    runner = EngineRunner(store, config_root())
    upstream = runner.build(world, through="3B")
    assert GatedReader(store, world, "3B").read(ds.EDGE_ALIAS_BLOB)  # FILES datasets arrive as {name: bytes}
    executions = []
    for spec in catalogue.STATES:
        e = runner.execute(spec, world)
        executions.append(e)
        assert not e.failed_checks, (spec.state, {n: e.checks[n].evidence for n in e.failed_checks})
    return world, upstream, executions


def _files(home: Path, root: str) -> dict[str, str]:
    return {p.relative_to(home).as_posix(): sha256_file(p) for p in sorted((home / root).rglob("*")) if p.is_file()}


def _frame(home: Path, dataset_id: str, world) -> pl.DataFrame:  # noqa: ANN001
    spec = engine_catalogue.dictionary()[dataset_id]
    return pl.read_parquet(home / spec.relative_path(world.manifest_fingerprint, world.seed) / "part-00000.parquet")


@pytest.fixture(scope="module")
def tiny42(home):
    return _build(home, 42)


def test_tiny_42_passes_every_gate(home, tiny42):
    world, _, executions = tiny42
    assert [e.spec.state for e in executions] == [f"S{i}" for i in range(9)]
    s8 = executions[-1]
    assert s8.checks["hashgate_2B"].passed and s8.result.bundle["summary.json"]["passed"]
    assert (home / bundle_dir("2B", world) / "_passed.flag").is_file()
    weights = _frame(home, ds.S1_SITE_WEIGHTS, world)
    sites = _frame(home, "site_locations", world)
    assert weights.height == sites.height and weights.get_column("site_id").n_unique() == weights.height
    report = executions[7].result.outputs[ds.S7_REPORT]
    assert report["overall_status"] == "PASS"
    assert {c["code"]: c["status"] for c in report["checks"]}["2B-S7-430"] in ("SKIPPED", "WARN")


def test_second_build_is_byte_identical(home, tiny42):
    world, _, _ = tiny42
    before = _files(home, "data/layer1/2B")
    _, _, executions = _build(home, 42)
    assert _files(home, "data/layer1/2B") == before
    for e in executions:
        assert {r.status for r in e.published.values()} == {PublishStatus.ALREADY_PUBLISHED}, e.spec.state


def test_seed_7_builds_its_own_world(home, tiny42):
    world42, _, _ = tiny42
    world7, _, executions = _build(home, 7)
    assert executions[-1].checks["hashgate_2B"].passed
    a = _frame(home, ds.S5_ROUTE_AUDIT, world42)
    b = _frame(home, ds.S5_ROUTE_AUDIT, world7)
    assert not a.get_column("w_group").equals(b.get_column("w_group"))


def test_the_fabric_opened_from_the_store_replays_s5_and_routes_like_5b(home, tiny42):
    world, _, _ = tiny42
    fabric = router.RoutingFabric.open(WorldStore(home), world)
    sample = _frame(home, ds.S5_ROUTE_AUDIT, world)
    res = fabric.route_physical(sample.get_column("merchant_id"), sample.get_column("roster_country_iso"),
                                sample.get_column("utc_day"), sample.get_column("zone"),
                                sample.get_column("w_group").to_numpy(), sample.get_column("w_site").to_numpy())
    assert res.frame().equals(sample.select("tz_group_id", "legal_country_iso", "site_order", "site_id",
                                            "route_path"))
    n = 100_000
    idx = np.random.default_rng(1).integers(0, sample.height, n)
    rows = sample.gather(idx)
    wg, ws = words(n, seed=2)
    nb = fabric.route_physical(rows.get_column("merchant_id"), rows.get_column("roster_country_iso"),
                               rows.get_column("utc_day"), rows.get_column("zone"), wg, ws)
    np_ = fabric.route_physical(rows.get_column("merchant_id"), rows.get_column("roster_country_iso"),
                                rows.get_column("utc_day"), rows.get_column("zone"), wg, ws, engine="numpy")
    assert np.array_equal(nb.site_row, np_.site_row)
    plan = _frame(home, ds.S6_PLAN, world)
    if plan.height:
        edges = fabric.route_virtual(np.repeat(plan.get_column("merchant_id").to_numpy(), 100), *words(100 * plan.height))
        assert ((edges.edge_seq_index >= 0) == (edges.channel == router.CHANNEL_EDGE)).all()


def test_a_tampered_3b_bundle_is_refused(home, tiny42):
    world, _, _ = tiny42
    target = home / bundle_dir("3B", world) / "datasets.json"  # an indexed bundle file
    original = target.read_bytes()
    try:
        target.write_bytes(original.replace(b"{", b"{ ", 1))
        with pytest.raises(EngineFailure) as info:
            EngineRunner(WorldStore(home), config_root()).execute(catalogue.S0, world)
        assert info.value.code == E_NO_PASS_NO_READ and "3B" in str(info.value)
    finally:
        target.write_bytes(original)
