"""Partitions, declared once (STYLE §2): worlds are fingerprint × seed; platform runs by id."""

from dagster import DynamicPartitionsDefinition, MultiPartitionsDefinition

MANIFEST_FINGERPRINT = DynamicPartitionsDefinition(name="manifest_fingerprint")
SEED = DynamicPartitionsDefinition(name="seed")

# Multi-partition keys join dimensions in name order: "<manifest_fingerprint>|<seed>".
WORLD = MultiPartitionsDefinition({"manifest_fingerprint": MANIFEST_FINGERPRINT, "seed": SEED})

PLATFORM_RUN = DynamicPartitionsDefinition(name="platform_run_id")


def world_of(partition_key) -> tuple[str, int]:
    """(manifest_fingerprint, seed) of a world partition key."""
    keys = partition_key.keys_by_dimension
    return keys["manifest_fingerprint"], int(keys["seed"])


def register_world_partitions(instance, manifest_fingerprint: str, seed: int) -> None:
    """Add a world's keys to the instance (no-op for keys that exist)."""
    for definition, key in ((MANIFEST_FINGERPRINT, manifest_fingerprint), (SEED, str(seed))):
        if not instance.has_dynamic_partition(definition.name, key):
            instance.add_dynamic_partitions(definition.name, [key])
