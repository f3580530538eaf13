"""`tzif_digest`: the TZif bytes of the tzdata wheel, as `zoneinfo` reads them (ARCHITECTURE §9).

Keys are `zoneinfo.available_timezones()` after `zoneinfo.reset_tzpath(to=[])`,
so only the `tzdata` package is read (never the host's /usr/share/zoneinfo).
Rows `tzid, tzif_sha256, bytes` sorted by `tzid`; provenance carries
`tzdata_version`, `iana_version` and `tzif_digest` = sha256 over
`key + "\\0" + TZif bytes` for every key, keys sorted. 2A S0/S3 recompute the
digest with `compute_tzif_digest()` and compare.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import zoneinfo
from collections.abc import Mapping

import polars as pl

from fraud_assets.reference.intake import Built, Source, check_unique, fail, package_version, passed, tzdata_only

DATASET_ID = "tzif_digest"
RECIPE_VERSION = 1
DEPENDS: tuple[str, ...] = ()
SOURCES = (Source("tzdata", "tzdata", "zoneinfo"),)
TOOLCHAIN = ("polars",)
SCHEMA = {"tzid": pl.String, "tzif_sha256": pl.String, "bytes": pl.Int64}
SORT = ("tzid",)


def tzif_bytes(key: str) -> bytes:
    """The TZif file zoneinfo loads for `key` from the tzdata wheel (same resource lookup)."""
    *package, name = key.split("/")
    resource = importlib.resources.files(".".join(["tzdata", "zoneinfo", *package])).joinpath(name)
    return resource.read_bytes()


def read_tzif() -> dict[str, bytes]:
    """Every available key -> its TZif bytes, zoneinfo pinned to the tzdata wheel."""
    with tzdata_only():
        keys = sorted(zoneinfo.available_timezones())
        return {key: tzif_bytes(key) for key in keys}


def digest_of(tzif: Mapping[str, bytes]) -> str:
    h = hashlib.sha256()
    for key in sorted(tzif):
        h.update(key.encode("utf-8") + b"\0" + tzif[key])
    return h.hexdigest()


def compute_tzif_digest() -> str:
    """The installed tzdata wheel's `tzif_digest` (what 2A compares with the provenance)."""
    return digest_of(read_tzif())


def tzdata_versions() -> dict[str, str]:
    import tzdata

    return {"tzdata_version": package_version("tzdata"), "iana_version": tzdata.IANA_VERSION}


def build(inputs: Mapping[str, pl.DataFrame]) -> Built:
    tzif = read_tzif()
    bad = sorted(k for k, data in tzif.items() if not data.startswith(b"TZif"))
    if bad:
        raise fail(DATASET_ID, "tzif_magic", "files without the TZif magic", bad)
    frame = pl.DataFrame(
        {"tzid": list(tzif), "tzif_sha256": [hashlib.sha256(b).hexdigest() for b in tzif.values()],
         "bytes": [len(b) for b in tzif.values()]},
        schema=SCHEMA,
    ).sort(list(SORT))
    digest = digest_of(tzif)
    checks = {"primary_key": check_unique(DATASET_ID, frame, ["tzid"]),
              "tzif_magic": passed(keys=frame.height, total_bytes=int(frame["bytes"].sum()))}
    return Built(frame=frame, checks=checks, extra={**tzdata_versions(), "tzif_digest": digest})
