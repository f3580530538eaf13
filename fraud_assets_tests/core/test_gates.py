import json

import pytest

from fraud_assets.core import gates
from fraud_assets.core.canonical import sha256_file
from fraud_assets.core.store import publish_directory


def _publish_bundle(tmp_path, documents):
    data = tmp_path / "data" / "x.parquet"
    data.parent.mkdir(parents=True)
    data.write_bytes(b"PAR1 data")
    documents = {**documents, gates.DATASETS: {"files": [
        {"path": "data/x.parquet", "sha256": sha256_file(data), "bytes": data.stat().st_size}]}}
    files, passed = gates.build_bundle(documents, {"segment": "1A"})
    publish_directory(tmp_path / "bundle", files)
    return passed


def test_flag_is_the_digest_of_the_indexed_files_in_ascii_order(tmp_path):
    assert _publish_bundle(tmp_path, {"b.json": {"passed": True}, "a.json": {"n": 1}})
    index = json.loads((tmp_path / "bundle" / gates.INDEX).read_bytes())
    names = [f["path"] for f in index["files"]]
    assert names == sorted(names) == ["a.json", "b.json", "datasets.json"]
    expected = gates.flag_digest([(tmp_path / "bundle" / n).read_bytes() for n in names])
    assert (tmp_path / "bundle" / gates.FLAG).read_text().strip() == expected
    assert gates.verify_bundle(tmp_path / "bundle", tmp_path, "1A").passed


def test_a_failed_check_withholds_the_flag(tmp_path):
    assert not _publish_bundle(tmp_path, {"c.json": {"passed": False}})
    report = gates.verify_bundle(tmp_path / "bundle", tmp_path, "1A")
    assert not report.passed and not (tmp_path / "bundle" / gates.FLAG).exists()
    assert any("_passed.flag" in p for p in report.problems)


@pytest.mark.parametrize("victim", ["bundle/a.json", "data/x.parquet"])
def test_tampering_fails_the_gate_naming_the_file(tmp_path, victim):
    _publish_bundle(tmp_path, {"a.json": {"passed": True}})
    path = tmp_path / victim
    path.chmod(0o644)
    path.write_bytes(path.read_bytes() + b" ")
    report = gates.verify_bundle(tmp_path / "bundle", tmp_path, "1A")
    assert not report.passed
    assert any(victim.split("/")[-1] in problem for problem in report.problems)


def test_missing_bundle_is_reported(tmp_path):
    report = gates.verify_bundle(tmp_path / "nothing", tmp_path, "1B")
    assert not report.passed and "no bundle index" in report.problems[0]
    assert report.line().startswith("1B: FAIL")
