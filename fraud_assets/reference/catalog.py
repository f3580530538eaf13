"""The reference-data catalogue: which datasets exist, in which order they build, where they live.

Layout (ARCHITECTURE §4, §9)::

    <root>/reference/<dataset_id>/version=<v>/<dataset_id>.parquet   (or population_raster.tif)
                                             /provenance.json

`<v>` = `r<recipe>-<12 hex>`: a digest of the dataset's recipe version, the
versions of the packages it reads, of the libraries that shape its bytes
(polars, shapely+GEOS, rasterio+GDAL ...) and of the versions of the reference
datasets it depends on. Different package versions therefore never collide on
a write-once path, and a rebuild with the same versions publishes identical
bytes (`ALREADY_PUBLISHED`). `dataset_dir` resolves the version the installed
packages imply — never the newest directory on disk.

`provenance.json` (canonical JSON) holds dataset_id, version, recipe_version,
sources [{package, version, file, sha256}], toolchain, depends_on, files
[{name, sha256, bytes}], row_count, columns, checks {name: {passed, figures…}}
and the dataset's own fields (`tzdata_version`, `iana_version`, `tzif_digest`
for tzif_digest; `timezonefinder`, `timezonefinder_data`, `data_version` for
tz_world). It holds no timestamp and no duration, so it is reproducible too.
`reference_digests` (what the world's manifest_fingerprint hashes) is the
sha256 of each dataset's one data file, read from provenance.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import polars as pl

from fraud_assets.core.canonical import canonical_json, canonical_sha256, sha256_file, sha256_hex
from fraud_assets.core.errors import E_DATASET_UNKNOWN, E_REFERENCE_INVALID, EngineFailure
from fraud_assets.core.store import PublishStatus, WorldStore, parquet_bytes, read_retrying
from fraud_assets.reference import (
    cities,
    country_neighbours,
    currencies,
    gdp_bucket_map,
    gdp_per_capita,
    iso3166_canonical,
    mcc_codes,
    population_raster,
    tz_world,
    tzdb_links,
    tzdb_zone1970_tab,
    tzdb_zone_tab,
    tzif_digest,
    world_countries,
)
from fraud_assets.reference.intake import check_schema, package_version, source_record
from fraud_assets.reference.proj_guard import ensure_proj_data

log = logging.getLogger(__name__)

REFERENCE_DIR = "reference"
PROVENANCE_FILE = "provenance.json"


@dataclass(frozen=True)
class DatasetSpec:
    dataset_id: str
    module: ModuleType
    depends: tuple[str, ...]
    file_name: str
    kind: str  # "parquet" | "geotiff"

    @property
    def recipe_version(self) -> int:
        return self.module.RECIPE_VERSION


def _spec(module: ModuleType) -> DatasetSpec:
    is_raster = hasattr(module, "FILE_NAME")
    return DatasetSpec(
        dataset_id=module.DATASET_ID, module=module, depends=tuple(module.DEPENDS),
        file_name=module.FILE_NAME if is_raster else f"{module.DATASET_ID}.parquet",
        kind="geotiff" if is_raster else "parquet",
    )


# Build order: every dataset after the datasets it depends on.
REGISTRY: tuple[DatasetSpec, ...] = tuple(_spec(m) for m in (
    iso3166_canonical,
    tzdb_zone_tab,
    tzdb_zone1970_tab,
    tzdb_links,
    tzif_digest,
    cities,
    world_countries,
    gdp_per_capita,
    gdp_bucket_map,
    country_neighbours,
    currencies,
    mcc_codes,
    tz_world,
    population_raster,
))
SPECS: Mapping[str, DatasetSpec] = {s.dataset_id: s for s in REGISTRY}
DATASET_IDS: tuple[str, ...] = tuple(SPECS)


def _check_registry() -> None:
    seen: set[str] = set()
    for spec in REGISTRY:
        missing = [d for d in spec.depends if d not in seen]
        if missing:
            raise RuntimeError(f"reference registry: {spec.dataset_id} listed before its dependencies {missing}")
        seen.add(spec.dataset_id)


_check_registry()


@dataclass(frozen=True)
class ReferenceResult:
    """One dataset's build: where it went and what it holds. `seconds` is never written to disk."""

    dataset_id: str
    version: str
    path: Path
    status: PublishStatus
    sha256: str  # of the data file
    bytes: int  # of the data file
    row_count: int | None
    seconds: float
    checks: Mapping[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------
# versions


def spec_of(dataset_id: str) -> DatasetSpec:
    try:
        return SPECS[dataset_id]
    except KeyError:
        raise EngineFailure(E_DATASET_UNKNOWN, f"unknown reference dataset (known: {list(SPECS)})",
                            dataset=dataset_id) from None


@cache
def _toolchain_version(name: str) -> str:
    if name == "shapely":
        import shapely

        return f"{shapely.__version__}+geos{shapely.geos_version_string}"
    if name == "gdal":
        import rasterio

        return rasterio.__gdal_version__
    if name == "pyogrio":
        import pyogrio

        return f"{pyogrio.__version__}+gdal{pyogrio.__gdal_version_string__}"
    return package_version(name)


def toolchain(dataset_id: str) -> dict[str, str]:
    return {name: _toolchain_version(name) for name in sorted(spec_of(dataset_id).module.TOOLCHAIN)}


def source_packages(dataset_id: str) -> dict[str, str]:
    return {s.package: package_version(s.package) for s in spec_of(dataset_id).module.SOURCES}


@cache
def version_of(dataset_id: str) -> str:
    """`r<recipe>-<12 hex>` for the installed package versions (see the module docstring)."""
    spec = spec_of(dataset_id)
    payload = {
        "dataset_id": dataset_id,
        "recipe_version": spec.recipe_version,
        "packages": dict(sorted(source_packages(dataset_id).items())),
        "toolchain": toolchain(dataset_id),
        "depends": {dep: version_of(dep) for dep in sorted(spec.depends)},
    }
    return f"r{spec.recipe_version}-{canonical_sha256(payload)[:12]}"


# ---------------------------------------------------------------------------
# locations and reads


def _root(root: str | Path | WorldStore) -> Path:
    return Path(root.root if isinstance(root, WorldStore) else root)


def relative_dir(dataset_id: str, version: str | None = None) -> str:
    return f"{REFERENCE_DIR}/{dataset_id}/version={version or version_of(dataset_id)}"


def dataset_dir(root: str | Path | WorldStore, dataset_id: str, version: str | None = None) -> Path:
    """The published directory of `dataset_id` at the version the installed packages imply."""
    spec_of(dataset_id)
    path = _root(root) / relative_dir(dataset_id, version)
    if not (path / PROVENANCE_FILE).is_file():
        raise EngineFailure(E_REFERENCE_INVALID, "reference dataset not published at this version "
                            "(run fraud_assets.reference.catalog.build_all)", dataset=dataset_id,
                            keys=[str(path)])
    return path


def data_path(root: str | Path | WorldStore, dataset_id: str) -> Path:
    return dataset_dir(root, dataset_id) / spec_of(dataset_id).file_name


def load(root: str | Path | WorldStore, dataset_id: str) -> pl.DataFrame:
    """A Parquet reference dataset as a polars frame."""
    spec = spec_of(dataset_id)
    if spec.kind != "parquet":
        raise EngineFailure(E_DATASET_UNKNOWN, "not a table: use raster_path()", dataset=dataset_id)
    return read_retrying(data_path(root, dataset_id), pl.read_parquet)


def raster_path(root: str | Path | WorldStore) -> Path:
    """The population raster GeoTIFF."""
    return data_path(root, population_raster.DATASET_ID)


def provenance(root: str | Path | WorldStore, dataset_id: str) -> dict[str, Any]:
    path = dataset_dir(root, dataset_id) / PROVENANCE_FILE
    return read_retrying(path, lambda p: json.loads(p.read_bytes()))


def _data_digest(doc: Mapping[str, Any], spec: DatasetSpec) -> str:
    files = {f["name"]: f["sha256"] for f in doc["files"]}
    if spec.file_name not in files:
        raise EngineFailure(E_REFERENCE_INVALID, "provenance lists no data file", dataset=spec.dataset_id,
                            keys=[spec.file_name])
    return files[spec.file_name]


def reference_digests(root: str | Path | WorldStore, *, verify: bool = False,
                      dataset_ids: tuple[str, ...] | None = None) -> dict[str, str]:
    """dataset_id -> sha256 of its data file, from provenance (`verify` re-hashes each file).

    All datasets by default: this is the `reference` map of the manifest_fingerprint.
    """
    digests = {}
    for dataset_id in DATASET_IDS if dataset_ids is None else dataset_ids:
        spec = spec_of(dataset_id)
        digest = _data_digest(provenance(root, dataset_id), spec)
        if verify:
            actual = sha256_file(data_path(root, dataset_id))
            if actual != digest:
                raise EngineFailure(E_REFERENCE_INVALID, "data file differs from its provenance digest",
                                    dataset=dataset_id, keys=[spec.file_name], expected=digest, actual=actual)
        digests[dataset_id] = digest
    return digests


# ---------------------------------------------------------------------------
# builds


def _provenance_doc(spec: DatasetSpec, data: bytes, built: Any, row_count: int | None,
                    columns: list[list[str]] | None, dep_digests: Mapping[str, str]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "dataset_id": spec.dataset_id,
        "version": version_of(spec.dataset_id),
        "recipe_version": spec.recipe_version,
        "sources": sorted((source_record(s) for s in spec.module.SOURCES),
                          key=lambda r: (r["package"], r["file"] or "")),
        "toolchain": toolchain(spec.dataset_id),
        "depends_on": [{"dataset_id": d, "version": version_of(d), "sha256": dep_digests[d]}
                       for d in spec.depends],
        "files": [{"name": spec.file_name, "sha256": sha256_hex(data), "bytes": len(data)}],
        "row_count": row_count,
        "columns": columns,
        "checks": built.checks,
    }
    clash = set(doc) & set(built.extra)
    if clash:
        raise RuntimeError(f"{spec.dataset_id}: extra provenance fields clash with {sorted(clash)}")
    doc.update(built.extra)
    return doc


def _existing_result(root: Path, spec: DatasetSpec) -> ReferenceResult | None:
    path = root / relative_dir(spec.dataset_id)
    if not (path / PROVENANCE_FILE).is_file():
        return None
    doc = provenance(root, spec.dataset_id)
    file = next(f for f in doc["files"] if f["name"] == spec.file_name)
    return ReferenceResult(spec.dataset_id, doc["version"], path, PublishStatus.ALREADY_PUBLISHED,
                           file["sha256"], file["bytes"], doc["row_count"], 0.0, doc["checks"])


def build(root: str | Path | WorldStore, dataset_id: str, *, skip_existing: bool = False) -> ReferenceResult:
    """Build one dataset (its missing dependencies first) and publish it write-once.

    With `skip_existing`, an already published version is returned without rebuilding;
    otherwise the rebuild must reproduce the published bytes (`ALREADY_PUBLISHED`) or
    the publish fails with `E_IMMUTABLE_PARTITION_EXISTS_NONIDENTICAL`.
    """
    spec = spec_of(dataset_id)
    base = _root(root)
    if skip_existing and (existing := _existing_result(base, spec)) is not None:
        return existing
    for dep in spec.depends:
        build(base, dep, skip_existing=True)
    started = time.perf_counter()
    log.info("reference %s %s: building", dataset_id, version_of(dataset_id))
    ensure_proj_data()
    inputs = {dep: load(base, dep) for dep in spec.depends}
    dep_digests = {dep: _data_digest(provenance(base, dep), spec_of(dep)) for dep in spec.depends}
    built = spec.module.build(inputs)
    if spec.kind == "parquet":
        if built.frame is None:
            raise RuntimeError(f"{dataset_id}: builder returned no frame")
        check_schema(dataset_id, built.frame, spec.module.SCHEMA)
        data = parquet_bytes(built.frame)
        row_count: int | None = built.frame.height
        columns = [[name, str(dtype)] for name, dtype in built.frame.schema.items()]
    else:
        if built.data is None:
            raise RuntimeError(f"{dataset_id}: builder returned no bytes")
        data, row_count, columns = built.data, built.row_count, None
    doc = _provenance_doc(spec, data, built, row_count, columns, dep_digests)
    published = WorldStore(base).publish_files(
        relative_dir(dataset_id), {spec.file_name: data, PROVENANCE_FILE: canonical_json(doc)})
    seconds = time.perf_counter() - started
    log.info("reference %s %s: %s, %d bytes, %s rows, %.2f s", dataset_id, doc["version"],
             published.status.value, len(data), row_count, seconds)
    return ReferenceResult(dataset_id, doc["version"], published.path, published.status, sha256_hex(data),
                           len(data), row_count, seconds, built.checks)


def build_all(root: str | Path | WorldStore, *, skip_existing: bool = False,
              only: tuple[str, ...] | None = None) -> dict[str, ReferenceResult]:
    """Build every reference dataset (or `only` these and what they need) in registry order."""
    wanted = set(DATASET_IDS if only is None else only)
    for dataset_id in list(wanted):
        spec_of(dataset_id)
    ensure_proj_data()
    results: dict[str, ReferenceResult] = {}
    for spec in REGISTRY:
        if spec.dataset_id in wanted:
            results[spec.dataset_id] = build(root, spec.dataset_id, skip_existing=skip_existing)
    return results
