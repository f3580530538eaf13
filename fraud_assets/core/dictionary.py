"""The dataset dictionary (ARCHITECTURE §4): dataset id -> path, partitioning, owner.

The engine catalogue declares every dataset once; this module turns a declaration
into paths. Partition tokens are only `manifest_fingerprint, seed, scenario_id,
platform_run_id, utc_day`, in that order.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from fraud_assets.core.errors import E_DATASET_UNKNOWN, EngineFailure

PARTITION_TOKENS = ("manifest_fingerprint", "seed", "scenario_id", "platform_run_id", "utc_day")


class Scope(str, enum.Enum):
    F = "F"  # manifest_fingerprint only (seed-free)
    FS = "FS"  # manifest_fingerprint, seed


class Kind(str, enum.Enum):
    PARQUET = "parquet"  # a directory of part-*.parquet, published as a whole
    JSON = "json"  # one canonical JSON file
    FILES = "files"  # a directory of named files, published as a whole


@dataclass(frozen=True)
class DatasetSpec:
    id: str
    segment: str
    layer: int
    scope: Scope
    kind: Kind = Kind.PARQUET
    sort: tuple[str, ...] = ()
    schema: Mapping[str, str] = field(default_factory=dict)  # column -> polars dtype name
    folder: str | None = None  # shared folder (receipts/, validation/); default = id
    file_name: str | None = None  # for JSON datasets

    def partition(self, manifest_fingerprint: str, seed: int) -> dict[str, object]:
        tokens: dict[str, object] = {"manifest_fingerprint": manifest_fingerprint}
        if self.scope is Scope.FS:
            tokens["seed"] = seed
        return tokens

    def relative_path(self, manifest_fingerprint: str, seed: int) -> str:
        """Path under the store root: a directory (PARQUET, FILES) or a file (JSON)."""
        base = f"data/layer{self.layer}/{self.segment}/{self.folder or self.id}"
        tokens = "/".join(f"{k}={v}" for k, v in self.partition(manifest_fingerprint, seed).items())
        path = f"{base}/{tokens}"
        if self.kind is Kind.JSON:
            return f"{path}/{self.file_name or self.id + '.json'}"
        return path


class DatasetDictionary:
    def __init__(self, specs: Iterable[DatasetSpec]) -> None:
        self._specs: dict[str, DatasetSpec] = {}
        for spec in specs:
            if spec.id in self._specs:
                raise ValueError(f"dataset {spec.id!r} declared twice")
            self._specs[spec.id] = spec

    def __getitem__(self, dataset_id: str) -> DatasetSpec:
        try:
            return self._specs[dataset_id]
        except KeyError:
            raise EngineFailure(E_DATASET_UNKNOWN, f"no dataset {dataset_id!r} in the dictionary") from None

    def __contains__(self, dataset_id: str) -> bool:
        return dataset_id in self._specs

    def __iter__(self):
        return iter(self._specs.values())

    def of_segment(self, segment: str) -> list[DatasetSpec]:
        return [s for s in self._specs.values() if s.segment == segment]
