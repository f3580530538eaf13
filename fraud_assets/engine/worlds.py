"""World registration: identity from config + reference, a write-once manifest per world."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from fraud_assets.core.canonical import canonical_json
from fraud_assets.core.config import StrictModel, load_model
from fraud_assets.core.errors import E_FINGERPRINT_MISMATCH, E_WORLD_UNKNOWN, EngineFailure
from fraud_assets.core.identity import (
    SEED_MAX,
    World,
    WorldPreset,
    manifest_fingerprint,
    parameter_hash,
    preset_file,
    utc_now_iso,
)
from fraud_assets.core.store import PublishStatus, WorldStore


class WorldPresetFile(StrictModel):
    merchants: int
    horizon_start_utc: datetime
    horizon_days: int


def load_preset(config_root: Path, name: str) -> WorldPreset:
    model = load_model(preset_file(config_root, name), WorldPresetFile)
    start = model.horizon_start_utc
    if start.tzinfo is None or start.utcoffset().total_seconds() != 0 or (start.hour, start.minute, start.second) != (0, 0, 0):
        raise EngineFailure("E_CONFIG_INVALID", "horizon_start_utc must be a UTC midnight (T00:00:00Z)",
                            dataset=str(preset_file(config_root, name)))
    if model.merchants < 1 or model.horizon_days < 1:
        raise EngineFailure("E_CONFIG_INVALID", "merchants and horizon_days must be positive",
                            dataset=str(preset_file(config_root, name)))
    return WorldPreset(name, model.merchants, start.astimezone(timezone.utc), model.horizon_days)


def manifest_path(manifest_fingerprint_: str, seed: int) -> str:
    return f"data/worlds/manifest_fingerprint={manifest_fingerprint_}/seed={seed}/world_manifest.json"


@dataclass(frozen=True)
class Identity:
    parameter_hash: str
    manifest_fingerprint: str


def compute_identity(config_root: Path, preset: str, reference_digests: dict[str, str]) -> Identity:
    ph = parameter_hash(config_root, preset)
    return Identity(ph, manifest_fingerprint(ph, reference_digests))


def check_seed(seed: int) -> int:
    if not 0 <= int(seed) <= SEED_MAX:
        raise ValueError(f"seed must be an unsigned 64-bit integer, got {seed}")
    return int(seed)


def register(store: WorldStore, config_root: Path, preset: str, seed: int,
             reference_digests: dict[str, str]) -> tuple[World, PublishStatus]:
    """Write the world's manifest once; registering again returns the existing world."""
    seed = check_seed(seed)
    identity = compute_identity(config_root, preset, reference_digests)
    relative = manifest_path(identity.manifest_fingerprint, seed)
    if store.exists(relative):
        return load_world(store, config_root, identity.manifest_fingerprint, seed), PublishStatus.ALREADY_PUBLISHED
    world = World(identity.manifest_fingerprint, identity.parameter_hash, seed,
                  load_preset(config_root, preset), utc_now_iso())
    result = store.publish_bytes(relative, canonical_json(world.manifest()))
    if result.status is PublishStatus.ALREADY_PUBLISHED:  # pragma: no cover - identical race
        return world, result.status
    return world, PublishStatus.PUBLISHED


def load_world(store: WorldStore, config_root: Path, manifest_fingerprint_: str, seed: int) -> World:
    relative = manifest_path(manifest_fingerprint_, seed)
    if not store.exists(relative):
        raise EngineFailure(E_WORLD_UNKNOWN, "world is not registered",
                            dataset="world_manifest.json",
                            partition={"manifest_fingerprint": manifest_fingerprint_, "seed": seed})
    manifest = json.loads(store.read_bytes(relative))
    return World(manifest["manifest_fingerprint"], manifest["parameter_hash"], int(manifest["seed"]),
                 load_preset(config_root, manifest["preset"]), manifest["registered_utc"])


def list_worlds(store: WorldStore) -> list[tuple[str, int]]:
    root = store.path("data/worlds")
    found = []
    for path in sorted(root.glob("manifest_fingerprint=*/seed=*/world_manifest.json")):
        mf = path.parent.parent.name.split("=", 1)[1]
        found.append((mf, int(path.parent.name.split("=", 1)[1])))
    return found


def verify_identity(world: World, config_root: Path, reference_digests: dict[str, str]) -> None:
    """S0's identity check: recompute and compare, failing closed with the first difference."""
    identity = compute_identity(config_root, world.preset.name, reference_digests)
    if identity.parameter_hash != world.parameter_hash:
        raise EngineFailure(E_FINGERPRINT_MISMATCH, "governed config differs from the world's parameter_hash",
                            recorded=world.parameter_hash, recomputed=identity.parameter_hash,
                            partition={"manifest_fingerprint": world.manifest_fingerprint, "seed": world.seed})
    if identity.manifest_fingerprint != world.manifest_fingerprint:
        raise EngineFailure(E_FINGERPRINT_MISMATCH, "reference data or contract version differs from the world's fingerprint",
                            recorded=world.manifest_fingerprint, recomputed=identity.manifest_fingerprint,
                            partition={"manifest_fingerprint": world.manifest_fingerprint, "seed": world.seed})
