"""The object store protocol: write-once evidence, mutable snapshots (ARCHITECTURE §4).

Keys are relative POSIX paths (`platform/<run>/sr/run_plan.json`); the adapter
joins them to its root (a directory, or `s3://bucket/prefix`) exactly once, so a
bucket or root prefix is never doubled. `publish` obeys the write-once law: the
same bytes again → `ALREADY_PUBLISHED`; other bytes →
`E_IMMUTABLE_PARTITION_EXISTS_NONIDENTICAL`, nothing overwritten, also when
writers race. `replace` is only for the mutable operational snapshots
(`last_health.json`, `run_status.json`, …), which are exempt from the law.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from fraud_assets.core.canonical import sha256_hex
from fraud_assets.core.store import PublishStatus

__all__ = ["ObjectPublishResult", "ObjectStore", "PublishStatus", "check_key"]


@dataclass(frozen=True)
class ObjectPublishResult:
    status: PublishStatus
    key: str
    uri: str
    files: Mapping[str, str] = field(default_factory=dict)  # relative name -> sha256
    bytes: int = 0

    @property
    def sha256(self) -> str:
        """Same recipe as `core.store.PublishResult.sha256` (name\\0sha\\n lines)."""
        lines = "".join(f"{name}\0{digest}\n" for name, digest in sorted(self.files.items()))
        return sha256_hex(lines.encode())


@runtime_checkable
class ObjectStore(Protocol):
    kind: Literal["local", "s3"]

    def publish(self, key: str, data: bytes) -> ObjectPublishResult: ...

    def publish_many(self, prefix: str, files: Mapping[str, bytes]) -> ObjectPublishResult: ...

    def replace(self, key: str, data: bytes) -> None: ...

    def read(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> list[str]: ...

    def uri(self, key: str) -> str: ...


def check_key(key: str, *, allow_empty: bool = False) -> str:
    """A relative POSIX key without empty, `.` or `..` segments."""
    if not isinstance(key, str):
        raise TypeError(f"object key must be str, got {type(key).__name__}")
    key = key.strip("/") if allow_empty else key
    if not key:
        if allow_empty:
            return ""
        raise ValueError("empty object key")
    if key.startswith("/") or "\\" in key:
        raise ValueError(f"object key must be relative POSIX: {key!r}")
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid object key {key!r}")
    return key
