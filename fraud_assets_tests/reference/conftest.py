"""Reference data built once per test session.

`built_reference_root` is the reusable fixture: every reference dataset built
with `catalog.build_all` into one session temp dir (≈25 s on 2 cores), returned
as the store root (`<root>/reference/<dataset_id>/version=<v>/...`). Other test
packages reuse it by importing it into their own conftest:

    from fraud_assets_tests.reference.conftest import built_reference_root  # noqa: F401

The build is memoised at module level, so importing the fixture into several
conftests still builds once per process. Set `FRAUD_ASSETS_TEST_REFERENCE_ROOT`
to a directory to build there instead and keep it between sessions (later
sessions only re-check it: `skip_existing=True`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fraud_assets.reference import catalog

ROOT_ENV = "FRAUD_ASSETS_TEST_REFERENCE_ROOT"
_BUILT: dict[str, object] = {}


def reference_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, catalog.ReferenceResult]]:
    """(root, results) of the one session build (memoised per process)."""
    if "root" not in _BUILT:
        configured = os.environ.get(ROOT_ENV)
        root = Path(configured) if configured else tmp_path_factory.mktemp("reference_store")
        _BUILT["results"] = catalog.build_all(root, skip_existing=bool(configured))
        _BUILT["root"] = root
    return _BUILT["root"], _BUILT["results"]  # type: ignore[return-value]


@pytest.fixture(scope="session")
def built_reference_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Store root holding every reference dataset, built once per session."""
    return reference_build(tmp_path_factory)[0]


@pytest.fixture(scope="session")
def reference_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, catalog.ReferenceResult]:
    """The `ReferenceResult` of each dataset of the session build."""
    return reference_build(tmp_path_factory)[1]
