"""3B S4 — virtual routing policy and validation contract (spec/engine/3B.md, "S4"; RNG-free).

Writes `virtual_routing_policy_3B.json` (`[manifest_fingerprint, seed]`: the universe hash,
alias codec and decode law, mode semantics, dual-clock semantics, IP geo field bindings,
the consumer RNG families 5B draws and traces, counts) and
`virtual_validation_contract_3B` (`[manifest_fingerprint]`, policy-only: identical for every
seed, so a second seed's publish is `ALREADY_PUBLISHED`). The law is `contract`.

Checks: `3B-S4-001` S1–S3 outputs present and consistent (merchant sets of classification,
catalogue index and alias index; universe hash document complete); `-002` every bound field
exists in the named schema; `-003` the policy's `edge_universe_hash` = S3's; `-004` test_id
unique; `-005` every threshold in its domain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from fraud_assets.engine.seg_3b import alias_pack, common, contract
from fraud_assets.engine.seg_3b import datasets as ds
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_INPUT_CONTRACT = "3B-S4-001"
CODE_FIELD_BINDING = "3B-S4-002"
CODE_UNIVERSE_HASH = "3B-S4-003"
CODE_DUPLICATE_TEST = "3B-S4-004"
CODE_THRESHOLD = "3B-S4-005"

CHECK_INPUT_CONTRACT = "routing_inputs_3B"
CHECK_FIELD_BINDING = "routing_field_bindings_3B"
CHECK_UNIVERSE_HASH = "routing_universe_hash_3B"
CHECK_DUPLICATE_TEST = "contract_test_ids_unique_3B"
CHECK_THRESHOLD = "contract_thresholds_valid_3B"

UNIVERSE_FIELDS = ("manifest_fingerprint", "seed", "parameter_hash", "components", "edge_universe_hash")


def run(inputs: Mapping[str, Any], ctx: StateContext) -> StateResult:
    universe = common.json_input(inputs[ds.EDGE_UNIVERSE_HASH])
    alias_global = alias_pack.global_row(inputs[ds.EDGE_ALIAS_INDEX])
    policy = contract.routing_policy(ctx.config, universe, alias_global, inputs[ds.VIRTUAL_CLASSIFICATION],
                                     ctx.world)
    frame = contract.contract_frame(ctx.config, ctx.world.manifest_fingerprint)
    report = {"edge_universe_hash": policy["edge_universe_hash"], "contract_rows": frame.height,
              "contract_rows_3B_S5": frame.filter(pl.col("stage") == contract.STAGE_S5).height,
              **{f"counts.{k}": v for k, v in policy["counts"].items()}}
    return StateResult(outputs={ds.VIRTUAL_ROUTING_POLICY: policy, ds.VIRTUAL_VALIDATION_CONTRACT: frame},
                       report=common.jsonable(report))


# ---- checks ---------------------------------------------------------------------------------------


def input_problems(inputs: Mapping[str, Any]) -> list[Any]:
    missing = [d for d in (ds.VIRTUAL_CLASSIFICATION, ds.EDGE_CATALOGUE_INDEX, ds.EDGE_ALIAS_INDEX,
                           ds.EDGE_UNIVERSE_HASH) if inputs.get(d) is None]
    if missing:
        return [f"missing {d}" for d in missing]
    bad: list[Any] = []
    virt = set(inputs[ds.VIRTUAL_CLASSIFICATION].filter(pl.col("is_virtual")).get_column("merchant_id").to_list())
    for d in (ds.EDGE_CATALOGUE_INDEX, ds.EDGE_ALIAS_INDEX):
        got = set(inputs[d].filter(pl.col("scope") == ds.SCOPE_MERCHANT).get_column("merchant_id").to_list())
        bad += [f"{d}: {m}" for m in sorted(virt ^ got)[:10]]
    universe = common.json_input(inputs[ds.EDGE_UNIVERSE_HASH])
    bad += [f"universe hash field {f} missing" for f in UNIVERSE_FIELDS if universe.get(f) is None]
    if universe.get("components") and universe["components"].get("edge_alias_blob") \
            != alias_pack.global_row(inputs[ds.EDGE_ALIAS_INDEX]).get("blob_sha256_hex"):
        bad.append("universe hash edge_alias_blob differs from the alias index")
    return bad


def _policy(result: StateResult) -> dict | None:
    v = result.outputs.get(ds.VIRTUAL_ROUTING_POLICY)
    return v if isinstance(v, dict) else None


def _contract(result: StateResult) -> pl.DataFrame | None:
    v = result.outputs.get(ds.VIRTUAL_VALIDATION_CONTRACT)
    return v if isinstance(v, pl.DataFrame) else None


def check_input_contract(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    return common.outcome(CODE_INPUT_CONTRACT, input_problems(inputs), 4)


def check_field_binding(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    policy = _policy(result)
    if policy is None:
        return common.missing_output(CODE_FIELD_BINDING, ds.VIRTUAL_ROUTING_POLICY)
    return common.outcome(CODE_FIELD_BINDING, contract.binding_problems(policy), 6)


def check_universe_hash(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    policy = _policy(result)
    if policy is None:
        return common.missing_output(CODE_UNIVERSE_HASH, ds.VIRTUAL_ROUTING_POLICY)
    s3 = common.json_input(inputs.get(ds.EDGE_UNIVERSE_HASH)).get("edge_universe_hash")
    bad = [] if s3 is not None and policy.get("edge_universe_hash") == s3 else [policy.get("edge_universe_hash")]
    return common.outcome(CODE_UNIVERSE_HASH, bad, 1, s3=s3)


def check_duplicate_test(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    frame = _contract(result)
    if frame is None:
        return common.missing_output(CODE_DUPLICATE_TEST, ds.VIRTUAL_VALIDATION_CONTRACT)
    dup = frame.filter(pl.col("test_id").is_duplicated()).get_column("test_id").unique().sort().to_list()
    return common.outcome(CODE_DUPLICATE_TEST, dup, frame.height)


def check_threshold(result: StateResult, inputs: Mapping[str, Any], ctx: StateContext) -> CheckOutcome:
    frame = _contract(result)
    if frame is None:
        return common.missing_output(CODE_THRESHOLD, ds.VIRTUAL_VALIDATION_CONTRACT)
    return common.outcome(CODE_THRESHOLD, contract.threshold_problems(frame), frame.height)
