"""The dependency rule (ARCHITECTURE §2), checked on the source tree."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fraud_assets"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules():
    return [p for p in PACKAGE.rglob("*.py")]


def test_only_orchestration_and_definitions_import_dagster():
    allowed = {PACKAGE / "definitions.py"}
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in _modules()
        if p not in allowed and "orchestration" not in p.relative_to(PACKAGE).parts
        and any(name == "dagster" or name.startswith(("dagster.", "dagster_")) for name in _imports(p))
    ]
    assert offenders == []


def test_core_imports_nothing_of_ours_outside_core():
    offenders = [
        (str(p.relative_to(PACKAGE)), name)
        for p in (PACKAGE / "core").rglob("*.py")
        for name in _imports(p)
        if name.startswith("fraud_assets") and not name.startswith("fraud_assets.core")
    ]
    assert offenders == []


def test_engine_and_platform_never_import_orchestration():
    offenders = [
        (str(p.relative_to(PACKAGE)), name)
        for sub in ("engine", "platform", "reference")
        for p in (PACKAGE / sub).rglob("*.py")
        for name in _imports(p)
        if name.startswith("fraud_assets.orchestration") or name == "fraud_assets.definitions"
    ]
    assert offenders == []
