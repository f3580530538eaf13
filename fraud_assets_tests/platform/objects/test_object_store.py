"""The `ObjectStore` contract (write-once law) on the local and the S3 adapter."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import botocore.exceptions
import pytest

from fraud_assets.core.canonical import sha256_hex
from fraud_assets.core.errors import E_IMMUTABLE_PARTITION_EXISTS_NONIDENTICAL, E_READ_FAILED, EngineFailure
from fraud_assets.platform.objects import ObjectStore, PublishStatus, check_key, open_object_store
from fraud_assets.platform.objects.s3 import S3ObjectStore


def _outcome(store: ObjectStore, key: str, data: bytes) -> str:
    try:
        return store.publish(key, data).status.value
    except EngineFailure as exc:
        return exc.code


def test_publish_then_identical_is_already_published(object_store: ObjectStore) -> None:
    first = object_store.publish("platform/pr_x/sr/run_plan.json", b'{"a":1}')
    again = object_store.publish("platform/pr_x/sr/run_plan.json", b'{"a":1}')
    assert (first.status, again.status) == (PublishStatus.PUBLISHED, PublishStatus.ALREADY_PUBLISHED)
    assert first.files == {"run_plan.json": sha256_hex(b'{"a":1}')} and first.sha256 == again.sha256
    assert object_store.read("platform/pr_x/sr/run_plan.json") == b'{"a":1}'


def test_publish_different_bytes_fails_and_overwrites_nothing(object_store: ObjectStore) -> None:
    object_store.publish("a/b.json", b"one")
    with pytest.raises(EngineFailure) as info:
        object_store.publish("a/b.json", b"two")
    assert info.value.code == E_IMMUTABLE_PARTITION_EXISTS_NONIDENTICAL
    assert object_store.read("a/b.json") == b"one"


def test_two_hundred_concurrent_identical_puts_make_one_object(object_store: ObjectStore) -> None:
    with ThreadPoolExecutor(32) as pool:
        outcomes = list(pool.map(lambda _: _outcome(object_store, "race/same.bin", b"x" * 4096), range(200)))
    assert outcomes.count("PUBLISHED") == 1
    assert outcomes.count("ALREADY_PUBLISHED") == 199
    assert object_store.list("race") == ["race/same.bin"]
    assert object_store.read("race/same.bin") == b"x" * 4096


def test_concurrent_different_puts_have_one_winner(object_store: ObjectStore) -> None:
    bodies = [f"body-{i}".encode() * 64 for i in range(200)]
    with ThreadPoolExecutor(32) as pool:
        outcomes = list(pool.map(lambda b: _outcome(object_store, "race/diff.bin", b), bodies))
    assert outcomes.count("PUBLISHED") == 1
    assert outcomes.count(E_IMMUTABLE_PARTITION_EXISTS_NONIDENTICAL) == 199
    winner = bodies[outcomes.index("PUBLISHED")]
    assert object_store.read("race/diff.bin") == winner


def test_publish_many_and_list(object_store: ObjectStore) -> None:
    files = {"part-00000.parquet": b"p0", "part-00001.parquet": b"p1", "_manifest.json": b"{}"}
    res = object_store.publish_many("archive/topic=t/partition=0", files)
    assert res.status == PublishStatus.PUBLISHED
    assert res.files == {name: sha256_hex(data) for name, data in files.items()}
    again = object_store.publish_many("archive/topic=t/partition=0", files)
    assert again.status == PublishStatus.ALREADY_PUBLISHED and again.sha256 == res.sha256
    assert object_store.list("archive") == sorted(f"archive/topic=t/partition=0/{n}" for n in files)
    with pytest.raises(EngineFailure) as info:
        object_store.publish_many("archive/topic=t/partition=0", {**files, "part-00001.parquet": b"changed"})
    assert info.value.code == E_IMMUTABLE_PARTITION_EXISTS_NONIDENTICAL


def test_replace_is_for_mutable_snapshots(object_store: ObjectStore) -> None:
    object_store.replace("platform/pr_x/ieg/health/last_health.json", b'{"seq":1}')
    object_store.replace("platform/pr_x/ieg/health/last_health.json", b'{"seq":2}')
    assert object_store.read("platform/pr_x/ieg/health/last_health.json") == b'{"seq":2}'
    assert object_store.exists("platform/pr_x/ieg/health/last_health.json")
    assert not object_store.exists("platform/pr_x/ieg/health/nope.json")


def test_read_of_missing_object_fails_closed(object_store: ObjectStore) -> None:
    with pytest.raises(EngineFailure) as info:
        object_store.read("missing/object.json")
    assert info.value.code == E_READ_FAILED


@pytest.mark.parametrize("bad", ["", "/abs", "a//b", "a/../b", "./a", "a\\b"])
def test_keys_are_relative_posix(object_store: ObjectStore, bad: str) -> None:
    with pytest.raises(ValueError):
        object_store.publish(bad, b"x")


def test_check_key_allows_empty_prefix_only_when_asked() -> None:
    assert check_key("", allow_empty=True) == ""
    assert check_key("a/b") == "a/b"


def test_factory_never_falls_back(tmp_path) -> None:
    with pytest.raises(ValueError):
        open_object_store(kind="s3", bucket=None)
    with pytest.raises(ValueError):
        open_object_store(kind="local")
    assert open_object_store(kind="local", root=tmp_path).kind == "local"


# ---------------------------------------------------------------- S3 conflict path (stub client)


def _client_error(status: int, code: str) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject"
    )


class _StubS3:
    """Just enough of a boto3 client for the publish path."""

    def __init__(self, put_errors: list[botocore.exceptions.ClientError], stored: bytes, meta: dict[str, str]) -> None:
        self.put_errors = list(put_errors)
        self.stored = stored
        self.meta = meta
        self.puts: list[dict[str, Any]] = []
        self.gets = 0

    def put_object(self, **kwargs: Any) -> dict:
        self.puts.append(kwargs)
        if self.put_errors:
            raise self.put_errors.pop(0)
        return {}

    def head_object(self, **kwargs: Any) -> dict:
        return {"Metadata": dict(self.meta)}

    def get_object(self, **kwargs: Any) -> dict:
        import io

        self.gets += 1
        return {"Body": io.BytesIO(self.stored)}


def test_s3_put_is_conditional_and_carries_the_digest() -> None:
    stub = _StubS3([], b"", {})
    store = S3ObjectStore("bkt", prefix="root", client=stub)
    res = store.publish("x/y.json", b"data")
    assert res.status == PublishStatus.PUBLISHED and res.uri == "s3://bkt/root/x/y.json"
    (put,) = stub.puts
    assert put["IfNoneMatch"] == "*" and put["Key"] == "root/x/y.json"
    assert put["Metadata"] == {"sha256": sha256_hex(b"data")}


def test_s3_409_conflict_is_retried_then_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    import fraud_assets.platform.objects.s3 as s3mod

    monkeypatch.setattr(s3mod.time, "sleep", lambda s: None)
    stub = _StubS3([_client_error(409, "ConditionalRequestConflict")] * 2 + [_client_error(412, "PreconditionFailed")],
                   b"data", {"sha256": sha256_hex(b"data")})
    res = S3ObjectStore("bkt", client=stub).publish("k", b"data")
    assert res.status == PublishStatus.ALREADY_PUBLISHED and len(stub.puts) == 3 and stub.gets == 0


def test_s3_conflict_without_metadata_hashes_the_body() -> None:
    stub = _StubS3([_client_error(412, "PreconditionFailed")], b"other", {})
    with pytest.raises(EngineFailure) as info:
        S3ObjectStore("bkt", client=stub).publish("k", b"data")
    assert info.value.code == E_IMMUTABLE_PARTITION_EXISTS_NONIDENTICAL and stub.gets == 1


def test_s3_other_errors_propagate() -> None:
    stub = _StubS3([_client_error(403, "AccessDenied")], b"", {})
    with pytest.raises(botocore.exceptions.ClientError):
        S3ObjectStore("bkt", client=stub).publish("k", b"data")


@pytest.mark.integration
def test_moto_server_rejects_a_second_conditional_put(moto_endpoint: str) -> None:
    """What the parity endpoint does with If-None-Match, observed directly."""
    from fraud_assets.platform.objects.s3 import s3_client

    client = s3_client(moto_endpoint)
    client.put_object(Bucket="fa-objects-test", Key="inm/probe", Body=b"1", IfNoneMatch="*")
    with pytest.raises(botocore.exceptions.ClientError) as info:
        client.put_object(Bucket="fa-objects-test", Key="inm/probe", Body=b"2", IfNoneMatch="*")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert info.value.response["Error"]["Code"] == "PreconditionFailed"
    assert client.get_object(Bucket="fa-objects-test", Key="inm/probe")["Body"].read() == b"1"
