"""Deterministic PNG plots of 1B (matplotlib's Agg canvas, no pyplot global state).

Byte-identical across renders of the same data: a fixed figure size and DPI, no
timestamps, and the PNG `Software` text chunk suppressed (`metadata={"Software": None}`).
"""

from __future__ import annotations

import io

import numpy as np
import polars as pl
import shapely

from fraud_assets.engine.seg_1b.grid import parse_geometry, polygon_parts

DPI = 100
FIGSIZE = (12.0, 6.2)
PLACEMENT_COLOURS = {"city": "#1f77b4", "uniform": "#ff7f0e", "fallback": "#d62728"}


def _outlines(world_countries: pl.DataFrame) -> list[np.ndarray]:
    rings = []
    for wkb in world_countries.sort("country_iso").get_column("geometry").to_list():
        geom = parse_geometry(wkb)
        for part in polygon_parts(geom) if geom is not None else []:
            rings.append(np.asarray(shapely.get_coordinates(part.exterior)))
    return rings


def site_map_png(sites: pl.DataFrame, world_countries: pl.DataFrame, title: str) -> bytes:
    """Sites (lat_deg, lon_deg, placement) over the country outlines, as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.04, 0.07, 0.94, 0.86))
    ax.add_collection(LineCollection(_outlines(world_countries), colors="#9a9a9a", linewidths=0.4))
    ordered = sites.sort("merchant_id", "legal_country_iso", "site_order") if "merchant_id" in sites.columns else sites
    for placement, colour in PLACEMENT_COLOURS.items():
        sel = ordered.filter(pl.col("placement") == placement)
        if sel.height:
            ax.scatter(sel.get_column("lon_deg").to_numpy(), sel.get_column("lat_deg").to_numpy(), s=3,
                       c=colour, linewidths=0, label=f"{placement} ({sel.height})")
    ax.set_xlim(-180, 180)
    ax.set_ylim(-90, 90)
    ax.set_aspect("equal")
    ax.set_xlabel("lon_deg")
    ax.set_ylabel("lat_deg")
    ax.set_title(title, fontsize=10)
    if ordered.height:
        ax.legend(loc="lower left", fontsize=8, markerscale=3, frameon=False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()
