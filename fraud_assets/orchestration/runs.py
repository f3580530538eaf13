"""Running worlds through the real Dagster instance (used by the `fraud-assets` CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field

from dagster import AssetKey, DagsterInstance, materialize

from fraud_assets.core.identity import World
from fraud_assets.engine import catalogue
from fraud_assets.orchestration.partitions import register_world_partitions


def add_world_partitions(world: World) -> None:
    with DagsterInstance.get() as instance:
        register_world_partitions(instance, world.manifest_fingerprint, world.seed)


@dataclass
class BuildOutcome:
    success: bool
    materialised: list[str] = field(default_factory=list)
    checks: list[tuple[str, str]] = field(default_factory=list)  # (asset:check, PASS|WARN|FAIL)
    step_failures: list[str] = field(default_factory=list)

    @property
    def failed_checks(self) -> list[str]:
        return [name for name, status in self.checks if status == "FAIL"]


def build_world(world: World, through: str | None) -> BuildOutcome:
    """Materialise every state through `through` in one in-process run on the instance."""
    from fraud_assets.definitions import defs
    from fraud_assets.orchestration.resources import resources_for_environment

    selected = [AssetKey(list(s.asset_key)) for seg in catalogue.segments_through(through) for s in seg.states]
    with DagsterInstance.get() as instance:
        result = materialize(
            list(defs.assets), instance=instance, partition_key=world.key, selection=selected,
            resources=resources_for_environment(), raise_on_error=False,
            tags={"fraud_assets/preset": world.preset.name, "fraud_assets/seed": str(world.seed)},
        )
    outcome = BuildOutcome(success=result.success)
    outcome.materialised = sorted({e.asset_key.to_user_string() for e in result.get_asset_materialization_events()})
    for evaluation in result.get_asset_check_evaluations():
        status = "PASS" if evaluation.passed else ("WARN" if evaluation.severity.value == "WARN" else "FAIL")
        outcome.checks.append((f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}", status))
    for event in result.get_step_failure_events():
        outcome.step_failures.append(f"{event.step_key}: {event.event_specific_data.error.message.strip()}")
    return outcome
