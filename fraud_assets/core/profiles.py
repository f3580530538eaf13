"""Profiles: where data lives and which adapters run (ARCHITECTURE §10).

`config/profiles/<name>.yaml` for `local` (embedded, zero services),
`local_parity` (PostgreSQL, Tansu, moto on this machine, from `fraud-assets
services up`) and `dev_min` (AWS). Environment variables override the file:
prefix `FRAUD_ASSETS_`, nested delimiter `__` (`FRAUD_ASSETS_DB__DSN`,
`FRAUD_ASSETS_BUS__KAFKA__BOOTSTRAP`, `FRAUD_ASSETS_ENGINE__EXEC__5B__S4__WORKERS`).
`FRAUD_ASSETS_HOME` sets `home` (default `./.fraud_assets`).

Rules:
* unknown keys are errors (`E_CONFIG_INVALID`), in the file and in nested env values;
* `${VAR}` in the file is replaced from the environment, `${VAR:-default}` falls back
  to `default`; an unset `${VAR}` is `E_CONFIG_PLACEHOLDER_UNRESOLVED`;
* in `local_parity` and `dev_min` every locator the profile's adapters need must be
  set: a missing one is `E_LOCATOR_MISSING` (`E_RTDL_LOCATOR_MISSING` for
  `rtdl.dsn.*`) naming the field — never a fallback to SQLite or local files.

Nothing here changes bytes of any output; profiles are never hashed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from fraud_assets.core.errors import E_CONFIG_INVALID, EngineFailure

E_LOCATOR_MISSING = "E_LOCATOR_MISSING"
E_RTDL_LOCATOR_MISSING = "E_RTDL_LOCATOR_MISSING"
E_CONFIG_PLACEHOLDER_UNRESOLVED = "E_CONFIG_PLACEHOLDER_UNRESOLVED"

PROFILE_NAMES = ("local", "local_parity", "dev_min")
STRICT_PROFILES = frozenset({"local_parity", "dev_min"})
ENV_PREFIX = "FRAUD_ASSETS_"
DEFAULT_HOME = "./.fraud_assets"
CONFIG_DIR = Path(__file__).resolve().parents[2] / "config" / "profiles"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class Pool(_Model):
    min_size: int = Field(1, ge=0)
    max_size: int = Field(4, ge=1)


class WorldStoreSettings(_Model):
    """Engine outputs: `local` (a directory; default `home`) or `s3` (`s3://bucket/prefix`)."""

    kind: Literal["local", "s3"] = "local"
    locator: str | None = None


class SqliteBus(_Model):
    path: str | None = None  # default <home>/platform/eb/eb.sqlite
    compress_values: bool = True


class KafkaBus(_Model):
    bootstrap: str | None = None
    idempotence: Literal["required", "preferred"] = "required"
    compression: Literal["none", "lz4", "zstd", "gzip", "snappy"] = "none"
    security: dict[str, str] = Field(default_factory=dict)


class BusSettings(_Model):
    kind: Literal["sqlite", "kafka"] = "sqlite"
    sqlite: SqliteBus = Field(default_factory=SqliteBus)
    kafka: KafkaBus = Field(default_factory=KafkaBus)

    @property
    def locator(self) -> str | None:
        return self.kafka.bootstrap if self.kind == "kafka" else self.sqlite.path


class SqlComponent(_Model):
    """A per-component override of the default SQL settings."""

    kind: Literal["sqlite", "postgres"] | None = None
    dsn: str | None = None
    pool: Pool | None = None


class SqlSettings(_Model):
    """`db:` — default kind/DSN/pool plus per-component overrides (control_ingress §13)."""

    kind: Literal["sqlite", "postgres"] = "sqlite"
    dsn: str | None = None
    pool: Pool = Field(default_factory=Pool)
    sr: SqlComponent | None = None
    ig: SqlComponent | None = None
    wsp: SqlComponent | None = None
    archive_writer: SqlComponent | None = None
    reporter: SqlComponent | None = None
    case_trigger: SqlComponent | None = None
    case_mgmt: SqlComponent | None = None
    label_store: SqlComponent | None = None
    registry: SqlComponent | None = None


class ResolvedSql(_Model):
    component: str
    kind: Literal["sqlite", "postgres"]
    dsn: str | None
    pool: Pool


SQL_COMPONENTS = ("sr", "ig", "wsp", "archive_writer", "reporter", "case_trigger", "case_mgmt",
                  "label_store", "registry")


class ObjectStoreSettings(_Model):
    kind: Literal["local", "s3"] = "local"
    root: str | None = None  # local: default home; s3: key prefix inside the bucket
    endpoint: str | None = None  # s3 endpoint URL (moto in local_parity; None = AWS)
    bucket: str | None = None
    addressing_style: Literal["path", "virtual", "auto"] = "path"
    connect_timeout_s: float = Field(5, gt=0)
    read_timeout_s: float = Field(30, gt=0)
    max_attempts: int = Field(3, ge=1)


class ExecKnobs(_Model):
    """`engine.exec.<SEG>.<state>` — execution only, never bytes."""

    workers: int = Field(1, ge=1)
    in_process_below_arrivals: int | None = Field(None, ge=0)
    progress_interval_s: float = Field(10, gt=0)
    batch_rows: int | None = Field(None, ge=1)


class EngineSettings(_Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    exec_: dict[str, dict[str, ExecKnobs]] = Field(default_factory=dict, alias="exec")

    @field_validator("exec_", mode="before")
    @classmethod
    def _normalise_keys(cls, value: Any) -> Any:
        # Environment keys arrive lower-cased: segments are upper-case (1A, 5B), states lower (s4).
        # The file's keys and the environment's may differ only in case: merge them,
        # later (environment) values winning field by field.
        if not isinstance(value, dict):
            return value
        merged: dict[str, Any] = {}
        for seg, states in value.items():
            seg_out = merged.setdefault(str(seg).upper(), {})
            if not isinstance(states, dict):
                merged[str(seg).upper()] = states
                continue
            for state, knobs in states.items():
                key = str(state).lower()
                if isinstance(knobs, dict) and isinstance(seg_out.get(key), dict):
                    seg_out[key] = {**seg_out[key], **knobs}
                else:
                    seg_out[key] = knobs
        return merged

    def knobs(self, segment: str, state: str) -> ExecKnobs:
        return self.exec_.get(segment.upper(), {}).get(state.lower(), ExecKnobs())


class RtdlBatch(_Model):
    ieg: int = Field(500, ge=1)
    ofp: int = Field(500, ge=1)
    csfb: int = Field(500, ge=1)
    df: int = Field(16, ge=1)
    al: int = Field(64, ge=1)
    dla: int = Field(500, ge=1)


class RtdlPgPool(_Model):
    min_size: int = Field(1, ge=0)
    max_size: int = Field(4, ge=1)
    df_max_size: int = Field(6, ge=1)


class RtdlDsn(_Model):
    ieg: str | None = None
    ofp: str | None = None
    csfb: str | None = None
    dl: str | None = None
    df: str | None = None
    al: str | None = None
    dla: str | None = None


class RtdlSettings(_Model):
    clock: Literal["drain", "wall"] = "drain"
    batch_max_records: RtdlBatch = Field(default_factory=RtdlBatch)
    poll_timeout_ms: int = Field(200, ge=0)
    pg_pool: RtdlPgPool = Field(default_factory=RtdlPgPool)
    dsn: RtdlDsn = Field(default_factory=RtdlDsn)
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"


class WspSettings(_Model):
    speedup: float = Field(0, ge=0)
    output_concurrency: int = Field(1, ge=1)


class SrSettings(_Model):
    evidence_deadline_s: float = Field(0, ge=0)


class Profile(BaseSettings):
    """One profile, validated. Load with `load_profile`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
        validate_default=True,
    )

    home: Path = Path(DEFAULT_HOME)
    world_store: WorldStoreSettings = Field(default_factory=WorldStoreSettings)
    bus: BusSettings = Field(default_factory=BusSettings)
    db: SqlSettings = Field(default_factory=SqlSettings)
    objects: ObjectStoreSettings = Field(default_factory=ObjectStoreSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    rtdl: RtdlSettings = Field(default_factory=RtdlSettings)
    wsp: WspSettings = Field(default_factory=WspSettings)
    sr: SrSettings = Field(default_factory=SrSettings)
    launcher: Literal["local", "ecs"] = "local"

    _name: str = PrivateAttr(default="local")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file arrives as init kwargs; the environment overrides it.
        return (env_settings, init_settings)

    @property
    def name(self) -> str:
        return self._name

    # ------------------------------------------------------------ resolved views

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def world_root(self) -> str:
        return self.world_store.locator or str(self.home_dir)

    @property
    def bus_sqlite_path(self) -> Path:
        return Path(self.bus.sqlite.path) if self.bus.sqlite.path else self.home_dir / "platform" / "eb" / "eb.sqlite"

    @property
    def objects_root(self) -> str:
        if self.objects.kind == "local":
            return self.objects.root or str(self.home_dir)
        return self.objects.root or ""

    def sql_for(self, component: str) -> ResolvedSql:
        """The SQL settings of a control/cases component (override → default)."""
        if component not in SQL_COMPONENTS:
            raise KeyError(f"unknown SQL component {component!r}; RTDL components use rtdl.dsn")
        override: SqlComponent | None = getattr(self.db, component)
        kind = (override.kind if override and override.kind else None) or self.db.kind
        dsn = (override.dsn if override and override.dsn else None) or self.db.dsn
        pool = (override.pool if override and override.pool else None) or self.db.pool
        return ResolvedSql(component=component, kind=kind, dsn=dsn if kind == "postgres" else None, pool=pool)

    def rtdl_dsn(self, component: str) -> str | None:
        return getattr(self.rtdl.dsn, component)

    # ------------------------------------------------------------ locator guard

    def missing_locators(self) -> list[tuple[str, str]]:
        """(code, field) for each locator the chosen adapters need but lack."""
        missing: list[tuple[str, str]] = []
        if self.world_store.kind == "s3" and not self.world_store.locator:
            missing.append((E_LOCATOR_MISSING, "world_store.locator"))
        if self.bus.kind == "kafka" and not self.bus.kafka.bootstrap:
            missing.append((E_LOCATOR_MISSING, "bus.kafka.bootstrap"))
        if self.name in STRICT_PROFILES and self.bus.kind != "kafka":
            missing.append((E_LOCATOR_MISSING, "bus.kind (kafka required)"))
        for comp in SQL_COMPONENTS:
            resolved = self.sql_for(comp)
            if resolved.kind == "postgres" and not resolved.dsn:
                missing.append((E_LOCATOR_MISSING, f"db.{comp}.dsn" if getattr(self.db, comp) else "db.dsn"))
        if self.name in STRICT_PROFILES and self.db.kind != "postgres":
            missing.append((E_LOCATOR_MISSING, "db.kind (postgres required)"))
        if self.objects.kind == "s3" and not self.objects.bucket:
            missing.append((E_LOCATOR_MISSING, "objects.bucket"))
        if self.name in STRICT_PROFILES and self.objects.kind != "s3":
            missing.append((E_LOCATOR_MISSING, "objects.kind (s3 required)"))
        if self.name == "local_parity" and self.objects.kind == "s3" and not self.objects.endpoint:
            missing.append((E_LOCATOR_MISSING, "objects.endpoint"))
        if self.name in STRICT_PROFILES:
            for comp, dsn in self.rtdl.dsn.model_dump().items():
                if not dsn:
                    missing.append((E_RTDL_LOCATOR_MISSING, f"rtdl.dsn.{comp}"))
        # de-duplicate "db.dsn" reported for several components
        return list(dict.fromkeys(missing))


# ---------------------------------------------------------------- loading

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _resolve_placeholders(value: Any, where: str, env: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _resolve_placeholders(v, f"{where}.{k}" if where else str(k), env) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_placeholders(v, f"{where}[{i}]", env) for i, v in enumerate(value)]
    if isinstance(value, str):
        def sub(m: re.Match[str]) -> str:
            var, default = m.group(1), m.group(2)
            got = env.get(var)
            if got:
                return got
            if default is not None:
                return default
            raise EngineFailure(
                E_CONFIG_PLACEHOLDER_UNRESOLVED, f"${{{var}}} is not set", field=where, variable=var
            )

        resolved = _PLACEHOLDER.sub(sub, value)
        return resolved if resolved != "" else None
    return value


def profile_path(name: str, config_dir: Path | None = None) -> Path:
    return (config_dir or CONFIG_DIR) / f"{name}.yaml"


def load_profile(name: str | None = None, *, config_dir: Path | None = None) -> Profile:
    """Load and validate a profile (name from `FRAUD_ASSETS_PROFILE`, default `local`)."""
    name = name or os.environ.get(f"{ENV_PREFIX}PROFILE") or "local"
    if name not in PROFILE_NAMES:
        raise EngineFailure(E_CONFIG_INVALID, f"unknown profile {name!r}; expected one of {PROFILE_NAMES}")
    path = profile_path(name, config_dir)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise EngineFailure(E_CONFIG_INVALID, f"profile file missing: {path}") from None
    if not isinstance(raw, dict):
        raise EngineFailure(E_CONFIG_INVALID, f"profile {path} must be a mapping")
    data = _resolve_placeholders(raw, "", dict(os.environ))
    data = {k: v for k, v in data.items() if v is not None}
    try:
        profile = Profile(**data)
    except ValidationError as exc:
        errors = [
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        ]
        raise EngineFailure(E_CONFIG_INVALID, f"profile {name}: " + "; ".join(errors), keys=errors) from None
    profile._name = name
    missing = profile.missing_locators()
    if missing:
        code = missing[0][0]
        fields = [f for _, f in missing]
        raise EngineFailure(
            code,
            f"profile {name}: missing locator(s): {', '.join(fields)} "
            "(set them in the profile file or the environment; there is no fallback)",
            keys=fields,
        )
    return profile
