"""A world home shared by the orchestration tests: reference data copied in once."""

import os
import shutil
from pathlib import Path

import pytest

from fraud_assets_tests.reference.conftest import built_reference_root  # noqa: F401


@pytest.fixture(scope="session")
def world_home(tmp_path_factory, built_reference_root) -> Path:  # noqa: F811
    """FRAUD_ASSETS_HOME with the session's reference data and its own Dagster instance."""
    home = tmp_path_factory.mktemp("fraud_assets_home")
    shutil.copytree(built_reference_root / "reference", home / "reference")
    saved = {k: os.environ.get(k) for k in ("FRAUD_ASSETS_HOME", "DAGSTER_HOME", "FRAUD_ASSETS_CONFIG")}
    os.environ["FRAUD_ASSETS_HOME"] = str(home)
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    os.environ.pop("FRAUD_ASSETS_CONFIG", None)
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
