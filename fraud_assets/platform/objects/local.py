"""Local-filesystem object store (profile `local`): `core.store`'s write-once law."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from fraud_assets.core.store import (
    PublishResult,
    _fsync_dir,
    _write_synced,
    publish_directory,
    publish_file,
    read_retrying,
)
from fraud_assets.platform.objects.protocol import ObjectPublishResult, check_key


class LocalObjectStore:
    """Objects as files under `root` (usually `FRAUD_ASSETS_HOME`)."""

    kind: Literal["local", "s3"] = "local"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def uri(self, key: str) -> str:
        return self.path(key).as_uri()

    def _result(self, key: str, res: PublishResult) -> ObjectPublishResult:
        return ObjectPublishResult(res.status, key, self.uri(key), dict(res.files), res.bytes)

    def publish(self, key: str, data: bytes) -> ObjectPublishResult:
        res = publish_file(self.path(key), data)
        return self._result(key, res)

    def publish_many(self, prefix: str, files: Mapping[str, bytes]) -> ObjectPublishResult:
        for name in files:
            check_key(name)
        return self._result(prefix, publish_directory(self.path(prefix), files))

    def replace(self, key: str, data: bytes) -> None:
        """Atomic replace of a mutable snapshot: temp + fsync + os.replace + dir fsync."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        try:
            _write_synced(Path(tmp), data)
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def read(self, key: str) -> bytes:
        return read_retrying(self.path(key), Path.read_bytes)

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def list(self, prefix: str = "") -> list[str]:
        base = self.root / check_key(prefix, allow_empty=True) if prefix.strip("/") else self.root
        if not base.is_dir():
            return []
        keys = []
        for p in base.rglob("*"):
            rel = p.relative_to(self.root)
            if p.is_file() and not any(part.startswith(".") for part in rel.parts):
                keys.append(rel.as_posix())
        return sorted(keys)
