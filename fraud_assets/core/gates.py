"""Gate law (ARCHITECTURE §5): bundles, PASS flags, receipts, No PASS → no read.

A segment's validation bundle is a directory of JSON evidence files plus
`index.json` (every bundle file with its sha256, ASCII-lex order) and
`_passed.flag` (sha256 over the concatenated bytes of the indexed files),
written only when every check passed. `datasets.json` in the bundle lists the
digest of every file the segment published for the world, so tampering with a
data file fails the hash gate too, naming the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from fraud_assets.core.canonical import canonical_json, sha256_file, sha256_hex
from fraud_assets.core.errors import E_NO_PASS_NO_READ, EngineFailure

INDEX = "index.json"
FLAG = "_passed.flag"
DATASETS = "datasets.json"
RECEIPT = "s0_gate_receipt.json"
SEALED_INPUTS = "sealed_inputs.parquet"


def files_digest(files: Mapping[str, str]) -> str:
    """One digest for a set of files: sha256 over `name\\0sha\\n` lines in name order."""
    return sha256_hex("".join(f"{n}\0{d}\n" for n, d in sorted(files.items())).encode())


def path_digests(path: Path) -> dict[str, str]:
    """sha256 of a file, or of every file under a directory (relative names)."""
    path = Path(path)
    if path.is_file():
        return {path.name: sha256_file(path)}
    if not path.is_dir():
        raise FileNotFoundError(path)
    return {p.relative_to(path).as_posix(): sha256_file(p) for p in sorted(path.rglob("*")) if p.is_file()}


def path_bytes(path: Path) -> int:
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def build_bundle(documents: Mapping[str, dict], header: Mapping[str, object]) -> tuple[dict[str, bytes], bool]:
    """Bundle files from evidence documents; the flag only if no document says `passed: false`."""
    files = {name: canonical_json(doc) for name, doc in sorted(documents.items())}
    if INDEX in files or FLAG in files:
        raise ValueError("evidence documents may not be named index.json or _passed.flag")
    indexed = sorted(files)
    index = {**header, "files": [{"path": name, "sha256": sha256_hex(files[name])} for name in indexed]}
    files[INDEX] = canonical_json(index)
    passed = all(doc.get("passed", True) is not False for doc in documents.values())
    if passed:
        files[FLAG] = (flag_digest([files[name] for name in indexed]) + "\n").encode()
    return files, passed


def flag_digest(indexed_bytes: Sequence[bytes]) -> str:
    return sha256_hex(b"".join(indexed_bytes))


@dataclass
class HashGateReport:
    segment: str
    passed: bool
    problems: list[str] = field(default_factory=list)
    flag: str | None = None

    def line(self) -> str:
        status = "PASS" if self.passed else "FAIL"
        detail = f" flag={self.flag[:16]}" if self.passed and self.flag else ""
        problems = "" if self.passed else " — " + "; ".join(self.problems[:5])
        return f"{self.segment}: {status}{detail}{problems}"


def verify_bundle(bundle_dir: Path, store_root: Path, segment: str) -> HashGateReport:
    """Recompute a segment's hash gate: index digests, the flag, and every listed data file."""
    import json

    report = HashGateReport(segment=segment, passed=False)
    index_path = Path(bundle_dir) / INDEX
    if not index_path.is_file():
        report.problems.append(f"no bundle index at {index_path}")
        return report
    index = json.loads(index_path.read_bytes())
    indexed = [entry["path"] for entry in index["files"]]
    if indexed != sorted(indexed):
        report.problems.append("index.json is not in ASCII-lex order")
    contents: list[bytes] = []
    for entry in index["files"]:
        path = Path(bundle_dir) / entry["path"]
        if not path.is_file():
            report.problems.append(f"bundle file missing: {path}")
            continue
        data = path.read_bytes()
        contents.append(data)
        if sha256_hex(data) != entry["sha256"]:
            report.problems.append(f"bundle file digest mismatch: {path}")
    flag_path = Path(bundle_dir) / FLAG
    if not flag_path.is_file():
        report.problems.append(f"no _passed.flag at {flag_path} (a check failed or the bundle is incomplete)")
    else:
        recorded = flag_path.read_text().strip()
        if recorded != flag_digest(contents):
            report.problems.append(f"_passed.flag does not match the indexed files: {flag_path}")
        report.flag = recorded
    datasets_path = Path(bundle_dir) / DATASETS
    if DATASETS in indexed and datasets_path.is_file():
        for entry in json.loads(datasets_path.read_bytes())["files"]:
            path = Path(store_root) / entry["path"]
            if not path.is_file():
                report.problems.append(f"data file missing: {entry['path']}")
            elif sha256_file(path) != entry["sha256"]:
                report.problems.append(f"data file digest mismatch: {entry['path']}")
    else:
        report.problems.append("bundle lists no datasets.json")
    report.passed = not report.problems
    return report


@dataclass(frozen=True)
class SealedInput:
    input_id: str
    path: str  # relative to the store root (or the config root for config files)
    sha256: str
    bytes: int


def sealed_inputs_frame(inputs: Sequence[SealedInput]) -> pl.DataFrame:
    rows = sorted(inputs, key=lambda i: i.input_id)
    return pl.DataFrame(
        {
            "input_id": [i.input_id for i in rows],
            "path": [i.path for i in rows],
            "sha256": [i.sha256 for i in rows],
            "bytes": [i.bytes for i in rows],
        },
        schema={"input_id": pl.String, "path": pl.String, "sha256": pl.String, "bytes": pl.Int64},
    )


def no_pass_no_read(segment: str, dataset: str, why: str, partition: Mapping[str, object] | None = None) -> EngineFailure:
    return EngineFailure(E_NO_PASS_NO_READ, f"{segment} may not read {dataset}: {why}",
                         dataset=dataset, partition=partition)
