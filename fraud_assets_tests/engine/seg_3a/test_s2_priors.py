"""3A S2: golden countries from the real reference data, coverage, share sums, floors, reruns, checks."""

from __future__ import annotations

import polars as pl
import pytest

from fraud_assets.core.identity import manifest_fingerprint
from fraud_assets.core.store import parquet_bytes
from fraud_assets.engine.seg_3a import catalogue
from fraud_assets.engine.seg_3a import datasets as ds
from fraud_assets.engine.seg_3a import s2_priors as s2
from fraud_assets_tests.engine.seg_3a.conftest import make_ctx, run_checks, with_config


def _zones(priors: pl.DataFrame, country: str) -> dict[str, float]:
    return dict(priors.filter(pl.col("country_iso") == country).select("tzid", "share_effective").iter_rows())


def test_us_keeps_its_main_zones_in_population_order(priors):
    us = _zones(priors, "US")
    assert 9 <= len(us) <= 12
    top = sorted(us, key=us.get, reverse=True)[:3]
    assert top == ["America/New_York", "America/Chicago", "America/Los_Angeles"]
    assert us["America/New_York"] == pytest.approx(0.36, abs=0.05)
    assert us["America/Chicago"] == pytest.approx(0.24, abs=0.05)
    assert {"America/Denver", "America/Phoenix", "Pacific/Honolulu"} <= set(us)


def test_single_and_two_zone_golden_countries(priors, universe):
    assert _zones(priors, "DE") == {"Europe/Berlin": 1.0}
    cn = _zones(priors, "CN")
    assert set(cn) == {"Asia/Shanghai", "Asia/Urumqi"} and cn["Asia/Shanghai"] > 0.9
    assert universe.filter(pl.col("country_iso") == "XK").select("tzid", "zone_source").rows() == \
        [("Europe/Belgrade", "city_tz")]
    for c in ("BV", "HM"):
        row = priors.filter(pl.col("country_iso") == c)
        assert row.height == 1 and row.item(0, "mass_basis") == "zone_tab_principal"
        assert universe.filter(pl.col("country_iso") == c).item(0, "zone_source") == "polygon"


def test_antarctica_without_cities_uses_area_then_the_principal_zone(refs, priors, config):
    aq = priors.filter(pl.col("country_iso") == "AQ")
    assert set(aq.get_column("mass_basis").to_list()) == {"polygon_area"} and aq.height >= 2
    no_area = with_config(config, zone_prior_policy={"area_fallback": False})
    _, p = s2.build_priors(refs, no_area)
    aq2 = p.filter(pl.col("country_iso") == "AQ")
    first = refs[ds.REF_ZONE_TAB].filter(pl.col("country_iso") == "AQ").sort("row_order").item(0, "tzid")
    assert aq2.select("tzid", "mass_basis", "share_effective").rows() == [(first, "zone_tab_principal", 1.0)]


def test_every_country_covered_and_shares_sum_to_one(refs, priors, universe):
    iso = set(refs[ds.REF_ISO].get_column("country_iso").to_list())
    assert set(priors.get_column("country_iso").to_list()) == iso == set(universe.get_column("country_iso"))
    sums = priors.group_by("country_iso").agg(pl.col("share_effective").sum(), pl.col("prior_share").sum())
    assert (sums.get_column("share_effective") - 1).abs().max() <= 1e-12
    assert (sums.get_column("prior_share") - 1).abs().max() <= 1e-12
    assert universe.height >= 418 and universe.filter(pl.col("zone_source") == "zone_tab").height == 418


def test_multi_zone_structure_matches_the_spec_figures(priors):
    multi = priors.filter(pl.col("zone_count_country") >= 2).group_by("country_iso") \
        .agg(pl.col("share_effective").max().alias("top1"))
    assert {"AR", "AU", "BR", "CA", "CN", "KZ", "MX", "RU", "US", "ES", "PT", "UA"} <= set(multi["country_iso"])
    assert multi.get_column("top1").max() < 0.99
    assert 0.55 <= multi.get_column("top1").median() <= 0.85


