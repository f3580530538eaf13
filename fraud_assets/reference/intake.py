"""Shared intake plumbing for the reference builders (ARCHITECTURE §9).

Each reference dataset lives in its own module (`cities.py`, `tz_world.py`, ...)
that declares:

* `DATASET_ID`, `RECIPE_VERSION` (bump when the recipe changes its bytes),
* `DEPENDS`: the other reference datasets it reads,
* `SOURCES`: the installed package files it reads (`Source`),
* `TOOLCHAIN`: the libraries whose versions shape its bytes (writer, GEOS ...),
* `SCHEMA` (Parquet datasets) and a pure `build(inputs) -> Built`.

This module holds what they share: the source descriptors, the `Built` result,
the coded failure helper, ASCII folding, and the `tzdata_only` pin of zoneinfo.
Nothing here reads a clock or the network.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import unicodedata
import zoneinfo
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl

from fraud_assets.core.canonical import sha256_file
from fraud_assets.core.errors import E_REFERENCE_INVALID, EngineFailure


@dataclass(frozen=True)
class Source:
    """One installed-package input: `file` is relative to the import package's directory.

    `file=None` records a package whose code (not a data file) shapes the output;
    a directory `file` is digested as sha256 over `relpath\\0sha256\\n` lines in path order.
    """

    package: str  # distribution name as pip knows it
    module: str  # import name whose directory `file` is relative to
    file: str | None = None


@dataclass
class Built:
    """What a builder returns: a frame (Parquet datasets) or raw bytes (the raster)."""

    frame: pl.DataFrame | None = None
    data: bytes | None = None
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    row_count: int | None = None


def fail(dataset_id: str, check: str, message: str, keys: Sequence[Any] | None = None) -> EngineFailure:
    """The one failure shape of reference intake: `E_REFERENCE_INVALID` naming dataset, check, keys."""
    return EngineFailure(E_REFERENCE_INVALID, f"{check}: {message}", dataset=dataset_id,
                         keys=list(keys) if keys is not None else None, check=check)


def passed(**figures: Any) -> dict[str, Any]:
    return {"passed": True, **figures}


# ---------------------------------------------------------------------------
# installed packages


@cache
def package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise EngineFailure(E_REFERENCE_INVALID, f"package {module!r} is not installed", dataset=module)
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def package_file(module: str, relative: str) -> Path:
    path = package_dir(module) / relative
    if not path.exists():
        raise EngineFailure(E_REFERENCE_INVALID, f"{module} ships no {relative}", dataset=module,
                            keys=[relative])
    return path


@cache
def package_version(package: str) -> str:
    return importlib.metadata.version(package)


def directory_digest(directory: Path) -> str:
    """sha256 over `relpath\\0sha256\\n` for every file under `directory` (caches excluded)."""
    lines = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        lines.append(f"{path.relative_to(directory).as_posix()}\0{sha256_file(path)}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def source_record(source: Source) -> dict[str, Any]:
    record: dict[str, Any] = {"package": source.package, "version": package_version(source.package),
                              "file": source.file, "sha256": None}
    if source.file is not None:
        path = package_file(source.module, source.file)
        record["sha256"] = directory_digest(path) if path.is_dir() else sha256_file(path)
    return record


# ---------------------------------------------------------------------------
# text


def ascii_fold(text: str) -> str:
    """NFKD, drop what is not ASCII, lower-case, trim: `Brasília` -> `brasilia`."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower().strip()


def ascii_fold_expr(expr: pl.Expr) -> pl.Expr:
    """`ascii_fold` as a polars expression (same result for every string)."""
    return (expr.str.normalize("NFKD").str.replace_all(r"[^\x00-\x7F]", "")
            .str.to_lowercase().str.strip_chars())


# ---------------------------------------------------------------------------
# zoneinfo pinned to the tzdata wheel


@contextlib.contextmanager
def tzdata_only() -> Iterator[None]:
    """Within the block `zoneinfo` reads only the `tzdata` package (`reset_tzpath(to=[])`).

    The previous search path is restored on exit, so a build does not change the
    process for code that pins zoneinfo itself (the engine pins at start).
    """
    previous = zoneinfo.TZPATH
    zoneinfo.reset_tzpath(to=[])
    try:
        yield
    finally:
        zoneinfo.reset_tzpath(to=list(previous))


def available_tzids() -> frozenset[str]:
    with tzdata_only():
        return frozenset(zoneinfo.available_timezones())


def unloadable_tzids(tzids: Sequence[str]) -> list[str]:
    """tzids that `ZoneInfo` cannot load from the tzdata wheel (uncached loads)."""
    bad = []
    with tzdata_only():
        for tzid in sorted(set(tzids)):
            try:
                zoneinfo.ZoneInfo.no_cache(tzid)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                bad.append(tzid)
    return bad


def check_schema(dataset_id: str, frame: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> None:
    actual = dict(frame.schema)
    if list(actual) != list(schema) or any(actual[k] != v for k, v in schema.items()):
        raise fail(dataset_id, "schema", f"columns {actual} differ from the contract {dict(schema)}",
                   [k for k in schema if actual.get(k) != schema[k]] or list(actual))


def check_unique(dataset_id: str, frame: pl.DataFrame, key: Sequence[str]) -> dict[str, Any]:
    dup = frame.group_by(list(key)).len().filter(pl.col("len") > 1).sort(list(key))
    if dup.height:
        raise fail(dataset_id, "primary_key", f"{dup.height} duplicate keys on {list(key)}",
                   [tuple(r[:-1]) if len(key) > 1 else r[0] for r in dup.rows()])
    return passed(key=list(key), rows=frame.height)


def check_foreign_key(dataset_id: str, values: pl.Series, target: pl.Series, name: str) -> dict[str, Any]:
    missing = sorted(set(values.drop_nulls().unique().to_list()) - set(target.to_list()))
    if missing:
        raise fail(dataset_id, f"fk_{name}", f"{len(missing)} values not in {name}", missing)
    return passed(distinct=values.n_unique())
