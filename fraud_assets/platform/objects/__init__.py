"""Object stores (ARCHITECTURE §4): one `ObjectStore` protocol, local-filesystem and S3 adapters,
both under the write-once law (`ALREADY_PUBLISHED` / `E_IMMUTABLE_PARTITION_EXISTS_NONIDENTICAL`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fraud_assets.platform.objects.local import LocalObjectStore
from fraud_assets.platform.objects.protocol import ObjectPublishResult, ObjectStore, PublishStatus, check_key
from fraud_assets.platform.objects.s3 import S3ObjectStore

__all__ = [
    "LocalObjectStore",
    "ObjectPublishResult",
    "ObjectStore",
    "PublishStatus",
    "S3ObjectStore",
    "check_key",
    "open_object_store",
]


def open_object_store(
    *,
    kind: Literal["local", "s3"],
    root: str | Path | None = None,
    bucket: str | None = None,
    prefix: str = "",
    endpoint: str | None = None,
    **client_options: Any,
) -> ObjectStore:
    """Local needs `root`; S3 needs `bucket` (and `endpoint` off AWS). Never a fallback."""
    if kind == "local":
        if root is None:
            raise ValueError("local object store needs a root")
        return LocalObjectStore(root)
    if kind == "s3":
        if not bucket:
            raise ValueError("s3 object store needs a bucket")
        return S3ObjectStore(bucket, prefix=prefix, endpoint=endpoint, **client_options)
    raise ValueError(f"unknown object store kind {kind!r}")
