"""Small 3A-only helpers shared by the state modules: pair keys, zoneinfo membership, distances,
policy digests and the one-row-frame → dict round trip of JSON inputs. Nothing here draws
randomness or knows about a state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import numpy as np
import polars as pl

from fraud_assets.engine.common.checks import (  # noqa: F401 - re-exported
    FIRST_KEYS,
    jsonable,
    key_list,
    missing_output,
    outcome,
    tally,
)

EARTH_RADIUS_KM = 6371.0088
PAIR = ["merchant_id", "legal_country_iso"]
PAIR_ZONE = ["merchant_id", "legal_country_iso", "tzid"]
SITE_KEY = ["merchant_id", "legal_country_iso", "site_order"]


@cache
def available_tzids() -> frozenset[str]:
    """Every key `zoneinfo` loads from the tzdata wheel (never the host's zoneinfo)."""
    from fraud_assets.reference.intake import available_tzids as keys

    return frozenset(keys())


def tzid_loads(tzid: str) -> bool:
    return tzid in available_tzids()


def pair_key(merchant_id: int, country: str) -> str:
    """The RNG key and digest key of a merchant×country pair: `"{merchant_id}|{legal_country_iso}"`."""
    return f"{int(merchant_id)}|{country}"


def pair_keys(frame: pl.DataFrame) -> list[str]:
    return [pair_key(m, c) for m, c in zip(frame.get_column("merchant_id").to_list(),
                                            frame.get_column("legal_country_iso").to_list(), strict=True)]


def key_text(row: Sequence[Any]) -> str:
    """A composite key as one string (`123|US|America/Chicago`): JSON evidence that survives the
    runner's JSON → one-row frame read without mixed-type lists."""
    return "|".join("" if v is None else str(v) for v in row)


def key_texts(frame: pl.DataFrame, cols: Sequence[str], limit: int = FIRST_KEYS) -> list[str]:
    return [key_text(r) for r in frame.head(limit).select(list(cols)).iter_rows()]


def haversine_km(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> np.ndarray:
    """Great-circle distance (km), R = 6371.0088 km; arrays broadcast."""
    p1, p2 = np.radians(np.asarray(lat1, dtype=np.float64)), np.radians(np.asarray(lat2, dtype=np.float64))
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    a = np.sin(dp / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def json_input(value: Any) -> dict:
    """A JSON dataset as the runner hands it over (a one-row frame) back to a dict."""
    if isinstance(value, dict):
        return value
    return value.to_dicts()[0] if isinstance(value, pl.DataFrame) and value.height else {}


def policy_digests(cfg) -> dict[str, str]:
    """`{mixture,prior,floor}_policy_digest`: sha256 of the canonical JSON of each validated policy.

    States open no path, so the file bytes are not available here; the runner's S0 receipt seals the
    file bytes themselves (`sealed_inputs`), and any value change changes these digests."""
    return {"mixture_policy_digest": cfg.policy_digest("zone_mixture_policy"),
            "prior_policy_digest": cfg.policy_digest("zone_prior_policy"),
            "floor_policy_digest": cfg.policy_digest("zone_floor_policy")}


def with_partition(frame: pl.DataFrame, manifest_fingerprint: str, seed: int | None = None) -> pl.DataFrame:
    """Embed the partition tokens as columns (seed only for FS datasets)."""
    cols = [pl.lit(manifest_fingerprint, dtype=pl.String).alias("manifest_fingerprint")]
    if seed is not None:
        cols.append(pl.lit(seed, dtype=pl.UInt64).alias("seed"))
    return frame.with_columns(cols)


def median(values: Sequence[float] | np.ndarray) -> float | None:
    arr = np.asarray(values, dtype=np.float64)
    return float(np.median(arr)) if arr.size else None


def quantile(values: Sequence[float] | np.ndarray, q: float) -> float | None:
    arr = np.asarray(values, dtype=np.float64)
    return float(np.quantile(arr, q)) if arr.size else None


def frame_equal(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    return a.schema == b.schema and a.equals(b)


def as_mapping(frame: pl.DataFrame, key: str, value: str) -> Mapping[Any, Any]:
    return dict(zip(frame.get_column(key).to_list(), frame.get_column(value).to_list(), strict=True))
