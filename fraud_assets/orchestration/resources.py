"""Resources: the same keys for every profile (STYLE §2, hooli)."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource

from fraud_assets.core.store import WorldStore
from fraud_assets.engine.runner import EngineRunner
from fraud_assets.settings import config_root, fraud_assets_home


class WorldStoreResource(ConfigurableResource):
    """The world store rooted at FRAUD_ASSETS_HOME and the governed config tree."""

    home: str
    config_root: str

    def store(self) -> WorldStore:
        return WorldStore(self.home)

    def runner(self) -> EngineRunner:
        return EngineRunner(self.store(), Path(self.config_root))


def resources_for_environment() -> dict[str, object]:
    return {"world_store": WorldStoreResource(home=str(fraud_assets_home()), config_root=str(config_root()))}


__all__ = ["WorldStoreResource", "resources_for_environment"]
