"""2A S0 — gate and seal (spec/engine/2A.md, "S0"; no RNG, no site rows).

The runner does S0.1 (identity recompute → `E_FINGERPRINT_MISMATCH`), S0.2 (1A and
1B `_passed.flag` recomputed → `E_NO_PASS_NO_READ`) and S0.5's sealing
(`sealed_inputs.parquet`, `s0_gate_receipt.json`). This module validates what the
spec gives its own codes, as pure functions the checks and S5 re-run:

* `validate_nudge` — 0 < ε ≤ 0.01 (`2A-S0-021 NUDGE_POLICY_INVALID`);
* `validate_overrides` — scope, target pattern and FK, tzid ∈ TW, `applies_to`,
  non-empty notes, ≤ 1 active row per `(scope, target, applies_to)`; active ⇔
  expiry null or ≥ date(horizon_start_utc) (`2A-S0-022 OVERRIDES_INVALID`);
* `validate_horizon` — start at 00:00Z, 1 ≤ days ≤ 120 (`2A-S0-024 HORIZON_INVALID`);
* `validate_tz_world` — non-empty, EPSG:4326 degree bounds, every tzid loads from
  the tzdata wheel, every part a valid Polygon (`2A-S0-020 TZ_WORLD_INVALID`);
* `validate_tzdb_digest` — the installed wheel's TZif bytes equal the sealed
  `tzif_digest` reference key for key (`2A-S0-023 TZDB_DIGEST_MISMATCH`).

Outputs: `s0_tz_receipt` (JSON: tzdata/IANA versions, `tzif_digest`, `tz_world`
data version, horizon, policy figures and every validation result), the zone sets
`s0_country_zones` and the per-tzid `s0_tz_world_summary` (`TW`). A failed
validation is a failed blocking check (the asset's checks stop everything
downstream with the evidence), never a silent pass.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from collections.abc import Mapping
from datetime import timezone

import polars as pl

from fraud_assets.engine.common.tz_resolve import TzWorld, ZoneSets, build_zone_sets
from fraud_assets.engine.seg_2a import common
from fraud_assets.engine.seg_2a import datasets as ds
from fraud_assets.engine.seg_2a.config import Config2A
from fraud_assets.engine.seg_2a.overrides import is_active, validate_overrides
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_TZ_WORLD_INVALID = "2A-S0-020"
CODE_NUDGE_POLICY_INVALID = "2A-S0-021"
CODE_OVERRIDES_INVALID = "2A-S0-022"
CODE_TZDB_DIGEST_MISMATCH = "2A-S0-023"
CODE_HORIZON_INVALID = "2A-S0-024"

CHECK_TZ_WORLD = "tz_world_valid"
CHECK_NUDGE = "nudge_policy_valid"
CHECK_OVERRIDES = "overrides_valid"
CHECK_TZDB_DIGEST = "tzdb_digest_match"
CHECK_HORIZON = "horizon_valid"

EPSILON_MAX = 0.01
HORIZON_MAX_DAYS = 120


# ---- validations (pure) ---------------------------------------------------------------------------


def validate_nudge(epsilon: float) -> list[str]:
    if not (isinstance(epsilon, (int, float)) and 0.0 < float(epsilon) <= EPSILON_MAX):
        return [f"epsilon_degrees={epsilon!r} outside (0, {EPSILON_MAX}]"]
    return []


def validate_horizon(preset) -> list[str]:  # noqa: ANN001 - WorldPreset
    start = preset.horizon_start_utc
    problems = []
    if start.tzinfo is None or start.utcoffset().total_seconds() != 0 \
            or (start.hour, start.minute, start.second, start.microsecond) != (0, 0, 0, 0):
        problems.append(f"horizon_start_utc {start.isoformat()} is not a UTC midnight")
    if not 1 <= int(preset.horizon_days) <= HORIZON_MAX_DAYS:
        problems.append(f"horizon_days={preset.horizon_days} outside [1, {HORIZON_MAX_DAYS}]")
    return problems


def validate_tz_world(frame: pl.DataFrame, world: TzWorld | None, available: frozenset[str]) -> list[str]:
    problems: list[str] = []
    if frame.is_empty() or world is None:
        return ["tz_world is empty"]
    out = frame.filter((pl.col("min_lon_deg") < -180) | (pl.col("max_lon_deg") > 180)
                       | (pl.col("min_lat_deg") < -90) | (pl.col("max_lat_deg") > 90)
                       | (pl.col("min_lon_deg") > pl.col("max_lon_deg"))
                       | (pl.col("min_lat_deg") > pl.col("max_lat_deg")))
    if out.height:
        problems.append(f"{out.height} parts outside EPSG:4326 degree bounds: "
                        f"{common.key_list(out.head(5), ['tzid', 'part_id'])}")
    dup = frame.filter(pl.struct("tzid", "part_id").is_duplicated())
    if dup.height:
        problems.append(f"duplicate (tzid, part_id): {common.key_list(dup.head(5), ['tzid', 'part_id'])}")
    unknown = sorted(set(frame.get_column("tzid").unique().to_list()) - available)
    if unknown:
        problems.append(f"{len(unknown)} tzids do not load from the tzdata wheel: {unknown[:10]}")
    if "is_civil" in frame.columns:
        civil = frame.sort("tzid", "part_id").get_column("is_civil").to_numpy()
        if (civil != world.is_civil).any():
            problems.append("is_civil disagrees with the non-civil prefixes")
    if not world.civil_tzids:
        problems.append("no civil tzid")
    valid = world.validity()
    if not valid.all():
        bad = [[str(world.tzid[i]), int(world.part_id[i])] for i in range(world.parts) if not valid[i]]
        problems.append(f"{len(bad)} invalid or non-Polygon parts: {bad[:10]}")
    return problems


def validate_tzdb_digest(reference: pl.DataFrame, installed: Mapping[str, bytes]) -> tuple[list[str], str]:
    """Per key sha256 of the installed TZif bytes vs the sealed `tzif_digest` rows; also the key sets."""
    recorded = dict(reference.select("tzid", "tzif_sha256").iter_rows())
    actual = {k: hashlib.sha256(v).hexdigest() for k, v in installed.items()}
    problems = []
    missing = sorted(set(recorded) - set(actual))
    extra = sorted(set(actual) - set(recorded))
    differ = sorted(k for k in set(recorded) & set(actual) if recorded[k] != actual[k])
    if missing:
        problems.append(f"{len(missing)} sealed keys missing from the installed tzdata: {missing[:10]}")
    if extra:
        problems.append(f"{len(extra)} installed keys not sealed: {extra[:10]}")
    if differ:
        problems.append(f"{len(differ)} keys whose TZif bytes differ: {differ[:10]}")
    from fraud_assets.reference.tzif_digest import digest_of

    return problems, digest_of(installed)


def tz_world_data_version() -> str:
    """The timezone-boundary-builder release stamped into the installed timezonefinder-data."""
    try:
        path = importlib.resources.files("timezonefinder_data").joinpath("data", "data_version.txt")
        return path.read_text(encoding="utf-8").strip()
    except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover - reference built elsewhere
        return "unknown"


# ---- derived tables -------------------------------------------------------------------------------


def tz_world_summary(frame: pl.DataFrame, world: TzWorld) -> pl.DataFrame:
    civil = pl.DataFrame({"tzid": list(world.tzid), "is_civil": world.is_civil},
                         schema={"tzid": pl.String, "is_civil": pl.Boolean}).unique("tzid")
    return (frame.group_by("tzid").agg(
        pl.len().cast(pl.Int32).alias("parts"), pl.col("n_vertices").cast(pl.Int64).sum().alias("n_vertices"),
        pl.col("min_lon_deg").min(), pl.col("min_lat_deg").min(),
        pl.col("max_lon_deg").max(), pl.col("max_lat_deg").max())
        .join(civil, on="tzid", how="left"))


def zone_sets_of(inputs: Mapping[str, pl.DataFrame], world: TzWorld, cfg: Config2A) -> ZoneSets:
    return build_zone_sets(world.civil_tzids, inputs[ds.REF_ZONE_TAB], inputs[ds.REF_ZONE1970_TAB],
                           cfg.tz_lookup.extra_country_zones)


# ---- run ------------------------------------------------------------------------------------------


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    cfg: Config2A = ctx.config
    w = ctx.world
    tz_world = inputs[ds.REF_TZ_WORLD]
    world = TzWorld.of(tz_world, cfg.tz_lookup.non_civil_prefixes) if not tz_world.is_empty() else None
    installed = common.tzif_bytes()
    horizon_start = w.preset.horizon_start_utc.astimezone(timezone.utc).date()
    civil = frozenset(world.civil_tzids) if world is not None else frozenset()
    checks: dict[str, dict] = {}

    def record(code: str, problems: list[str], **figures) -> None:
        checks[code] = common.jsonable({"passed": not problems, "problems": problems[:20],
                                        "problem_count": len(problems), **figures})

    record(CODE_NUDGE_POLICY_INVALID, validate_nudge(cfg.tz_nudge.epsilon_degrees),
           epsilon_degrees=cfg.tz_nudge.epsilon_degrees)
    record(CODE_OVERRIDES_INVALID, validate_overrides(
        cfg.tz_overrides.overrides, civil, set(inputs[ds.REF_MCC].get_column("mcc").to_list()),
        set(inputs[ds.REF_ISO].get_column("country_iso").to_list()), horizon_start),
        rows=len(cfg.tz_overrides.overrides),
        active=sum(is_active(r, horizon_start) for r in cfg.tz_overrides.overrides))
    record(CODE_HORIZON_INVALID, validate_horizon(w.preset), horizon_days=w.preset.horizon_days)
    record(CODE_TZ_WORLD_INVALID, validate_tz_world(tz_world, world, frozenset(installed)),
           parts=tz_world.height, tzids=tz_world.get_column("tzid").n_unique() if tz_world.height else 0,
           civil_tzids=len(civil))
    digest_problems, tzif_digest = validate_tzdb_digest(inputs[ds.REF_TZIF_DIGEST], installed)
    record(CODE_TZDB_DIGEST_MISMATCH, digest_problems, keys=len(installed))

    if world is not None:
        zones = zone_sets_of(inputs, world, cfg)
        country_zones = ds.conform(ds.with_partition(zones.to_frame(), w.manifest_fingerprint), ds.S0_COUNTRY_ZONES)
        summary = ds.conform(ds.with_partition(tz_world_summary(tz_world, world), w.manifest_fingerprint),
                             ds.S0_TZ_WORLD_SUMMARY)
    else:
        zones = None
        country_zones = ds.empty(ds.S0_COUNTRY_ZONES)
        summary = ds.empty(ds.S0_TZ_WORLD_SUMMARY)
    h0, h1 = common.horizon_s(w.preset)
    tt = cfg.timetable
    w0, w1 = common.window_s(w.preset, tt.pre_pad_days, tt.post_pad_days)
    receipt = common.jsonable({
        "segment": ds.SEGMENT, "manifest_fingerprint": w.manifest_fingerprint, "parameter_hash": w.parameter_hash,
        "seed": w.seed, "preset": w.preset.name, "registered_utc": w.registered_utc,
        **common.tzdata_versions(), "tzif_digest": tzif_digest, "tz_world_data_version": tz_world_data_version(),
        "horizon": {"start_utc": common.iso_utc(h0), "end_utc": common.iso_utc(h1), "days": w.preset.horizon_days},
        "timetable_window": {"start_utc": common.iso_utc(w0), "end_utc": common.iso_utc(w1)},
        "policy": {"epsilon_degrees": cfg.tz_nudge.epsilon_degrees,
                   "fallback_threshold_m": cfg.tz_nudge.epsilon_degrees * 111_000.0,
                   "foreign_snap_max_km": cfg.tz_lookup.foreign_snap_max_km,
                   "extra_country_zones": cfg.tz_lookup.extra_country_zones},
        "zone_sets": {"civil_tzids": len(civil), "countries": len(zones.z) if zones else 0,
                      "countries_multi_zone": sum(len(v) > 1 for v in zones.z.values()) if zones else 0},
        "checks": checks,
        "passed": all(c["passed"] for c in checks.values()),
    })
    report = {"passed": receipt["passed"], "failed_codes": sorted(k for k, c in checks.items() if not c["passed"]),
              "tzdata_version": receipt.get("tzdata_version"), "iana_version": receipt.get("iana_version"),
              "tz_world_parts": tz_world.height, "civil_tzids": len(civil),
              "countries_with_zones": receipt["zone_sets"]["countries"]}
    return StateResult(outputs={ds.S0_TZ_RECEIPT: receipt, ds.S0_COUNTRY_ZONES: country_zones,
                                ds.S0_TZ_WORLD_SUMMARY: summary}, report=report)


# ---- checks ---------------------------------------------------------------------------------------


def _receipt_check(code: str):  # noqa: ANN202
    def check(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
        receipt = result.outputs.get(ds.S0_TZ_RECEIPT)
        if not isinstance(receipt, dict) or code not in receipt.get("checks", {}):
            return common.missing_output(code, ds.S0_TZ_RECEIPT)
        doc = receipt["checks"][code]
        return common.outcome(code, doc.get("problems", []), 1, **{k: v for k, v in doc.items()
                                                                     if k not in ("problems", "passed")})
    check.__name__ = f"check_{code.replace('-', '_')}"
    return check


check_tz_world = _receipt_check(CODE_TZ_WORLD_INVALID)
check_nudge = _receipt_check(CODE_NUDGE_POLICY_INVALID)
check_overrides = _receipt_check(CODE_OVERRIDES_INVALID)
check_tzdb_digest = _receipt_check(CODE_TZDB_DIGEST_MISMATCH)
check_horizon = _receipt_check(CODE_HORIZON_INVALID)
