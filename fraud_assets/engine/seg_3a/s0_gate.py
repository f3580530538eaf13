"""3A S0 — gate and seal (spec/engine/3A.md, "S0"; no RNG, reads no rows beyond contract checks).

The runner does S0.1 (recompute `parameter_hash` / `manifest_fingerprint` →
`E_FINGERPRINT_MISMATCH`), S0.2 (recompute the `_passed.flag` of 1A, 1B and 2A →
`E_NO_PASS_NO_READ`; 1B because 2A's sites come from it), S0.4's sealing of every
input a 3A state reads from outside the segment (`outlet_catalogue`, `site_timezones`,
the six references, the four policies, the world preset) and S0.5's receipt
(`receipts/.../s0_gate_receipt.json`, `sealed_inputs.parquet`: upstream flags, per-input
sha256 and bytes, `registered_utc`, no wall clock). The policy loader raises
`3A-S0-003` (a file missing) and `3A-S0-004` (schema, range, placeholder version) before
any state runs (`config.Config3A`).

This state writes `s0_gate_3A` (JSON, FS): policy versions and digests, the consumed
contract and world partition of the sealed upstream inputs, their content digests, and
one entry per S0 check. Checks:

* `E_FINGERPRINT_MISMATCH` — the identity the runner recomputed equals the world's;
* `3A-S0-001 UPSTREAM_GATE_FAILED` — the sealed 1A/2A inputs carry the consumed columns,
  this world's partition and are non-empty (their flags were recomputed by the gate);
* `3A-S0-003`/`-004` — the four policies are present and validate (re-validated here);
* `3A-S0-005 SEALED_INPUT_MISSING` — every input read is present with its columns;
* `3A-S0-006 SEALED_INPUT_DIGEST_MISMATCH` — the recomputed fingerprint (which covers
  every reference digest) equals the world's;
* `3A-S0-007 RECEIPT_SCHEMA_INVALID` — `s0_gate_3A` carries every field, no 3A dataset
  among the sealed inputs and no wall-clock field but `registered_utc`.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from fraud_assets.core.digest import content_digest
from fraud_assets.core.errors import E_FINGERPRINT_MISMATCH
from fraud_assets.engine.seg_3a import common
from fraud_assets.engine.seg_3a import datasets as ds
from fraud_assets.engine.seg_3a.config import (
    CODE_POLICY_SCHEMA_INVALID,
    CODE_POLICY_SET_INCOMPLETE,
    PLACEHOLDER_VERSIONS,
    POLICY_FILES,
    Config3A,
)
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_UPSTREAM_GATE = "3A-S0-001"
CODE_SEALED_MISSING = "3A-S0-005"
CODE_SEALED_DIGEST = "3A-S0-006"
CODE_RECEIPT_INVALID = "3A-S0-007"
CODE_FINGERPRINT = E_FINGERPRINT_MISMATCH

CHECK_IDENTITY = "world_identity_3A"
CHECK_UPSTREAM = "upstream_gates_3A"
CHECK_POLICY_SET = "policy_set_complete_3A"
CHECK_POLICY_SCHEMA = "policy_schema_3A"
CHECK_SEALED_MISSING = "sealed_inputs_present_3A"
CHECK_SEALED_DIGEST = "sealed_inputs_digest_3A"
CHECK_RECEIPT = "gate_receipt_schema_3A"

UPSTREAM_SEGMENTS = ("1A", "1B", "2A")
UPSTREAM_READS = (ds.OUTLET_CATALOGUE, ds.SITE_TIMEZONES)
UPSTREAM_COLUMNS = {ds.OUTLET_CATALOGUE: ds.OUTLET_COLUMNS, ds.SITE_TIMEZONES: ds.SITE_TZ_COLUMNS}
REFERENCE_COLUMNS = {
    ds.REF_ISO: {"country_iso": pl.String},
    ds.REF_ZONE_TAB: {"country_iso": pl.String, "tzid": pl.String, "lat_deg": pl.Float64, "lon_deg": pl.Float64,
                      "row_order": pl.Int32},
    ds.REF_LINKS: {"link_name": pl.String, "target": pl.String},
    ds.REF_CITIES: {"geonameid": pl.Int64, "country_iso": pl.String, "lat_deg": pl.Float64, "lon_deg": pl.Float64,
                    "population": pl.Int64, "tzid": pl.String},
    ds.REF_TZ_WORLD: {"tzid": pl.String, "part_id": pl.Int32, "geometry": pl.Binary},
    ds.REF_COUNTRIES: {"country_iso": pl.String, "rep_lat_deg": pl.Float64, "rep_lon_deg": pl.Float64,
                       "geometry": pl.Binary},
}
RECEIPT_FIELDS = ("segment", "manifest_fingerprint", "parameter_hash", "seed", "registered_utc", "upstream_segments",
                  "config_versions", "policy_digests", "inputs", "upstream_digests", "checks", "passed")
# partition columns the upstream datasets embed: (fingerprint column, seed column)
PARTITION_COLUMNS = {ds.OUTLET_CATALOGUE: ("manifest_fingerprint", "global_seed"),
                     ds.SITE_TIMEZONES: ("manifest_fingerprint", "seed")}


# ---- validations (pure) ---------------------------------------------------------------------------


def contract_problems(frame: pl.DataFrame | None, columns: Mapping[str, pl.DataType]) -> list[str]:
    if frame is None:
        return ["missing"]
    problems = []
    for col, dtype in columns.items():
        if col not in frame.columns:
            problems.append(f"missing column {col}")
        elif frame.schema[col] != dtype:
            problems.append(f"column {col} is {frame.schema[col]}, expected {dtype}")
    return problems


def upstream_problems(inputs: Mapping[str, pl.DataFrame], world) -> list[str]:
    bad = []
    for dataset_id in UPSTREAM_READS:
        frame = inputs.get(dataset_id)
        bad += [f"{dataset_id}: {p}" for p in contract_problems(frame, UPSTREAM_COLUMNS[dataset_id])]
        if frame is None:
            continue
        if frame.height == 0:
            bad.append(f"{dataset_id}: empty")
        mf_col, seed_col = PARTITION_COLUMNS[dataset_id]
        if mf_col in frame.columns and frame.filter(pl.col(mf_col) != world.manifest_fingerprint).height:
            bad.append(f"{dataset_id}: {mf_col} differs from the world")
        if seed_col in frame.columns and frame.filter(pl.col(seed_col) != world.seed).height:
            bad.append(f"{dataset_id}: {seed_col} differs from the world's seed")
    return bad


def reference_problems(inputs: Mapping[str, pl.DataFrame]) -> list[str]:
    bad = []
    for ref_id, columns in REFERENCE_COLUMNS.items():
        frame = inputs.get(ref_id)
        bad += [f"{ref_id}: {p}" for p in contract_problems(frame, columns)]
        if frame is not None and frame.height == 0:
            bad.append(f"{ref_id}: empty")
    return bad


def policy_problems(cfg: Config3A) -> tuple[list[str], list[str]]:
    """(set problems `3A-S0-003`, schema problems `3A-S0-004`) of the loaded policy set."""
    missing = [name for name in POLICY_FILES if getattr(cfg, name, None) is None]
    schema: list[str] = []
    try:
        Config3A.model_validate(cfg.model_dump())
    except Exception as exc:  # noqa: BLE001 - evidence, not control flow
        schema.append(f"invalid: {exc}"[:300])
    for name, version in cfg.versions().items():
        if str(version).strip().lower() in PLACEHOLDER_VERSIONS:
            schema.append(f"{name}: placeholder version {version!r}")
    for o in cfg.zone_floor_policy.overrides:
        if not common.tzid_loads(o.tzid):
            schema.append(f"zone_floor_policy: override tzid {o.tzid!r} does not load")
    return missing, schema


def identity_problems(ctx: StateContext, key: str) -> list[str]:
    recomputed = ctx.exec_settings.get("recomputed_identity")
    if recomputed is None:
        return []
    return [key] if recomputed.get(key) != getattr(ctx.world, key) else []


# ---- run ------------------------------------------------------------------------------------------


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    cfg: Config3A = ctx.config
    w = ctx.world
    checks: dict[str, dict] = {}

    def record(code: str, problems: list[str], **figures) -> None:
        checks[code] = common.jsonable({"passed": not problems, "problems": problems[:20],
                                        "problem_count": len(problems), **figures})

    missing_policies, schema_problems = policy_problems(cfg)
    record(CODE_FINGERPRINT, identity_problems(ctx, "parameter_hash"))
    record(CODE_UPSTREAM_GATE, upstream_problems(inputs, w), segments=list(UPSTREAM_SEGMENTS))
    record(CODE_POLICY_SET_INCOMPLETE, missing_policies, files=list(POLICY_FILES))
    record(CODE_POLICY_SCHEMA_INVALID, schema_problems)
    record(CODE_SEALED_MISSING, reference_problems(inputs) + [
        f"{d}: missing" for d in UPSTREAM_READS if d not in inputs])
    record(CODE_SEALED_DIGEST, identity_problems(ctx, "manifest_fingerprint"))
    oc, st = inputs.get(ds.OUTLET_CATALOGUE), inputs.get(ds.SITE_TIMEZONES)
    upstream_digests = {}
    for dataset_id, frame in ((ds.OUTLET_CATALOGUE, oc), (ds.SITE_TIMEZONES, st)):
        cols = list(UPSTREAM_COLUMNS[dataset_id])
        if frame is not None and not contract_problems(frame, UPSTREAM_COLUMNS[dataset_id]):
            upstream_digests[dataset_id] = {"rows": frame.height,
                                            "content_digest": content_digest(frame, cols, common.SITE_KEY)}
    receipt = common.jsonable({
        "segment": ds.SEGMENT, "manifest_fingerprint": w.manifest_fingerprint, "parameter_hash": w.parameter_hash,
        "seed": w.seed, "registered_utc": w.registered_utc, "upstream_segments": list(UPSTREAM_SEGMENTS),
        "config_versions": cfg.versions(), "policy_digests": common.policy_digests(cfg),
        "inputs": {k: {"rows": inputs[k].height if hasattr(inputs[k], "height") else None}
                   for k in sorted(inputs)},
        "upstream_digests": upstream_digests,
        "checks": checks,
    })
    receipt["passed"] = all(c["passed"] for c in checks.values())
    problems = receipt_problems(receipt, w)
    receipt["checks"][CODE_RECEIPT_INVALID] = {"passed": not problems, "problems": problems,
                                               "problem_count": len(problems)}
    receipt["passed"] = receipt["passed"] and not problems
    report = {"passed": receipt["passed"],
              "failed_codes": sorted(k for k, c in receipt["checks"].items() if not c["passed"]),
              "outlet_catalogue_rows": oc.height if oc is not None else None,
              "site_timezones_rows": st.height if st is not None else None,
              "pairs": oc.select(common.PAIR).unique().height if oc is not None else None,
              **{f"version.{k}": v for k, v in cfg.versions().items()}}
    return StateResult(outputs={ds.S0_GATE: receipt}, report=common.jsonable(report))


def receipt_problems(receipt: Mapping, world) -> list[str]:
    problems = [f"missing field {f}" for f in RECEIPT_FIELDS if f not in receipt and f != "passed"]
    own = {d.id for d in ds.DATASETS}
    sealed_own = sorted(set(receipt.get("inputs") or {}) & own)
    if sealed_own:
        problems.append(f"S0 reads 3A's own outputs {sealed_own}")
    for key in ("manifest_fingerprint", "parameter_hash", "seed", "registered_utc"):
        if key in receipt and receipt[key] != getattr(world, key):
            problems.append(f"{key} differs from the world")
    clock = [k for k in receipt if ("utc" in k or "time" in k or k.endswith("_at")) and k != "registered_utc"]
    if clock:
        problems.append(f"wall-clock fields {clock}")
    return problems


# ---- checks ---------------------------------------------------------------------------------------


def _receipt_check(code: str):
    def check(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
        receipt = result.outputs.get(ds.S0_GATE)
        if not isinstance(receipt, dict) or code not in receipt.get("checks", {}):
            return common.missing_output(code, ds.S0_GATE)
        doc = receipt["checks"][code]
        return common.outcome(code, doc.get("problems", []), 1,
                              **{k: v for k, v in doc.items() if k not in ("problems", "passed")})
    check.__name__ = f"check_{code.replace('-', '_')}"
    return check


check_identity = _receipt_check(CODE_FINGERPRINT)
check_upstream = _receipt_check(CODE_UPSTREAM_GATE)
check_policy_set = _receipt_check(CODE_POLICY_SET_INCOMPLETE)
check_policy_schema = _receipt_check(CODE_POLICY_SCHEMA_INVALID)
check_sealed_missing = _receipt_check(CODE_SEALED_MISSING)
check_sealed_digest = _receipt_check(CODE_SEALED_DIGEST)
check_receipt = _receipt_check(CODE_RECEIPT_INVALID)
