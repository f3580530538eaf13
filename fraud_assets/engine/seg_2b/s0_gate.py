"""2B S0 — gate and seal (spec/engine/2B.md, "S0"; no RNG).

The runner does steps 1, 2 and 4's sealing: identity recompute (`E_FINGERPRINT_MISMATCH`),
the 1A, 1B, 2A and 3B `_passed.flag` recomputed (a failure is `E_NO_PASS_NO_READ` naming
the segment, the runner's form of `2B-S0-001`), `sealed_inputs.parquet` and
`s0_gate_receipt.json` (upstream flags). This module validates what the spec gives its own
codes and publishes the facts the spec adds to the receipt (`s0_gate_receipt_2B`:
`day_grid {first, last, n_days}`, `codec`, `registered_utc`, validated policy figures):

* `2B-S0-001 UPSTREAM_GATE_FAILED` — every segment whose datasets a 2B state reads is in
  S0's `upstream` (so the runner's recompute covers every read);
* `2B-S0-003 POLICY_SET_INCOMPLETE` — all four policy files loaded;
* `2B-S0-004 POLICY_SCHEMA_INVALID` — the value laws of `config.validate_values`;
* `2B-S0-005 SEALED_INPUT_MISSING` — every upstream input present and readable (the 3B
  blob header parses, the universe hash is named, the raster keeps its contract);
* `2B-S0-006 HORIZON_INVALID` — horizon starts 00:00Z and `|D| ≥ 1`;
* `2B-S0-007 CODEC_MISMATCH` — `routing.alias_codec` = the installed `core.alias.CODEC`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from fraud_assets.core import alias
from fraud_assets.engine.seg_2b import common
from fraud_assets.engine.seg_2b import datasets as ds
from fraud_assets.engine.seg_2b.config import POLICY_FILES, Config2B, validate_values
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_UPSTREAM_GATE_FAILED = "2B-S0-001"
CODE_POLICY_SET_INCOMPLETE = "2B-S0-003"
CODE_POLICY_SCHEMA_INVALID = "2B-S0-004"
CODE_SEALED_INPUT_MISSING = "2B-S0-005"
CODE_HORIZON_INVALID = "2B-S0-006"
CODE_CODEC_MISMATCH = "2B-S0-007"

CHECK_UPSTREAM = "upstream_gates_2B"
CHECK_POLICY_SET = "policy_set_complete_2B"
CHECK_POLICY_SCHEMA = "policy_schema_valid_2B"
CHECK_SEALED = "sealed_inputs_present_2B"
CHECK_HORIZON = "horizon_valid_2B"
CHECK_CODEC = "codec_match_2B"

UPSTREAM = ("1A", "1B", "2A", "3B")
REQUIRED_NON_EMPTY = (ds.MERCHANT_IDS, ds.SITE_LOCATIONS, ds.SITE_TIMEZONES, ds.VIRTUAL_CLASSIFICATION)


# ---- validations (pure) ---------------------------------------------------------------------------


def validate_upstream(upstream: tuple[str, ...]) -> list[str]:
    """Every segment owning a dataset a 2B state reads must be gated by S0."""
    from fraud_assets.engine import catalogue as engine_catalogue
    from fraud_assets.engine.seg_2b.catalogue import STATES  # the catalogue imports this module

    own = {d.id for d in ds.DATASETS}
    owners: set[str] = set()
    unknown: list[str] = []
    for spec in STATES:
        for read in spec.reads:
            if read.startswith("ref.") or read in own or read == ds.RNG_TRACE:
                continue
            if read in engine_catalogue.dictionary():
                owners.add(engine_catalogue.owner(read))
            else:
                unknown.append(read)
    problems = [f"segment {s} is read but not gated by S0" for s in sorted(owners - set(upstream))]
    if unknown:
        problems.append(f"reads of datasets no implemented segment declares: {sorted(set(unknown))}")
    return problems


def validate_policy_set(cfg: Any) -> list[str]:
    missing = [name for name in POLICY_FILES if getattr(cfg, name, None) is None]
    return [f"policy file {name}.yaml missing" for name in missing]


def validate_schema(cfg: Config2B) -> list[str]:
    try:
        Config2B.model_validate(cfg.model_dump())
    except Exception as exc:  # noqa: BLE001 - any model error is a schema failure
        return [f"{type(exc).__name__}: {exc}"[:300]]
    return validate_values(cfg)


def validate_horizon(preset) -> list[str]:  # noqa: ANN001 - WorldPreset
    start = preset.horizon_start_utc
    problems = []
    if start.tzinfo is None or start.utcoffset().total_seconds() != 0 \
            or (start.hour, start.minute, start.second, start.microsecond) != (0, 0, 0, 0):
        problems.append(f"horizon_start_utc {start.isoformat()} is not a UTC midnight")
    if int(preset.horizon_days) < 1:
        problems.append(f"horizon_days={preset.horizon_days} leaves an empty day grid")
    return problems


def validate_codec(codec: str) -> list[str]:
    return [] if codec == alias.CODEC else [f"routing.alias_codec {codec!r} != installed codec {alias.CODEC!r}"]


def validate_inputs(inputs: Mapping[str, Any]) -> tuple[list[str], dict[str, Any]]:
    problems: list[str] = []
    figures: dict[str, Any] = {}
    for dataset_id in REQUIRED_NON_EMPTY:
        frame = inputs.get(dataset_id)
        if not isinstance(frame, pl.DataFrame):
            problems.append(f"{dataset_id} missing")
            continue
        figures[dataset_id] = frame.height
        if frame.is_empty():
            problems.append(f"{dataset_id} is empty")
    for dataset_id in (ds.EDGE_CATALOGUE, ds.EDGE_ALIAS_INDEX):
        frame = inputs.get(dataset_id)
        if not isinstance(frame, pl.DataFrame):
            problems.append(f"{dataset_id} missing")
        else:
            figures[dataset_id] = frame.height
    try:
        header = alias.read_header(common.blob_bytes(inputs.get(ds.EDGE_ALIAS_BLOB), ds.EDGE_ALIAS_BLOB))
        figures[ds.EDGE_ALIAS_BLOB] = {"table_count": header.table_count,
                                       "entry_count_total": header.entry_count_total,
                                       "prob_qbits": header.prob_qbits}
    except Exception as exc:  # noqa: BLE001
        problems.append(f"{ds.EDGE_ALIAS_BLOB} unreadable: {exc}"[:300])
    uh = common.json_input(inputs.get(ds.EDGE_UNIVERSE_HASH))
    if not isinstance(uh.get("edge_universe_hash"), str):
        problems.append(f"{ds.EDGE_UNIVERSE_HASH} names no edge_universe_hash")
    raster = inputs.get(ds.REF_POPULATION_RASTER)
    try:
        meta = raster.meta()  # type: ignore[union-attr]
        figures["population_raster"] = {"height": meta.height, "width": meta.width, "dtype": str(meta.dtype)}
        expected = (1.0 / 20, 0.0, -180.0, 0.0, -1.0 / 20, 90.0)
        if (meta.height, meta.width) != (3600, 7200) or any(
                abs(a - b) > 1e-12 for a, b in zip(meta.transform, expected, strict=True)):
            problems.append(f"population_raster breaks its contract: {(meta.height, meta.width)}, "
                            f"{tuple(meta.transform)}")
    except Exception as exc:  # noqa: BLE001
        problems.append(f"population_raster unreadable: {exc}"[:300])
    return problems, figures


# ---- run ------------------------------------------------------------------------------------------


def run(inputs: Mapping[str, Any], ctx: StateContext) -> StateResult:
    cfg: Config2B = ctx.config
    w = ctx.world
    checks: dict[str, dict] = {}

    def record(code: str, problems: list[str], **figures: Any) -> None:
        checks[code] = common.jsonable({"passed": not problems, "problems": problems[:20],
                                        "problem_count": len(problems), **figures})

    from fraud_assets.engine.seg_2b.catalogue import S0 as SPEC  # noqa: N811

    record(CODE_UPSTREAM_GATE_FAILED, validate_upstream(SPEC.upstream), upstream=list(SPEC.upstream))
    record(CODE_POLICY_SET_INCOMPLETE, validate_policy_set(cfg), files=list(POLICY_FILES))
    record(CODE_POLICY_SCHEMA_INVALID, validate_schema(cfg))
    input_problems, figures = validate_inputs(inputs)
    record(CODE_SEALED_INPUT_MISSING, input_problems, inputs=figures)
    days = common.day_grid(w.preset)
    record(CODE_HORIZON_INVALID, validate_horizon(w.preset), day_grid=common.day_grid_doc(days))
    record(CODE_CODEC_MISMATCH, validate_codec(cfg.routing.alias_codec), installed=alias.CODEC,
           configured=cfg.routing.alias_codec)
    receipt = common.jsonable({
        "segment": ds.SEGMENT, "manifest_fingerprint": w.manifest_fingerprint, "parameter_hash": w.parameter_hash,
        "seed": w.seed, "preset": w.preset.name, "registered_utc": w.registered_utc,
        "upstream_segments": list(UPSTREAM),
        "day_grid": common.day_grid_doc(days),
        "codec": {"id": alias.CODEC, "layout_version": alias.LAYOUT_VERSION, "prob_qbits": alias.PROB_QBITS,
                  "alignment": alias.ALIGNMENT},
        "policy": {"weight_profile": cfg.site_weights.weight_profile, "uniform_mix": cfg.site_weights.uniform_mix,
                   "ar1_phi": cfg.day_effects.ar1_phi, "audit_max_rows": cfg.routing.audit.max_rows},
        "checks": checks,
        "passed": all(c["passed"] for c in checks.values()),
    })
    report = {"passed": receipt["passed"], "failed_codes": sorted(k for k, c in checks.items() if not c["passed"]),
              "day_grid": receipt["day_grid"], "inputs": figures}
    return StateResult(outputs={ds.S0_RECEIPT: receipt}, report=common.jsonable(report))


# ---- checks ---------------------------------------------------------------------------------------


def _receipt_check(code: str):  # noqa: ANN202
    def check(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
        receipt = common.json_input(result.outputs.get(ds.S0_RECEIPT))
        if code not in receipt.get("checks", {}):
            return common.missing_output(code, ds.S0_RECEIPT)
        doc = receipt["checks"][code]
        return common.outcome(code, doc.get("problems", []), 1,
                              **{k: v for k, v in doc.items() if k not in ("problems", "passed")})
    check.__name__ = f"check_{code.replace('-', '_')}"
    return check


check_upstream = _receipt_check(CODE_UPSTREAM_GATE_FAILED)
check_policy_set = _receipt_check(CODE_POLICY_SET_INCOMPLETE)
check_policy_schema = _receipt_check(CODE_POLICY_SCHEMA_INVALID)
check_sealed = _receipt_check(CODE_SEALED_INPUT_MISSING)
check_horizon = _receipt_check(CODE_HORIZON_INVALID)
check_codec = _receipt_check(CODE_CODEC_MISMATCH)
