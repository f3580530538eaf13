"""Stable failure codes (ARCHITECTURE §5).

Every failure the engine or platform raises on purpose is an `EngineFailure`
carrying a stable code (`E_<WHAT>` or `<SEG>-S<n>-<nnn>`), and as much of
*where* as is known: dataset, partition and the first offending keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Codes used by the core laws; segment codes live beside their checks.
E_IMMUTABLE_PARTITION_EXISTS_NONIDENTICAL = "E_IMMUTABLE_PARTITION_EXISTS_NONIDENTICAL"
E_NO_PASS_NO_READ = "E_NO_PASS_NO_READ"
E_FINGERPRINT_MISMATCH = "E_FINGERPRINT_MISMATCH"
E_PARTITION_MISMATCH = "E_PARTITION_MISMATCH"
E_READ_FAILED = "E_READ_FAILED"
E_CONFIG_INVALID = "E_CONFIG_INVALID"
E_DATASET_UNKNOWN = "E_DATASET_UNKNOWN"
E_WORLD_UNKNOWN = "E_WORLD_UNKNOWN"
E_HASHGATE_MISMATCH = "E_HASHGATE_MISMATCH"
E_RNG_ACCOUNTING = "E_RNG_ACCOUNTING"
E_REFERENCE_INVALID = "E_REFERENCE_INVALID"
E_ALIAS_CODEC_MISMATCH = "E_ALIAS_CODEC_MISMATCH"


class EngineFailure(Exception):
    """A deliberate, coded failure. `str()` names the code and the location."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        dataset: str | None = None,
        partition: Mapping[str, Any] | None = None,
        keys: Sequence[Any] | None = None,
        **context: Any,
    ) -> None:
        self.code = code
        self.message = message
        self.dataset = dataset
        self.partition = dict(partition) if partition else None
        self.keys = list(keys)[:10] if keys is not None else None
        self.context = context
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [f"{self.code}: {self.message}"]
        if self.dataset:
            parts.append(f"dataset={self.dataset}")
        if self.partition:
            parts.append("partition=" + ",".join(f"{k}={v}" for k, v in self.partition.items()))
        if self.keys:
            parts.append(f"first_keys={self.keys}")
        for key, value in sorted(self.context.items()):
            parts.append(f"{key}={value}")
        return " | ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "dataset": self.dataset,
            "partition": self.partition,
            "keys": self.keys,
            "context": {k: repr(v) if not isinstance(v, (str, int, float, bool)) else v
                        for k, v in self.context.items()},
        }
