"""Inputs that are not tables: handles the runner gives a state instead of a frame.

A raster is too large to hand over whole (3600 × 7200 float32), so a state gets a
`RasterSource` over the sealed GeoTIFF and reads bands of rows from it; the gate
has already authorised and digest-checked the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class RasterMeta:
    width: int
    height: int
    transform: tuple[float, float, float, float, float, float]  # (a, b, c, d, e, f) affine
    crs: str
    dtype: str
    nodata: float | None


@dataclass(frozen=True)
class RasterSource:
    path: Path

    def meta(self) -> RasterMeta:
        import rasterio

        from fraud_assets.reference.proj_guard import ensure_proj_data

        ensure_proj_data()
        with rasterio.open(self.path) as src:
            t = src.transform
            return RasterMeta(src.width, src.height, (t.a, t.b, t.c, t.d, t.e, t.f),
                              src.crs.to_string() if src.crs else "", src.dtypes[0], src.nodata)

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Band 1, rows [start, stop), all columns, as float64."""
        import rasterio
        from rasterio.windows import Window

        from fraud_assets.reference.proj_guard import ensure_proj_data

        ensure_proj_data()
        with rasterio.open(self.path) as src:
            window = Window(0, start, src.width, stop - start)
            return src.read(1, window=window).astype(np.float64)
