"""The PROJ guard: bogus PROJ_LIB/PROJ_DATA/GDAL_DATA are overridden before CRS work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyproj

from fraud_assets.reference import proj_guard

REPO = Path(__file__).resolve().parents[2]

_CHILD = """
import json, os
import rasterio                      # imported first: it adopts the bogus PROJ_DATA at import
from rasterio.crs import CRS
try:
    CRS.from_epsg(4326)
    poisoned = False
except Exception:
    poisoned = True
from fraud_assets.reference.proj_guard import ensure_proj_data
report = ensure_proj_data()
import numpy as np, pyproj
from rasterio.io import MemoryFile
from affine import Affine
with MemoryFile() as mf:
    with mf.open(driver="GTiff", width=4, height=2, count=1, dtype="float32", crs="EPSG:4326",
                 transform=Affine(0.05, 0, -180, 0, -0.05, 90)) as ds:
        ds.write(np.ones((1, 2, 4), dtype="float32"))
    with mf.open() as ds:
        epsg = ds.crs.to_epsg()
print(json.dumps({"poisoned": poisoned, "epsg": epsg, "pyproj": pyproj.CRS.from_epsg(4326).to_epsg(),
                  "env": {k: os.environ.get(k) for k in ("PROJ_LIB", "PROJ_DATA", "GDAL_DATA")},
                  "report": report}))
"""


def test_bogus_proj_env_is_overridden_in_a_fresh_process(tmp_path):
    bogus = tmp_path / "bogus_proj"
    bogus.mkdir()
    (bogus / "proj.db").write_bytes(b"not a database")
    env = {**os.environ, "PROJ_LIB": str(bogus), "PROJ_DATA": str(bogus), "GDAL_DATA": str(bogus),
           "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=120,
                         check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["poisoned"] is True  # the environment really was broken
    assert result["epsg"] == 4326 and result["pyproj"] == 4326
    assert result["env"] == {"PROJ_LIB": None, "PROJ_DATA": None, "GDAL_DATA": None}
    assert set(result["report"]["removed_env"]) == {"PROJ_LIB", "PROJ_DATA", "GDAL_DATA"}
    assert result["report"]["pyproj_data_dir"].endswith(os.path.join("pyproj", "proj_dir", "share", "proj"))


def test_guard_in_process_removes_foreign_env_and_pins_pyproj(monkeypatch, tmp_path):
    monkeypatch.setenv("PROJ_LIB", str(tmp_path))
    monkeypatch.setenv("PROJ_DATA", str(tmp_path))
    report = proj_guard.ensure_proj_data()
    assert "PROJ_LIB" not in os.environ and "PROJ_DATA" not in os.environ
    assert report["removed_env"]["PROJ_LIB"] == str(tmp_path)
    assert pyproj.datadir.get_data_dir() == report["pyproj_data_dir"] == proj_guard.pyproj_bundled_dir()
    assert (Path(report["rasterio_proj_data_dir"]) / "proj.db").is_file()
    # idempotent, and it leaves matching settings alone
    assert proj_guard.ensure_proj_data()["removed_env"] == {}
