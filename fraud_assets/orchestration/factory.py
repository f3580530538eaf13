"""The asset factory (ARCHITECTURE §8): the state catalogue becomes Dagster assets.

One asset per state, grouped `engine_<SEG>`, partitioned by world, with every
check of the state declared as a blocking asset check. The asset body is the
engine runner; no engine asset is hand-written.
"""


import base64

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from fraud_assets.engine import catalogue
from fraud_assets.engine.runner import StateExecution
from fraud_assets.engine.state import StateSpec
from fraud_assets.engine.worlds import load_world
from fraud_assets.orchestration.partitions import WORLD, world_of
from fraud_assets.orchestration.resources import WorldStoreResource

REFERENCE_PREFIX = ("reference",)


def reference_key(dataset_id: str) -> AssetKey:
    return AssetKey([*REFERENCE_PREFIX, dataset_id])


def check_names(spec: StateSpec) -> list[str]:
    """Every check the runner reports for a state, in a stable order."""
    names = [f"schema_{d}" for d in spec.writes if catalogue.dictionary()[d].kind.value == "parquet"]
    if spec.validation:
        names.append(f"hashgate_{spec.segment}")
    names += [c.name for c in spec.checks]
    return names


def _deps(spec: StateSpec) -> list[AssetKey]:
    seg = catalogue.segment(spec.segment)
    keys: set[AssetKey] = set()
    for dataset_id in spec.reads:
        if dataset_id.startswith("ref."):
            keys.add(reference_key(dataset_id[4:]))
        elif dataset_id in catalogue.dictionary():
            keys.add(AssetKey(list(catalogue.writer_of(dataset_id).asset_key)))
    for upstream in spec.upstream:
        keys.add(AssetKey(list(catalogue.segment(upstream).validation_state.asset_key)))
    gate = seg.states[0]
    if spec is not gate:  # every read of the segment is authorised by S0's receipt
        keys.add(AssetKey(list(gate.asset_key)))
    if spec.validation:  # the bundle digests every file of the segment
        keys.update(AssetKey(list(s.asset_key)) for s in seg.states if s is not spec)
    return sorted(keys, key=lambda k: k.to_user_string())


def _description(spec: StateSpec) -> str:
    return (spec.description or f"{spec.segment} {spec.state} {spec.name}") + (
        f"\n\nWrites: {', '.join(spec.writes) or '(bundle)'}\n\nReads: {', '.join(spec.reads) or '-'}")


def execution_metadata(execution: StateExecution) -> dict[str, object]:
    meta: dict[str, object] = {
        "seconds": round(execution.seconds, 3),
        "rows": MetadataValue.json(execution.rows),
        "published": MetadataValue.json({k: {"status": v.status.value, "path": str(v.path), "sha256": v.sha256,
                                             "bytes": v.bytes} for k, v in execution.published.items()}),
        "rng_draws": sum(t.draws for t in execution.result.rng),
    }
    if execution.result.report:
        meta["report"] = MetadataValue.json(execution.result.report)
    for name, png in sorted(execution.result.plots.items()):
        encoded = base64.b64encode(png).decode()
        meta[f"plot_{name}"] = MetadataValue.md(f"![{name}](data:image/png;base64,{encoded})")
    return meta


def check_results(spec: StateSpec, execution: StateExecution) -> list[AssetCheckResult]:
    results = []
    codes = {c.name: c.code for c in spec.checks}
    for name in check_names(spec):
        outcome = execution.checks[name]
        results.append(AssetCheckResult(
            check_name=name,
            passed=outcome.passed,
            severity=AssetCheckSeverity(outcome.severity),
            metadata={"code": codes.get(name, name), "evidence": MetadataValue.json(outcome.evidence)},
        ))
    return results


def state_asset(spec: StateSpec) -> AssetsDefinition:
    key = AssetKey(list(spec.asset_key))
    codes = {c.name: c for c in spec.checks}

    @asset(
        key=key,
        deps=_deps(spec),
        group_name=f"engine_{spec.segment}",
        partitions_def=WORLD,
        description=_description(spec),
        kinds={"polars", "parquet"},
        tags={"segment": spec.segment, "state": spec.state},
        check_specs=[
            AssetCheckSpec(name, asset=key, blocking=True,
                           description=(codes[name].description or codes[name].code) if name in codes else None)
            for name in check_names(spec)
        ],
    )
    def _state(context: AssetExecutionContext, world_store: WorldStoreResource) -> MaterializeResult:
        manifest_fingerprint, seed = world_of(context.partition_key)
        runner = world_store.runner()
        world = load_world(runner.store, runner.config_root, manifest_fingerprint, seed)
        execution = runner.execute(spec, world)
        context.log.info(f"{spec.segment} {spec.state} {spec.name}: {execution.rows} rows in {execution.seconds:.2f}s")
        return MaterializeResult(metadata=execution_metadata(execution), check_results=check_results(spec, execution))

    return _state


def engine_assets() -> list[AssetsDefinition]:
    return [state_asset(spec) for spec in catalogue.all_states()]
