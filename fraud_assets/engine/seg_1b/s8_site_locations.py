"""1B S8 — egress `site_locations` (spec/engine/1B.md, section "S8"). No RNG.

S7 projected to the site key and the point: `merchant_id: i64, legal_country_iso: str,
site_order: i32, lat_deg: f64, lon_deg: f64`, PK and sort by the site key (INTEGRATION
B.1). Order-free: no inter-country order is implied (join 1A `s3_candidate_set` when
needed). Rows = `outlet_catalogue` rows; the parity law is checked here (`1B-S9-901`)
and again by S9.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from fraud_assets.engine.seg_1b import datasets as ds
from fraud_assets.engine.seg_1b.common import key_list, missing_output, outcome
from fraud_assets.engine.state import CheckOutcome, StateContext, StateResult

CODE_PARITY = "1B-S9-901"
CHECK_EGRESS_PARITY = "egress_parity"
KEY = list(ds.SITE_KEY)


def project(synthesis: pl.DataFrame) -> pl.DataFrame:
    return ds.conform(synthesis, ds.SITE_LOCATIONS)


def run(inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> StateResult:
    out = project(inputs[ds.S7_SITE_SYNTHESIS])
    return StateResult(outputs={ds.SITE_LOCATIONS: out}, report={
        "rows": out.height, "merchants": out.get_column("merchant_id").n_unique(),
        "countries": out.get_column("legal_country_iso").n_unique(),
    })


def check_egress_parity(result: StateResult, inputs: Mapping[str, pl.DataFrame], ctx: StateContext) -> CheckOutcome:
    """1B-S9-901 (at S8): site_locations = S7 projected (values equal), keys = outlet_catalogue keys, no null."""
    out = result.outputs.get(ds.SITE_LOCATIONS)
    if out is None:
        return missing_output(CODE_PARITY, ds.SITE_LOCATIONS)
    bad = []
    if not out.equals(project(inputs[ds.S7_SITE_SYNTHESIS])):
        bad.append("site_locations differs from s7_site_synthesis projected")
    oc = inputs[ds.OUTLET_CATALOGUE].select(KEY).sort(KEY)
    if not out.select(KEY).equals(oc):
        missing = oc.join(out.select(KEY), on=KEY, how="anti")
        extra = out.select(KEY).join(oc, on=KEY, how="anti")
        bad += [f"missing {k}" for k in key_list(missing, KEY)] + [f"extra {k}" for k in key_list(extra, KEY)]
        bad.append(f"keys differ from outlet_catalogue ({out.height} vs {oc.height} rows)")
    nulls = out.filter(pl.any_horizontal(pl.all().is_null()))
    bad += [f"null {k}" for k in key_list(nulls, KEY)]
    return outcome(CODE_PARITY, bad, oc.height, rows=out.height)
