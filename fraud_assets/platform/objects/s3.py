"""S3 object store (profiles `local_parity` via moto, `dev_min` via AWS).

The write-once law on S3: `PutObject` with `If-None-Match: *` (conditional
write), the object's sha256 in its metadata. A 412 `PreconditionFailed` means the
key exists: the digests are compared — identical → `ALREADY_PUBLISHED`, different
→ `E_IMMUTABLE_PARTITION_EXISTS_NONIDENTICAL` (nothing overwritten). A 409
`ConditionalRequestConflict` (a concurrent conditional write in flight) is
retried with backoff and then resolved the same way. The comparison uses the
`sha256` metadata when present, else the hash of the body.

Reads retry `NoSuchKey` and transport errors 5 times 50 ms apart, then fail
closed (`E_READ_FAILED`). A multi-file `publish_many` publishes each file under
the law in name order; it is not atomic as a whole (readers go through manifests).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any, Literal

import boto3
import botocore.exceptions
from botocore.config import Config

from fraud_assets.core.canonical import sha256_hex
from fraud_assets.core.errors import (
    E_IMMUTABLE_PARTITION_EXISTS_NONIDENTICAL,
    E_READ_FAILED,
    EngineFailure,
)
from fraud_assets.core.store import READ_ATTEMPTS, READ_BACKOFF_S, PublishStatus
from fraud_assets.platform.objects.protocol import ObjectPublishResult, check_key

CONFLICT_RETRY_S: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 0.8)
_LOCAL_CREDENTIALS = ("fraud-assets-local", "fraud-assets-local")  # moto accepts any


def _is_loopback(endpoint: str | None) -> bool:
    if not endpoint:
        return False
    host = urllib.parse.urlparse(endpoint).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def s3_client(
    endpoint: str | None = None,
    *,
    addressing_style: str = "path",
    connect_timeout_s: float = 5,
    read_timeout_s: float = 30,
    max_attempts: int = 3,
    max_pool_connections: int = 64,
) -> Any:
    """A thread-safe boto3 S3 client. Credentials come from the environment/role chain;
    only for a loopback endpoint (the parity lane's moto) are placeholders used when
    the chain has none."""
    session = boto3.session.Session()
    kwargs: dict[str, Any] = {}
    if _is_loopback(endpoint) and session.get_credentials() is None:
        kwargs["aws_access_key_id"], kwargs["aws_secret_access_key"] = _LOCAL_CREDENTIALS
    return session.client(
        "s3",
        endpoint_url=endpoint,
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        config=Config(
            s3={"addressing_style": addressing_style},
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
            max_pool_connections=max_pool_connections,
        ),
        **kwargs,
    )


def _status(exc: botocore.exceptions.ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3ObjectStore:
    """Objects under `s3://<bucket>/<prefix>/`."""

    kind: Literal["local", "s3"] = "s3"

    def __init__(self, bucket: str, *, prefix: str = "", endpoint: str | None = None,
                 client: Any = None, **client_options: Any) -> None:
        if not bucket:
            raise ValueError("S3ObjectStore needs a bucket")
        self.bucket = bucket
        self.prefix = check_key(prefix, allow_empty=True)
        self.endpoint = endpoint
        self.client = client or s3_client(endpoint, **client_options)

    # ---------------------------------------------------------- keys

    def object_key(self, key: str) -> str:
        key = check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.object_key(key)}"

    # ---------------------------------------------------------- write-once

    def publish(self, key: str, data: bytes) -> ObjectPublishResult:
        data = bytes(data)
        digest = sha256_hex(data)
        name = key.rsplit("/", 1)[-1]
        okey = self.object_key(key)
        for attempt, delay in enumerate((0.0, *CONFLICT_RETRY_S)):
            if delay:
                time.sleep(delay)
            try:
                self.client.put_object(
                    Bucket=self.bucket, Key=okey, Body=data, IfNoneMatch="*", Metadata={"sha256": digest}
                )
                return ObjectPublishResult(PublishStatus.PUBLISHED, key, self.uri(key), {name: digest}, len(data))
            except botocore.exceptions.ClientError as exc:
                status, code = _status(exc), _code(exc)
                if status == 412 or code == "PreconditionFailed":
                    break
                if status == 409 or code == "ConditionalRequestConflict":
                    continue  # a concurrent conditional write is in flight: wait for its outcome
                raise
        existing = self._existing_digest(okey)
        if existing is None:  # vanished (deleted by an operator) or never settled
            raise EngineFailure(E_READ_FAILED, "conditional write conflicted but the object is unreadable",
                                dataset=self.uri(key))
        if existing != digest:
            raise EngineFailure(
                E_IMMUTABLE_PARTITION_EXISTS_NONIDENTICAL,
                "target exists with different bytes; nothing was overwritten",
                dataset=self.uri(key), keys=[name],
            )
        return ObjectPublishResult(PublishStatus.ALREADY_PUBLISHED, key, self.uri(key), {name: digest}, len(data))

    def _existing_digest(self, okey: str) -> str | None:
        def head() -> str | None:
            meta = self.client.head_object(Bucket=self.bucket, Key=okey).get("Metadata") or {}
            if meta.get("sha256"):
                return str(meta["sha256"])
            h = hashlib.sha256()
            body = self.client.get_object(Bucket=self.bucket, Key=okey)["Body"]
            for chunk in iter(lambda: body.read(1 << 20), b""):
                h.update(chunk)
            return h.hexdigest()

        try:
            return self._retrying(okey, head)
        except EngineFailure:
            return None

    def publish_many(self, prefix: str, files: Mapping[str, bytes]) -> ObjectPublishResult:
        if not files:
            raise ValueError(f"refusing to publish an empty dataset at {prefix}")
        base = check_key(prefix, allow_empty=True)
        digests: dict[str, str] = {}
        statuses = set()
        for name in sorted(files):
            check_key(name)
            res = self.publish(f"{base}/{name}" if base else name, files[name])
            digests[name] = res.files[name.rsplit("/", 1)[-1]]
            statuses.add(res.status)
        status = PublishStatus.PUBLISHED if PublishStatus.PUBLISHED in statuses else PublishStatus.ALREADY_PUBLISHED
        size = sum(len(d) for d in files.values())
        uri = f"s3://{self.bucket}/{'/'.join(p for p in (self.prefix, base) if p)}"
        return ObjectPublishResult(status, base, uri, digests, size)

    # ---------------------------------------------------------- snapshots and reads

    def replace(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.object_key(key), Body=bytes(data))

    def _retrying(self, okey: str, fn: Any) -> Any:
        last: Exception | None = None
        for attempt in range(READ_ATTEMPTS):
            try:
                return fn()
            except botocore.exceptions.ClientError as exc:
                if _status(exc) not in (404, 500, 503) and _code(exc) not in ("NoSuchKey", "404"):
                    raise
                last = exc
            except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError,
                    botocore.exceptions.ReadTimeoutError) as exc:
                last = exc
            if attempt + 1 < READ_ATTEMPTS:
                time.sleep(READ_BACKOFF_S)
        raise EngineFailure(
            E_READ_FAILED, f"could not read after {READ_ATTEMPTS} attempts: {last}",
            dataset=f"s3://{self.bucket}/{okey}",
        ) from last

    def read(self, key: str) -> bytes:
        okey = self.object_key(key)
        return self._retrying(okey, lambda: self.client.get_object(Bucket=self.bucket, Key=okey)["Body"].read())

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
            return True
        except botocore.exceptions.ClientError as exc:
            if _status(exc) == 404:
                return False
            raise

    def list(self, prefix: str = "") -> list[str]:
        base = check_key(prefix, allow_empty=True)
        full = "/".join(p for p in (self.prefix, base) if p)
        full = f"{full}/" if full else ""
        strip = f"{self.prefix}/" if self.prefix else ""
        keys = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
            for item in page.get("Contents", []):
                keys.append(item["Key"][len(strip):])
        return sorted(keys)
