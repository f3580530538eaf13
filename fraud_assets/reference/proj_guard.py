"""PROJ guard (ARCHITECTURE §9): every geo library uses the PROJ data its own wheel ships.

A `PROJ_LIB`/`PROJ_DATA`/`GDAL_DATA` left in the environment by another install
(conda, a system GDAL, a stale shell) makes PROJ open a `proj.db` built for a
different PROJ release, which fails as "EPSG code unknown" or
"DATABASE.LAYOUT.VERSION.MINOR = 4 whereas a number >= 6 is expected".
`ensure_proj_data()`:

* points `pyproj` at pyproj's bundled data dir (`pyproj.datadir.get_data_dir()`
  of the wheel, set explicitly with `set_data_dir`);
* points `rasterio`'s GDAL/PROJ at the data rasterio's wheel ships (it links its
  own libproj; pyproj's `proj.db` has an older layout that rasterio's PROJ refuses,
  measured with pyproj 3.7.2/PROJ 9.5.1 vs rasterio 1.4.4/PROJ 9.7.1); only a
  rasterio without bundled data (a system build) is pointed at pyproj's dir;
* removes `PROJ_LIB`, `PROJ_DATA` and `GDAL_DATA` from `os.environ` when they
  point anywhere else, so libraries imported later (and child processes) find
  their own wheel data too;
* proves it: EPSG:4326 must resolve in pyproj and in rasterio, else
  `E_REFERENCE_INVALID`.

Idempotent and cheap; call it before any CRS or raster work.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fraud_assets.core.errors import E_REFERENCE_INVALID, EngineFailure

ENV_VARS = ("PROJ_LIB", "PROJ_DATA", "GDAL_DATA")


def _valid_proj_dir(path: str | Path | None) -> bool:
    return path is not None and Path(path, "proj.db").is_file()


def pyproj_bundled_dir() -> str:
    import pyproj
    import pyproj.datadir

    internal = Path(pyproj.__file__).resolve().parent / "proj_dir" / "share" / "proj"
    if _valid_proj_dir(internal):
        return str(internal)
    return pyproj.datadir.get_data_dir()


def rasterio_bundled_dirs() -> tuple[str | None, str | None]:
    """(proj data, gdal data) shipped inside the rasterio wheel, or None."""
    from rasterio._env import GDALDataFinder, PROJDataFinder

    return PROJDataFinder().search_wheel(), GDALDataFinder().search_wheel()


def ensure_proj_data() -> dict[str, Any]:
    """Pin pyproj and rasterio to their bundled PROJ data; return what was set and removed."""
    import pyproj.datadir

    pyproj_dir = pyproj_bundled_dir()
    if pyproj.datadir._USER_PROJ_DATA != pyproj_dir:  # noqa: SLF001 - set_data_dir resets the context
        pyproj.datadir.set_data_dir(pyproj_dir)

    rio_proj, rio_gdal = rasterio_bundled_dirs()
    rio_proj = rio_proj if _valid_proj_dir(rio_proj) else pyproj_dir
    keep = {os.path.realpath(rio_proj), os.path.realpath(pyproj_dir)}
    if rio_gdal:
        keep.add(os.path.realpath(rio_gdal))
    removed = {}
    for name in ENV_VARS:
        value = os.environ.get(name)
        if value is not None and os.path.realpath(value) not in keep:
            removed[name] = os.environ.pop(name)

    from rasterio.env import set_gdal_config, set_proj_data_search_path

    set_proj_data_search_path(rio_proj)
    if rio_gdal:
        set_gdal_config("GDAL_DATA", rio_gdal)

    _prove(pyproj_dir, rio_proj)
    return {"pyproj_data_dir": pyproj_dir, "rasterio_proj_data_dir": rio_proj,
            "rasterio_gdal_data_dir": rio_gdal, "removed_env": removed}


def _prove(pyproj_dir: str, rio_proj: str) -> None:
    import pyproj
    from rasterio.crs import CRS

    try:
        if pyproj.CRS.from_epsg(4326).to_epsg() != 4326:
            raise ValueError("pyproj EPSG:4326 round trip failed")
        if CRS.from_epsg(4326).to_epsg() != 4326:
            raise ValueError("rasterio EPSG:4326 round trip failed")
    except Exception as exc:  # noqa: BLE001 - any failure here is the guard's failure
        raise EngineFailure(E_REFERENCE_INVALID, f"PROJ guard: {exc}", dataset="proj_guard",
                            keys=[pyproj_dir, rio_proj]) from exc
