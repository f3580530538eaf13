"""A segment's table declarations → dataset specs, plus the one way to shape an output frame."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from fraud_assets.core.dictionary import DatasetSpec, Kind, Scope

# dataset id -> (scope, sort keys, {column: polars dtype})
TableDecl = tuple[Scope, tuple[str, ...], Mapping[str, pl.DataType]]


class SegmentTables:
    """Every dataset a segment publishes: Parquet tables with exact schemas and JSON documents."""

    def __init__(self, segment: str, layer: int, tables: Mapping[str, TableDecl],
                 documents: Mapping[str, Scope] | None = None) -> None:
        self.segment = segment
        self.schemas: dict[str, dict[str, pl.DataType]] = {k: dict(v[2]) for k, v in tables.items()}
        self.sort: dict[str, tuple[str, ...]] = {k: tuple(v[1]) for k, v in tables.items()}
        self.scopes: dict[str, Scope] = {k: v[0] for k, v in tables.items()}
        self.datasets: list[DatasetSpec] = [
            DatasetSpec(id=ds_id, segment=segment, layer=layer, scope=scope, kind=Kind.PARQUET, sort=tuple(sort),
                        schema={col: str(dtype) for col, dtype in schema.items()})
            for ds_id, (scope, sort, schema) in tables.items()
        ] + [
            DatasetSpec(id=ds_id, segment=segment, layer=layer, scope=scope, kind=Kind.JSON, file_name=f"{ds_id}.json")
            for ds_id, scope in (documents or {}).items()
        ]

    def empty(self, dataset_id: str) -> pl.DataFrame:
        return pl.DataFrame(schema=self.schemas[dataset_id])

    def conform(self, frame: pl.DataFrame, dataset_id: str) -> pl.DataFrame:
        """Declared columns in declared order, exact dtypes, sorted by the declared keys."""
        schema = self.schemas[dataset_id]
        missing = [c for c in schema if c not in frame.columns]
        if missing:
            raise ValueError(f"{dataset_id}: missing columns {missing}")
        out = frame.select([pl.col(c).cast(t, strict=True) for c, t in schema.items()])
        return out.sort(list(self.sort[dataset_id]), maintain_order=True)