def test_temperature_and_floor_are_applied_once(priors, config):
    p = config.zone_prior_policy
    f = priors.with_columns((pl.col("prior_share") * p.prior_concentration).alias("a"),
                            (pl.col("share_merged") ** p.temperature).alias("t"))
    f = f.with_columns((pl.col("t") / pl.col("t").sum().over("country_iso")).alias("pi"))
    assert (f.get_column("pi") - f.get_column("prior_share")).abs().max() < 1e-12
    assert (f.get_column("a") - f.get_column("alpha_raw")).abs().max() < 1e-12
    multi = priors.filter(pl.col("zone_count_country") >= 2)
    expect = multi.select(pl.max_horizontal("alpha_raw", pl.lit(0.25)).alias("e")).get_column("e")
    assert (multi.get_column("alpha_effective") - expect).abs().max() == 0.0
    assert multi.filter(pl.col("floor_applied")).height > 0
    single = priors.filter(pl.col("zone_count_country") == 1)
    assert (single.get_column("alpha_effective") == single.get_column("alpha_raw")).all()
    assert not single.get_column("floor_applied").any()


def test_merge_targets_are_material_and_nearest(universe):
    imm = universe.filter(~pl.col("is_material"))
    assert imm.height > 0 and imm.get_column("merged_into_tzid").null_count() == 0
    assert universe.filter(pl.col("is_material")).get_column("merged_into_tzid").null_count() == \
        universe.filter(pl.col("is_material")).height
    sitka = universe.filter((pl.col("country_iso") == "US") & (pl.col("tzid") == "America/Sitka"))
    assert sitka.item(0, "merged_into_tzid") == "America/Anchorage"


def test_rerun_is_byte_identical_and_checks_pass(refs, s2_result, config):
    ctx = make_ctx(config=config)
    inputs = {k: refs[k] for k in catalogue.S2.reads if k in refs}
    again = catalogue.S2.run(inputs, ctx)
    for d in catalogue.S2.writes:
        assert parquet_bytes(again.outputs[d]) == parquet_bytes(s2_result.outputs[d])
    outcomes = run_checks(catalogue.S2, s2_result, inputs, ctx)
    assert all(o.passed for o in outcomes.values()), {k: o.evidence for k, o in outcomes.items() if not o.passed}


def test_changed_reference_bytes_give_a_new_fingerprint_partition():
    digests = {"tzdb_zone_tab": "1" * 64, "cities": "2" * 64}
    a = manifest_fingerprint("p" * 64, digests)
    b = manifest_fingerprint("p" * 64, {**digests, "cities": "3" * 64})
    spec = next(d for d in ds.DATASETS if d.id == ds.S2_PRIORS)
    assert a != b and spec.relative_path(a, 1) != spec.relative_path(b, 1)
    assert spec.relative_path(a, 1) == spec.relative_path(a, 2)  # seed-free


def test_each_check_catches_its_fault(refs, s2_result, config):
    ctx = make_ctx(config=config)
    u, p = s2_result.outputs[ds.S2_UNIVERSE], s2_result.outputs[ds.S2_PRIORS]
    inputs = {k: refs[k] for k in catalogue.S2.reads if k in refs}

    def outcome(code: str, universe=u, priors=p):
        from fraud_assets.engine.state import StateResult

        res = StateResult(outputs={ds.S2_UNIVERSE: universe, ds.S2_PRIORS: priors})
        return run_checks(catalogue.S2, res, inputs, ctx)[code]

    assert not outcome("3A-S2-001", universe=u.filter(pl.col("country_iso") != "FR")).passed
    bad_tz = u.with_columns(pl.when(pl.col("tzid") == "Europe/Paris").then(pl.lit("Europe/Atlantis"))
                            .otherwise(pl.col("tzid")).alias("tzid"))
    assert outcome("3A-S2-002", universe=bad_tz).evidence["first_keys"] == ["FR|Europe/Atlantis"]
    zero = p.with_columns(pl.when(pl.col("country_iso") == "FR").then(0.0).otherwise(pl.col("alpha_effective"))
                          .alias("alpha_effective"))
    assert not outcome("3A-S2-003", priors=zero).passed
    skew = p.with_columns(pl.when(pl.col("country_iso") == "FR").then(0.9).otherwise(pl.col("share_effective"))
                          .alias("share_effective"))
    assert outcome("3A-S2-004", priors=skew).evidence["first_keys"][0].startswith("FR|")
    stray = u.with_columns(pl.when(pl.col("tzid") == "America/Sitka").then(pl.lit("America/Adak"))
                           .otherwise(pl.col("merged_into_tzid")).alias("merged_into_tzid"))
    assert not outcome("3A-S2-005", universe=stray).passed
    assert not outcome("3A-S2-006", priors=p.filter(pl.col("country_iso") != "DE")).passed
