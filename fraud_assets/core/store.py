"""The write-once world store (ARCHITECTURE §4).

Every engine and reference output is published through `WorldStore`:

* a file is written to a temp name in its target directory, flushed, fsynced
  and renamed into place; a multi-file dataset is staged in a temp directory
  and renamed as a whole, so readers never see half a dataset;
* publishing bytes that already exist identically is a no-op reported as
  `ALREADY_PUBLISHED` (also when two writers race: the loser compares digests);
* publishing different bytes to an existing target raises
  `E_IMMUTABLE_PARTITION_EXISTS_NONIDENTICAL` and overwrites nothing;
* reads retry only the replace window (`FileNotFoundError`/`PermissionError`,
  5 attempts 50 ms apart) and then fail closed.
"""

from __future__ import annotations

import enum
import io
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import polars as pl

from fraud_assets.core.canonical import sha256_file, sha256_hex
from fraud_assets.core.errors import (
    E_IMMUTABLE_PARTITION_EXISTS_NONIDENTICAL,
    E_READ_FAILED,
    EngineFailure,
)

READ_ATTEMPTS = 5
READ_BACKOFF_S = 0.05
PARQUET_COMPRESSION = "zstd"

T = TypeVar("T")


class PublishStatus(str, enum.Enum):
    PUBLISHED = "PUBLISHED"
    ALREADY_PUBLISHED = "ALREADY_PUBLISHED"


@dataclass(frozen=True)
class PublishResult:
    status: PublishStatus
    path: Path
    files: Mapping[str, str] = field(default_factory=dict)  # relative name -> sha256
    bytes: int = 0

    @property
    def sha256(self) -> str:
        """One digest for the whole publish: sha256 over `name\\0sha\\n` lines in name order."""
        lines = "".join(f"{name}\0{digest}\n" for name, digest in sorted(self.files.items()))
        return sha256_hex(lines.encode())


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    """Deterministic Parquet bytes for a frame (zstd, statistics on, one row group per 2^20 rows)."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression=PARQUET_COMPRESSION, statistics=True, row_group_size=1 << 20)
    return buffer.getvalue()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _digests_of_dir(directory: Path) -> dict[str, str]:
    return {
        p.relative_to(directory).as_posix(): sha256_file(p)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _nonidentical(target: Path, differing: list[str]) -> EngineFailure:
    return EngineFailure(
        E_IMMUTABLE_PARTITION_EXISTS_NONIDENTICAL,
        "target exists with different bytes; nothing was overwritten",
        dataset=str(target),
        keys=differing,
    )


def publish_file(target: Path, data: bytes) -> PublishResult:
    """Publish one file write-once and atomically."""
    target = Path(target)
    digest = sha256_hex(data)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        return _compare_existing_file(target, digest, len(data))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _write_synced(tmp, data)
        # os.link fails if the target exists, so exactly one concurrent writer wins.
        try:
            os.link(tmp, target)
        except FileExistsError:
            return _compare_existing_file(target, digest, len(data))
        _fsync_dir(target.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return PublishResult(PublishStatus.PUBLISHED, target, {target.name: digest}, len(data))


def _compare_existing_file(target: Path, digest: str, size: int) -> PublishResult:
    existing = read_retrying(target, sha256_file)
    if existing != digest:
        raise _nonidentical(target, [target.name])
    return PublishResult(PublishStatus.ALREADY_PUBLISHED, target, {target.name: digest}, size)


def publish_directory(target: Path, files: Mapping[str, bytes]) -> PublishResult:
    """Publish a multi-file dataset: staged in a temp dir, renamed into place as a whole."""
    target = Path(target)
    if not files:
        raise ValueError(f"refusing to publish an empty dataset at {target}")
    digests = {name: sha256_hex(data) for name, data in sorted(files.items())}
    size = sum(len(d) for d in files.values())
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        return _compare_existing_dir(target, digests, size)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".staging", dir=target.parent))
    try:
        for name, data in files.items():
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_synced(path, data)
        _fsync_dir(staging)
        try:
            # rename(2) of a directory onto an existing non-empty directory fails: one winner.
            os.rename(staging, target)
        except OSError:
            if not target.exists():
                raise
            return _compare_existing_dir(target, digests, size)
        _fsync_dir(target.parent)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return PublishResult(PublishStatus.PUBLISHED, target, digests, size)


def _compare_existing_dir(target: Path, digests: Mapping[str, str], size: int) -> PublishResult:
    existing = read_retrying(target, _digests_of_dir)
    if existing != dict(digests):
        differing = sorted(set(existing) ^ set(digests) | {n for n in digests if existing.get(n) != digests[n]})
        raise _nonidentical(target, differing)
    return PublishResult(PublishStatus.ALREADY_PUBLISHED, target, dict(digests), size)


def read_retrying(path: Path, reader: Callable[[Path], T]) -> T:
    """Run `reader(path)`, retrying only the rename window; then fail closed."""
    last: Exception | None = None
    for attempt in range(READ_ATTEMPTS):
        try:
            return reader(path)
        except (FileNotFoundError, PermissionError) as exc:
            last = exc
            if attempt + 1 < READ_ATTEMPTS:
                time.sleep(READ_BACKOFF_S)
    raise EngineFailure(
        E_READ_FAILED, f"could not read after {READ_ATTEMPTS} attempts: {last}", dataset=str(path)
    ) from last


class WorldStore:
    """All engine data under one root (`FRAUD_ASSETS_HOME`), published write-once."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def path(self, relative: str | Path) -> Path:
        return self.root / relative

    def exists(self, relative: str | Path) -> bool:
        return self.path(relative).exists()

    def publish_bytes(self, relative: str | Path, data: bytes) -> PublishResult:
        return publish_file(self.path(relative), data)

    def publish_files(self, relative_dir: str | Path, files: Mapping[str, bytes]) -> PublishResult:
        return publish_directory(self.path(relative_dir), files)

    def publish_frame(self, relative_dir: str | Path, frame: pl.DataFrame) -> PublishResult:
        return self.publish_files(relative_dir, {"part-00000.parquet": parquet_bytes(frame)})

    def read_bytes(self, relative: str | Path) -> bytes:
        return read_retrying(self.path(relative), Path.read_bytes)

    def read_parquet(self, relative_dir: str | Path) -> pl.DataFrame:
        directory = self.path(relative_dir)

        def _read(d: Path) -> pl.DataFrame:
            parts = sorted(d.glob("part-*.parquet"))
            if not parts:
                raise FileNotFoundError(f"no part files under {d}")
            return pl.concat([pl.read_parquet(p) for p in parts], how="vertical")

        return read_retrying(directory, _read)
