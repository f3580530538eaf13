"""Object store fixtures: one moto S3 server per session (lazily, integration tests only),
a fresh local root or S3 prefix per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fraud_assets.platform.objects import LocalObjectStore, ObjectStore
from fraud_assets.platform.services import free_port
from fraud_assets.platform.services.s3 import S3Handle, ensure_bucket, start_s3

BUCKET = "fa-objects-test"


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("moto")
    last: Exception | None = None
    for _ in range(3):
        try:
            handle: S3Handle = start_s3(free_port(), data_dir, timeout_s=30)
            break
        except Exception as exc:  # noqa: BLE001
            last = exc
    else:
        raise RuntimeError(f"could not start moto: {last}")
    try:
        ensure_bucket(handle.endpoint, BUCKET)
        yield handle.endpoint
    finally:
        handle.stop()


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.integration)])
def object_store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(tmp_path / "objects")
    from fraud_assets.platform.objects.s3 import S3ObjectStore

    endpoint = request.getfixturevalue("moto_endpoint")
    return S3ObjectStore(BUCKET, prefix=f"t-{uuid.uuid4().hex[:10]}", endpoint=endpoint)
