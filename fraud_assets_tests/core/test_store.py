import multiprocessing as mp
import threading
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_assets.core.errors import E_IMMUTABLE_PARTITION_EXISTS_NONIDENTICAL, EngineFailure
from fraud_assets.core.store import PublishStatus, WorldStore, publish_directory, publish_file, read_retrying


def test_second_identical_publish_is_a_no_op(tmp_path):
    store = WorldStore(tmp_path)
    frame = pl.DataFrame({"merchant_id": [3, 1, 2]}, schema={"merchant_id": pl.Int64})
    first = store.publish_frame("data/x/manifest_fingerprint=a", frame)
    second = store.publish_frame("data/x/manifest_fingerprint=a", frame)
    assert (first.status, second.status) == (PublishStatus.PUBLISHED, PublishStatus.ALREADY_PUBLISHED)
    assert first.sha256 == second.sha256


def test_different_bytes_never_overwrite(tmp_path):
    target = tmp_path / "a.json"
    publish_file(target, b"one")
    with pytest.raises(EngineFailure) as info:
        publish_file(target, b"two")
    assert info.value.code == E_IMMUTABLE_PARTITION_EXISTS_NONIDENTICAL
    assert target.read_bytes() == b"one"


def test_directory_publish_names_the_differing_file(tmp_path):
    publish_directory(tmp_path / "d", {"a": b"1", "b": b"2"})
    with pytest.raises(EngineFailure) as info:
        publish_directory(tmp_path / "d", {"a": b"1", "b": b"3"})
    assert info.value.keys == ["b"]
    assert (tmp_path / "d" / "b").read_bytes() == b"2"


def test_no_temp_files_are_left_behind(tmp_path):
    publish_directory(tmp_path / "d", {"a": b"1"})
    publish_file(tmp_path / "f", b"x")
    publish_file(tmp_path / "f", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "f"]


def _publish_in_process(args):
    target, payload, kind = args
    try:
        if kind == "file":
            return publish_file(Path(target), payload).status.value
        return publish_directory(Path(target), {"part-0": payload, "meta": b"m"}).status.value
    except EngineFailure as failure:
        return failure.code


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_concurrent_identical_publishes_threads_give_one_file_and_no_error(tmp_path, kind):
    target = tmp_path / "t"
    results = []
    barrier = threading.Barrier(16)

    def worker():
        barrier.wait()
        results.append(_publish_in_process((str(target), b"same", kind)))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(results)) == ["ALREADY_PUBLISHED", "PUBLISHED"]
    assert results.count("PUBLISHED") == 1
    assert [p.name for p in tmp_path.iterdir()] == ["t"]


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_concurrent_publishes_across_processes(tmp_path, kind):
    same = tmp_path / "same"
    different = tmp_path / "different"
    with mp.get_context("spawn").Pool(4) as pool:
        identical = pool.map(_publish_in_process, [(str(same), b"same", kind)] * 8)
        conflicting = pool.map(_publish_in_process, [(str(different), f"v{i}".encode(), kind) for i in range(8)])
    assert identical.count("PUBLISHED") == 1 and identical.count("ALREADY_PUBLISHED") == 7
    assert conflicting.count("PUBLISHED") == 1
    assert conflicting.count(E_IMMUTABLE_PARTITION_EXISTS_NONIDENTICAL) == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["different", "same"]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.binary(max_size=64), min_size=1, max_size=5))
def test_publish_is_idempotent_for_any_payload(tmp_path_factory, payloads):
    root = tmp_path_factory.mktemp("p")
    files = {f"f{i}": p for i, p in enumerate(payloads)}
    first = publish_directory(root / "d", files)
    again = publish_directory(root / "d", files)
    assert again.status is PublishStatus.ALREADY_PUBLISHED and again.files == first.files


def test_read_retries_then_fails_closed(tmp_path):
    calls = []

    def reader(path):
        calls.append(path)
        raise FileNotFoundError(path)

    with pytest.raises(EngineFailure, match="E_READ_FAILED"):
        read_retrying(tmp_path / "missing", reader)
    assert len(calls) == 5


def test_read_succeeds_once_the_file_appears(tmp_path):
    target = tmp_path / "late"
    attempts = []

    def reader(path):
        attempts.append(1)
        if len(attempts) == 3:
            target.write_bytes(b"ok")
        return path.read_bytes()

    assert read_retrying(target, reader) == b"ok"
    assert len(attempts) == 3  # two misses, then the file is there
