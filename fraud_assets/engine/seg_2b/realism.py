"""2B realism metrics and gates (spec/engine/2B.md, "Realism gates"); computed by S7.

Cohorts: `M2` = merchants with ≥ 2 sites; `MG` = merchant-days of merchants with ≥ 2 groups.
Gates 1–15 are evaluated against the `[min, max]` bounds of `validation.gates`; gate 16
(frequency sanity, replay mismatches) is S7's own `-420`/`-410` result; gate 17 (cross-seed CV)
needs several seeds and is left to realism certification. A metric whose cohort is empty is
`null` (not evaluated).

Enforcement (INTEGRATION (e)#24): blocking only for presets in `validation.enforce_presets`
*and* when the audit roster covers `|D| ≥ min_audit_days` with `K ≥ 2`; otherwise every gate
is reported with status `SKIPPED` and the check is a warning.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from fraud_assets.engine.seg_2b.config import Validation

GATE_NUMBERS = {
    "m2_median_top1_share": 1, "m2_median_top1_top2_gap": 2, "m2_median_abs_dev_uniform": 3, "m2_hhi_iqr": 4,
    "sigma_merchant_cv": 5, "median_gamma_std": 6, "mean_gamma": 7, "gamma_clip_rate": 7,
    "mg_median_max_p_group": 8, "mg_p75_max_p_group": 9, "mg_share_max_ge_095": 10, "mg_share_max_ge_090": 10,
    "mg_share_max_le_070": 11, "mg_share_two_groups_ge_005": 12, "mg_median_norm_entropy": 13,
    "log_gamma_lag1_autocorr": 14, "hybrid_edge_share_gap": 15,
}


def _f(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def site_metrics(weights: pl.DataFrame) -> dict[str, float | None]:
    """Gates 1–4 over M2 (merchants with ≥ 2 sites)."""
    m2 = weights.filter(pl.col("n_sites") >= 2)
    if m2.is_empty():
        return dict.fromkeys(("m2_median_top1_share", "m2_median_top1_top2_gap", "m2_median_abs_dev_uniform",
                              "m2_hhi_iqr"))
    per = m2.group_by("merchant_id", maintain_order=True).agg(
        pl.col("p_weight").sort(descending=True).get(0).alias("top1"),
        pl.col("p_weight").sort(descending=True).get(1).alias("top2"),
        (pl.col("p_weight") ** 2).sum().alias("hhi"))
    hhi = per.get_column("hhi")
    dev = (m2.get_column("p_weight") - 1.0 / m2.get_column("n_sites").cast(pl.Float64)).abs()
    return {"m2_median_top1_share": _f(per.get_column("top1").median()),
            "m2_median_top1_top2_gap": _f((per.get_column("top1") - per.get_column("top2")).median()),
            "m2_median_abs_dev_uniform": _f(dev.median()),
            "m2_hhi_iqr": _f(hhi.quantile(0.75, "linear") - hhi.quantile(0.25, "linear"))}


def gamma_metrics(sigma: pl.DataFrame, effects: pl.DataFrame, n_days: int) -> dict[str, float | None]:
    """Gates 5–7 and 14."""
    s = sigma.get_column("sigma_merchant")
    cv = _f(s.std() / s.mean()) if sigma.height >= 2 and s.mean() else None
    std = None
    if n_days >= 2 and effects.height:
        per_series = effects.sort("merchant_id", "group_index", "utc_day").group_by(
            "merchant_id", "group_index", maintain_order=True).agg(pl.col("gamma").std().alias("sd"))
        std = _f(per_series.group_by("merchant_id", maintain_order=True).agg(pl.col("sd").mean())
                 .get_column("sd").median())
    ac = None
    if n_days >= 7 and effects.height:
        e = effects.sort("merchant_id", "group_index", "utc_day").with_columns(
            (pl.col("log_gamma") - pl.col("log_gamma").mean().over("merchant_id", "group_index")).alias("x"))
        e = e.with_columns(pl.col("x").shift(1).over("merchant_id", "group_index").alias("x_prev"))
        num = e.select((pl.col("x") * pl.col("x_prev")).sum()).item()
        den = e.select((pl.col("x") ** 2).sum()).item()
        ac = _f(num / den) if den else None
    return {"sigma_merchant_cv": cv, "median_gamma_std": std,
            "mean_gamma": _f(effects.get_column("gamma").mean()) if effects.height else None,
            "gamma_clip_rate": _f(effects.get_column("clipped").mean()) if effects.height else None,
            "log_gamma_lag1_autocorr": ac}


def group_metrics(group_weights: pl.DataFrame) -> dict[str, float | None]:
    """Gates 8–13 over MG (merchant-days of merchants with ≥ 2 groups)."""
    mg = group_weights.filter(pl.col("n_groups") >= 2)
    keys = ("mg_median_max_p_group", "mg_p75_max_p_group", "mg_share_max_ge_095", "mg_share_max_ge_090",
            "mg_share_max_le_070", "mg_share_two_groups_ge_005", "mg_median_norm_entropy")
    if mg.is_empty():
        return dict.fromkeys(keys)
    p = pl.col("p_group")
    per = mg.group_by("merchant_id", "utc_day", maintain_order=True).agg(
        p.max().alias("top"), (p >= 0.05).sum().alias("big"),
        (-(pl.when(p > 0).then(p * p.log()).otherwise(0.0))).sum().alias("h"), pl.len().alias("k"))
    per = per.with_columns((pl.col("h") / pl.col("k").cast(pl.Float64).log()).alias("hn"))
    top = per.get_column("top")
    return {"mg_median_max_p_group": _f(top.median()), "mg_p75_max_p_group": _f(top.quantile(0.75, "linear")),
            "mg_share_max_ge_095": _f((top >= 0.95).mean()), "mg_share_max_ge_090": _f((top >= 0.90).mean()),
            "mg_share_max_le_070": _f((top <= 0.70).mean()),
            "mg_share_two_groups_ge_005": _f((per.get_column("big") >= 2).mean()),
            "mg_median_norm_entropy": _f(per.get_column("hn").median())}


def hybrid_metrics(edge_sample: pl.DataFrame, plan: pl.DataFrame) -> dict[str, float | None]:
    """Gate 15: pooled realised edge share of HYBRID audit rows minus their mean `edge_share`."""
    hyb = edge_sample.join(plan.select("merchant_id", "virtual_mode", "edge_share"), on="merchant_id").filter(
        pl.col("virtual_mode") == "HYBRID").sort("merchant_id", "utc_day", "k")  # fixed order for the float mean
    if hyb.is_empty():
        return {"hybrid_edge_share_gap": None}
    realised = (hyb.get_column("channel") == "edge").mean()
    return {"hybrid_edge_share_gap": _f(abs(realised - hyb.get_column("edge_share").mean()))}


def single_group_share(group_weights: pl.DataFrame) -> float | None:
    """Reported, never gated: share of merchant-days with one group (spec "Realism gates")."""
    md = group_weights.select("merchant_id", "utc_day", "n_groups").unique()
    return _f((md.get_column("n_groups") == 1).mean()) if md.height else None


def evaluate(metrics: Mapping[str, float | None], v: Validation, *, preset: str, n_days: int,
             k_audit: int) -> dict[str, Any]:
    """Per-gate status against the bounds: PASS/FAIL when enforced, SKIPPED otherwise (with `within`)."""
    enforced_preset = preset in v.enforce_presets
    deep = n_days >= v.min_audit_days and k_audit >= 2
    enforced = enforced_preset and deep
    gates, failed, unevaluated = {}, [], []
    for name, (lo, hi) in sorted(v.gates.items()):
        value = metrics.get(name)
        within = None if value is None else bool((lo is None or value >= lo) and (hi is None or value <= hi))
        if value is None:
            unevaluated.append(name)
        elif not within:
            failed.append(name)
        status = "SKIPPED" if (value is None or not enforced) else ("PASS" if within else "FAIL")
        gates[name] = {"gate": GATE_NUMBERS.get(name), "value": value, "bounds": [lo, hi], "within": within,
                       "status": status}
    return {"enforced": enforced, "enforced_preset": enforced_preset, "precondition_met": deep,
            "precondition": {"n_days": n_days, "min_audit_days": v.min_audit_days, "k_audit": k_audit},
            "gates": gates, "failed_gates": failed, "unevaluated_gates": unevaluated,
            "gates_passed": not failed,
            "status": ("FAIL" if failed else "PASS") if enforced else "SKIPPED"}


def all_metrics(weights: pl.DataFrame, sigma: pl.DataFrame, effects: pl.DataFrame, group_weights: pl.DataFrame,
                edge_sample: pl.DataFrame, plan: pl.DataFrame, n_days: int) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    out.update(site_metrics(weights))
    out.update(gamma_metrics(sigma, effects, n_days))
    out.update(group_metrics(group_weights))
    out.update(hybrid_metrics(edge_sample, plan))
    out["single_group_merchant_day_share"] = single_group_share(group_weights)
    return out


def hhi(p: np.ndarray) -> float:
    return float(np.sum(np.asarray(p) ** 2))
