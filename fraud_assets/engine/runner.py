"""Executes one engine state against a `WorldStore`: gate, read, run, publish, check.

This is the whole body of an engine asset; the Dagster factory only wraps it.
Keeping it here makes every state runnable and testable without Dagster.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from fraud_assets.core import gates
from fraud_assets.core.canonical import canonical_json, canonical_sha256, sha256_file
from fraud_assets.core.config import load_folder
from fraud_assets.core.dictionary import DatasetSpec, Kind, Scope
from fraud_assets.core.errors import E_PARTITION_MISMATCH, EngineFailure
from fraud_assets.core.identity import ENGINE_CONTRACT_VERSION, WORLD_PRESET_LOGICAL_NAME, World, preset_file
from fraud_assets.core.store import PublishResult, PublishStatus, WorldStore, parquet_bytes
from fraud_assets.engine import catalogue
from fraud_assets.engine.inputs import RasterSource
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult, StateSpec
from fraud_assets.engine.worlds import compute_identity, verify_identity

REF_PREFIX = "ref."
TRACE_SCHEMA = {"state": pl.String, "family": pl.String, "keys": pl.Int64, "draws": pl.Int64, "blocks": pl.Int64}


def receipt_dir(segment: str, world: World) -> str:
    layer = catalogue.LAYER[segment]
    return f"data/layer{layer}/{segment}/receipts/manifest_fingerprint={world.manifest_fingerprint}/seed={world.seed}"


def bundle_dir(segment: str, world: World) -> str:
    layer = catalogue.LAYER[segment]
    return f"data/layer{layer}/{segment}/validation/manifest_fingerprint={world.manifest_fingerprint}/seed={world.seed}"


def report_dir(segment: str, world: World) -> str:
    layer = catalogue.LAYER[segment]
    return f"reports/layer{layer}/{segment}/manifest_fingerprint={world.manifest_fingerprint}/seed={world.seed}"


def trace_dir(segment: str, world: World) -> str:
    layer = catalogue.LAYER[segment]
    return f"logs/layer{layer}/{segment}/rng/trace/manifest_fingerprint={world.manifest_fingerprint}/seed={world.seed}"


@dataclass
class StateExecution:
    spec: StateSpec
    result: StateResult
    published: dict[str, PublishResult]
    checks: dict[str, CheckOutcome]
    seconds: float
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def failed_checks(self) -> list[str]:
        return [name for name, o in self.checks.items() if not o.passed and o.severity == "ERROR"]


_REFERENCE_FRAMES: dict[tuple[str, str], pl.DataFrame] = {}
_REFERENCE_CACHE_SIZE = 16


class GatedReader:
    """Reads a state's inputs; upstream and reference reads must be sealed in the segment's receipt."""

    def __init__(self, store: WorldStore, world: World, segment: str) -> None:
        self.store = store
        self.world = world
        self.segment = segment
        self._sealed: dict[str, gates.SealedInput] | None = None

    def _receipt(self) -> dict[str, gates.SealedInput]:
        if self._sealed is None:
            directory = receipt_dir(self.segment, self.world)
            if not self.store.exists(f"{directory}/{gates.SEALED_INPUTS}"):
                raise gates.no_pass_no_read(self.segment, "(any upstream input)",
                                            f"no S0 gate receipt at {directory}")
            frame = pl.read_parquet(self.store.path(f"{directory}/{gates.SEALED_INPUTS}"))
            self._sealed = {r["input_id"]: gates.SealedInput(**r) for r in frame.iter_rows(named=True)}
        return self._sealed

    def _authorise(self, input_id: str) -> tuple[Path, str]:
        sealed = self._receipt().get(input_id)
        if sealed is None:
            raise gates.no_pass_no_read(self.segment, input_id, "not sealed by this segment's S0 receipt")
        path = self.store.path(sealed.path)
        try:
            digest = gates.files_digest(gates.path_digests(path))
        except FileNotFoundError:
            raise gates.no_pass_no_read(self.segment, input_id, f"sealed input vanished: {sealed.path}") from None
        if digest != sealed.sha256:
            raise gates.no_pass_no_read(self.segment, input_id,
                                        f"bytes changed since S0 sealed them: {sealed.path}")
        return path, digest

    def read(self, dataset_id: str) -> pl.DataFrame | RasterSource | dict[str, bytes]:
        if dataset_id.startswith(REF_PREFIX):
            from fraud_assets.reference import catalog as reference

            path, digest = self._authorise(dataset_id)
            reference_id = dataset_id[len(REF_PREFIX):]
            if reference.spec_of(reference_id).kind == "geotiff":
                return RasterSource(path / reference.spec_of(reference_id).file_name)
            # Reference frames are immutable and digest-checked above, so one decoded copy per
            # process serves every state that reads them (tz_world is ~100 MB).
            key = (str(path), digest)
            if key not in _REFERENCE_FRAMES:
                if len(_REFERENCE_FRAMES) >= _REFERENCE_CACHE_SIZE:
                    _REFERENCE_FRAMES.pop(next(iter(_REFERENCE_FRAMES)))
                _REFERENCE_FRAMES[key] = reference.load(self.store.root, reference_id)
            return _REFERENCE_FRAMES[key]
        spec = catalogue.dictionary()[dataset_id]
        relative = spec.relative_path(self.world.manifest_fingerprint, self.world.seed)
        if spec.segment != self.segment:
            self._authorise(dataset_id)
        if spec.kind is Kind.JSON:
            return pl.DataFrame([json.loads(self.store.read_bytes(relative))])
        if spec.kind is Kind.FILES:  # binary datasets (alias blobs): {file name: bytes}
            directory = self.store.path(relative)
            return {p.relative_to(directory).as_posix(): self.store.read_bytes(p.relative_to(self.store.root))
                    for p in sorted(directory.rglob("*")) if p.is_file()}
        return self.store.read_parquet(relative)


class EngineRunner:
    def __init__(self, store: WorldStore, config_root: Path, exec_settings: Mapping[str, Any] | None = None) -> None:
        self.store = store
        self.config_root = Path(config_root)
        self.exec_settings = dict(exec_settings or {})

    # -- configuration ----------------------------------------------------
    def segment_config(self, segment: str) -> Any:
        seg = catalogue.segment(segment)
        return load_folder(self.config_root / "engine" / segment, seg.config_model, code=f"{segment}-S0-001")

    # -- S0 gate ----------------------------------------------------------
    def reference_digests(self) -> dict[str, str]:
        from fraud_assets.reference import catalog as reference

        return reference.reference_digests(self.store.root)

    def _seal_inputs(self, segment: str, world: World) -> list[gates.SealedInput]:
        from fraud_assets.reference import catalog as reference

        seg = catalogue.segment(segment)
        own = {d.id for d in seg.datasets}
        sealed: list[gates.SealedInput] = []
        for path in sorted((self.config_root / "engine" / segment).glob("*.yaml")):
            sealed.append(gates.SealedInput(f"config.engine/{segment}/{path.name}", f"config/engine/{segment}/{path.name}",
                                            sha256_file(path), path.stat().st_size))
        preset = preset_file(self.config_root, world.preset.name)
        sealed.append(gates.SealedInput(f"config.{WORLD_PRESET_LOGICAL_NAME}", f"config/worlds/{preset.name}",
                                        sha256_file(preset), preset.stat().st_size))
        reads = sorted({r for s in seg.states for r in s.reads if r not in own and not r.startswith("rng_trace_")})
        for input_id in reads:
            if input_id.startswith(REF_PREFIX):
                path = reference.dataset_dir(self.store.root, input_id[len(REF_PREFIX):])
            else:
                spec = catalogue.dictionary()[input_id]
                path = self.store.path(spec.relative_path(world.manifest_fingerprint, world.seed))
            relative = Path(path).resolve().relative_to(self.store.root).as_posix()
            sealed.append(gates.SealedInput(input_id, relative, gates.files_digest(gates.path_digests(path)),
                                            gates.path_bytes(path)))
        return sealed

    def gate(self, spec: StateSpec, world: World) -> dict[str, PublishResult]:
        """S0: verify identity and every upstream flag (recomputed), seal inputs, write the receipt."""
        verify_identity(world, self.config_root, self.reference_digests())
        upstream_flags = {}
        for upstream in spec.upstream:
            report = gates.verify_bundle(self.store.path(bundle_dir(upstream, world)), self.store.root, upstream)
            if not report.passed:
                raise gates.no_pass_no_read(spec.segment, f"segment {upstream}", "; ".join(report.problems[:3]),
                                            partition={"manifest_fingerprint": world.manifest_fingerprint,
                                                       "seed": world.seed})
            upstream_flags[upstream] = report.flag
        sealed = self._seal_inputs(spec.segment, world)
        sealed_bytes = parquet_bytes(gates.sealed_inputs_frame(sealed))
        receipt = {
            "segment": spec.segment,
            "manifest_fingerprint": world.manifest_fingerprint,
            "parameter_hash": world.parameter_hash,
            "seed": world.seed,
            "preset": world.preset.name,
            "engine_contract_version": ENGINE_CONTRACT_VERSION,
            "upstream_flags": upstream_flags,
            "sealed_inputs_sha256": canonical_sha256([[s.input_id, s.sha256] for s in sealed]),
            "registered_utc": world.registered_utc,
        }
        directory = receipt_dir(spec.segment, world)
        return {
            "sealed_inputs": self.store.publish_bytes(f"{directory}/{gates.SEALED_INPUTS}", sealed_bytes),
            "s0_gate_receipt": self.store.publish_bytes(f"{directory}/{gates.RECEIPT}", canonical_json(receipt)),
        }

    # -- execution --------------------------------------------------------
    def execute(self, spec: StateSpec, world: World) -> StateExecution:
        started = time.perf_counter()
        published: dict[str, PublishResult] = {}
        config = self.segment_config(spec.segment)
        if spec.state == "S0":
            published.update(self.gate(spec, world))
        reader = GatedReader(self.store, world, spec.segment)
        trace_id = f"rng_trace_{spec.segment}"
        inputs = {dataset_id: reader.read(dataset_id) for dataset_id in spec.reads if dataset_id != trace_id}
        if spec.validation:  # the runner writes the trace, so the runner supplies it
            inputs[trace_id] = self.read_trace(spec.segment, world)
        settings = dict(self.exec_settings.get(spec.segment, {}).get(spec.state.lower(), {}))
        # Evidence for identity checks (S0's, and validation replays of them): recomputed, never copied.
        identity = compute_identity(self.config_root, world.preset.name, self.reference_digests())
        settings["recomputed_identity"] = {"parameter_hash": identity.parameter_hash,
                                               "manifest_fingerprint": identity.manifest_fingerprint}
        ctx = StateContext(world=world, config=config, exec_settings=settings)
        result = spec.run(inputs, ctx)
        missing = set(spec.writes) - set(result.outputs)
        extra = set(result.outputs) - set(spec.writes)
        if missing or extra:
            raise EngineFailure("E_STATE_OUTPUTS", f"{spec.segment} {spec.state} outputs differ from the catalogue",
                                keys=sorted(missing | extra))
        checks: dict[str, CheckOutcome] = {}
        rows: dict[str, int] = {}
        for dataset_id in spec.writes:
            dspec = catalogue.dictionary()[dataset_id]
            value = result.outputs[dataset_id]
            if isinstance(value, pl.DataFrame):
                checks[f"schema_{dataset_id}"] = structural_check(dspec, value, world)
                rows[dataset_id] = value.height
            published[dataset_id] = self._publish(dspec, value, world)
        published["rng_trace"] = self._publish_trace(spec, result, world)
        for name, png in sorted(result.plots.items()):
            published[f"plot:{name}"] = self.store.publish_bytes(
                f"{report_dir(spec.segment, world)}/{spec.state}_{name}.png", png)
        if spec.validation:
            bundle, checks[f"hashgate_{spec.segment}"] = self._publish_bundle(spec, result, world)
            if bundle is not None:
                published[f"validation_{spec.segment}"] = bundle
        for check in spec.checks:
            checks[check.name] = check.fn(result, inputs, ctx)
        return StateExecution(spec, result, published, checks, time.perf_counter() - started, rows)

    def build(self, world: World, through: str | None = None) -> list[StateExecution]:
        """Execute every state through segment `through` in catalogue order, without Dagster.

        Stops at the first state whose blocking checks fail (raising `EngineFailure`),
        as a Dagster run would stop downstream steps.
        """
        executions = []
        for seg in catalogue.segments_through(through):
            for spec in seg.states:
                execution = self.execute(spec, world)
                executions.append(execution)
                if execution.failed_checks:
                    raise EngineFailure("E_CHECK_FAILED", f"{spec.segment} {spec.state} blocking checks failed",
                                        keys=execution.failed_checks,
                                        evidence={n: execution.checks[n].evidence for n in execution.failed_checks})
        return executions

    def _publish(self, dspec: DatasetSpec, value: Any, world: World) -> PublishResult:
        relative = dspec.relative_path(world.manifest_fingerprint, world.seed)
        if isinstance(value, pl.DataFrame):
            return self.store.publish_frame(relative, value)
        if dspec.kind is Kind.JSON:
            return self.store.publish_bytes(relative, canonical_json(value))
        return self.store.publish_files(relative, value)

    def _publish_trace(self, spec: StateSpec, result: StateResult, world: World) -> PublishResult:
        rows = sorted(result.rng, key=lambda t: t.family)
        frame = pl.DataFrame(
            {"state": [spec.state] * len(rows), "family": [t.family for t in rows],
             "keys": [t.keys for t in rows], "draws": [t.draws for t in rows], "blocks": [t.blocks for t in rows]},
            schema=TRACE_SCHEMA,
        )
        undeclared = {t.family for t in rows} - set(spec.rng_families)
        if undeclared:
            raise EngineFailure("E_RNG_ACCOUNTING", f"{spec.segment} {spec.state} drew from undeclared families",
                                keys=sorted(undeclared))
        return self.store.publish_bytes(f"{trace_dir(spec.segment, world)}/part-{spec.state}.parquet",
                                        parquet_bytes(frame))

    def read_trace(self, segment: str, world: World) -> pl.DataFrame:
        parts = sorted(self.store.path(trace_dir(segment, world)).glob("part-*.parquet"))
        if not parts:
            return pl.DataFrame(schema=TRACE_SCHEMA)
        return pl.concat([pl.read_parquet(p) for p in parts]).sort("state", "family")

    def segment_files(self, segment: str, world: World) -> list[dict[str, Any]]:
        """Every file the segment published for this world (data, receipts, RNG trace)."""
        roots = [self.store.path(d.relative_path(world.manifest_fingerprint, world.seed))
                 for d in catalogue.segment(segment).datasets]
        roots += [self.store.path(receipt_dir(segment, world)), self.store.path(trace_dir(segment, world))]
        files = []
        for root in roots:
            if root.is_file():
                candidates = [root]
            elif root.is_dir():
                candidates = sorted(p for p in root.rglob("*") if p.is_file())
            else:
                raise EngineFailure("E_DATASET_MISSING", "a segment dataset is not published",
                                    dataset=str(root.relative_to(self.store.root)))
            for path in candidates:
                files.append({"path": path.relative_to(self.store.root).as_posix(),
                              "sha256": sha256_file(path), "bytes": path.stat().st_size})
        return sorted(files, key=lambda f: f["path"])

    def _publish_bundle(self, spec: StateSpec, result: StateResult,
                        world: World) -> tuple[PublishResult | None, CheckOutcome]:
        if result.bundle is None:
            raise EngineFailure("E_STATE_OUTPUTS", f"{spec.segment} validation state returned no bundle")
        directory = bundle_dir(spec.segment, world)
        if self.store.exists(directory):
            # Re-validating a sealed world: the existing gate must still hold before anything
            # is re-published, so tampering is reported here, naming the file.
            existing = gates.verify_bundle(self.store.path(directory), self.store.root, spec.segment)
            if not existing.passed:
                return None, CheckOutcome(False, {"problems": existing.problems[:10], "flag": existing.flag})
        documents = dict(result.bundle)
        documents[gates.DATASETS] = {"files": self.segment_files(spec.segment, world)}
        header = {"segment": spec.segment, "manifest_fingerprint": world.manifest_fingerprint, "seed": world.seed}
        files, passed = gates.build_bundle(documents, header)
        published = self.store.publish_files(directory, files)
        report = gates.verify_bundle(self.store.path(directory), self.store.root, spec.segment)
        failed_documents = sorted(n for n, d in documents.items() if d.get("passed", True) is False)
        outcome = CheckOutcome(report.passed, {"flag": report.flag, "problems": report.problems[:10],
                                               "failed_documents": failed_documents,
                                               "bundle_files": len(files), "publish": published.status.value})
        return published, outcome


def structural_check(dspec: DatasetSpec, frame: pl.DataFrame, world: World) -> CheckOutcome:
    """Schema, sort order and partition-token agreement of one output frame."""
    problems: list[str] = []
    actual = {name: str(dtype) for name, dtype in frame.schema.items()}
    for column, dtype in dspec.schema.items():
        if column not in actual:
            problems.append(f"missing column {column}")
        elif actual[column] != dtype:
            problems.append(f"column {column} is {actual[column]}, expected {dtype}")
    if dspec.schema:
        extra = sorted(set(actual) - set(dspec.schema))
        if extra:
            problems.append(f"undeclared columns {extra}")
    if dspec.sort and frame.height > 1 and all(c in actual for c in dspec.sort):
        if not frame.select(dspec.sort).equals(frame.select(dspec.sort).sort(dspec.sort)):
            problems.append(f"not sorted by {list(dspec.sort)}")
    for token, value in (("manifest_fingerprint", world.manifest_fingerprint), ("seed", world.seed)):
        if token in actual and (token != "seed" or dspec.scope is Scope.FS):
            bad = frame.filter(pl.col(token) != value)
            if bad.height:
                problems.append(f"{E_PARTITION_MISMATCH}: column {token} differs from the path token")
    return CheckOutcome(not problems, {"dataset": dspec.id, "rows": frame.height, "problems": problems})


def publish_statuses(execution: StateExecution) -> dict[str, str]:
    return {k: v.status.value for k, v in execution.published.items()}


__all__ = ["EngineRunner", "GatedReader", "StateExecution", "PublishStatus", "structural_check",
           "bundle_dir", "receipt_dir", "trace_dir"]
