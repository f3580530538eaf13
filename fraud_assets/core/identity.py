"""Identity law (ARCHITECTURE §3): parameter_hash, manifest_fingerprint, worlds.

`parameter_hash` covers every governed engine config file plus the selected world
preset; `manifest_fingerprint` adds the engine contract version and the digests of
the reference datasets. A world is `(manifest_fingerprint, seed)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from fraud_assets.core.canonical import canonical_sha256, sha256_file

ENGINE_CONTRACT_VERSION = "fa.engine.v1"
WORLD_PRESET_LOGICAL_NAME = "world_preset"
SEED_MAX = (1 << 64) - 1


def governed_files(config_root: Path) -> dict[str, Path]:
    """Logical name -> path for every governed engine config file (`engine/<SEG>/<file>.yaml`)."""
    engine = Path(config_root) / "engine"
    return {p.relative_to(config_root).as_posix(): p for p in sorted(engine.rglob("*.yaml"))}


def preset_file(config_root: Path, preset: str) -> Path:
    path = Path(config_root) / "worlds" / f"{preset}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (Path(config_root) / "worlds").glob("*.yaml"))
        raise FileNotFoundError(f"unknown world preset {preset!r}: no {path} (known: {known})")
    return path


def parameter_listing(config_root: Path, preset: str) -> list[tuple[str, str]]:
    """The canonical listing `(logical_name, sha256)` sorted by logical name."""
    listing = {name: sha256_file(path) for name, path in governed_files(config_root).items()}
    listing[WORLD_PRESET_LOGICAL_NAME] = sha256_file(preset_file(config_root, preset))
    return sorted(listing.items())


def parameter_hash(config_root: Path, preset: str) -> str:
    return canonical_sha256([[name, digest] for name, digest in parameter_listing(config_root, preset)])


def manifest_fingerprint(param_hash: str, reference_digests: Mapping[str, str],
                         engine_contract_version: str = ENGINE_CONTRACT_VERSION) -> str:
    return canonical_sha256({
        "parameter_hash": param_hash,
        "engine_contract_version": engine_contract_version,
        "reference": [[k, reference_digests[k]] for k in sorted(reference_digests)],
    })


@dataclass(frozen=True)
class WorldPreset:
    name: str
    merchants: int
    horizon_start_utc: datetime
    horizon_days: int

    @property
    def horizon_end_utc(self) -> datetime:
        return self.horizon_start_utc + timedelta(days=self.horizon_days)


@dataclass(frozen=True)
class World:
    """One world: identity, seed, preset and its registration time (the only clock value)."""

    manifest_fingerprint: str
    parameter_hash: str
    seed: int
    preset: WorldPreset
    registered_utc: str

    @property
    def key(self) -> str:
        """The Dagster multi-partition key: dimensions in name order, joined by `|`."""
        return f"{self.manifest_fingerprint}|{self.seed}"

    @property
    def rng(self):
        from fraud_assets.core.rng import RngRoot

        return RngRoot(self.manifest_fingerprint, self.parameter_hash)

    def manifest(self) -> dict:
        return {
            "manifest_fingerprint": self.manifest_fingerprint,
            "parameter_hash": self.parameter_hash,
            "seed": self.seed,
            "preset": self.preset.name,
            "registered_utc": self.registered_utc,
            "engine_contract_version": ENGINE_CONTRACT_VERSION,
        }


def utc_now_iso() -> str:
    """Registration time; the one wall-clock read of the engine (ARCHITECTURE §3)."""
    return datetime.now(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
