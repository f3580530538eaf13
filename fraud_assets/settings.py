"""Where things live: FRAUD_ASSETS_HOME (data + Dagster instance) and the config tree."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent


def fraud_assets_home() -> Path:
    return Path(os.environ.get("FRAUD_ASSETS_HOME", ".fraud_assets")).resolve()


def config_root() -> Path:
    """The governed config tree: FRAUD_ASSETS_CONFIG, else the repository's `config/`."""
    override = os.environ.get("FRAUD_ASSETS_CONFIG")
    return Path(override).resolve() if override else PACKAGE_ROOT.parent / "config"


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or fraud_assets_home() / "dagster").resolve()
