"""Governed configuration: strict pydantic models over YAML (ARCHITECTURE §10).

Every governed file is validated by a model that rejects unknown keys, so a typo
is an error naming the file and the key, never a silently ignored setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from fraud_assets.core.errors import E_CONFIG_INVALID, EngineFailure

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of every governed config model: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise EngineFailure(E_CONFIG_INVALID, f"YAML does not parse: {exc}", dataset=str(path)) from exc


def load_model(path: Path, model: type[M], *, code: str = E_CONFIG_INVALID) -> M:
    """Load one YAML file into `model`, raising `code` with the file and offending keys."""
    data = read_yaml(path)
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise _invalid(code, path, exc) from exc


def load_folder(folder: Path, model: type[M], *, code: str = E_CONFIG_INVALID) -> M:
    """Load every `<name>.yaml` of a folder into the fields `<name>` of `model`."""
    folder = Path(folder)
    data = {p.stem: read_yaml(p) for p in sorted(folder.glob("*.yaml"))}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(code, folder, exc) from exc


def _invalid(code: str, where: Path, exc: ValidationError) -> EngineFailure:
    problems = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
    return EngineFailure(code, "config invalid: " + "; ".join(problems[:5]), dataset=str(where),
                         keys=[".".join(str(p) for p in err["loc"]) for err in exc.errors()])
