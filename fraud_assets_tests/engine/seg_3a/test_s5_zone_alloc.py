"""3A S5: zone_alloc conserves 1A's outlets per (merchant, country) — a hypothesis law over random worlds —,
monolithic modal zones and tie-breaks, no zero rows, the digest without the hash column, the universe hash."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraud_assets.core.digest import content_digest
from fraud_assets.engine.common import zone_canon
from fraud_assets.engine.seg_3a import catalogue
from fraud_assets.engine.seg_3a import datasets as ds
from fraud_assets.engine.seg_3a import s1_escalation as s1
from fraud_assets.engine.seg_3a import s3_zone_shares as s3
from fraud_assets.engine.seg_3a import s4_zone_counts as s4
from fraud_assets.engine.seg_3a import s5_zone_alloc as s5
from fraud_assets.engine.state import StateResult
from fraud_assets_tests.engine.seg_3a.conftest import (
    make_world,
    run_checks,
    upstream_frames,
    with_config,
)

COUNTRIES = ("US", "DE", "CN", "RU", "BR", "MX", "AU", "FR", "AR", "ID", "KZ", "CA", "AQ", "XK")
FOREIGN = ("Europe/Paris", "Asia/Tokyo", "US/Eastern", "Europe/Kiev", "America/Toronto")


def _alloc(oc, st, priors, universe, links, cfg, world):
    queue, _ = s1.decide(oc, priors, cfg, world)
    queue = ds.conform(s1.common.with_partition(queue, world.manifest_fingerprint, world.seed), ds.S1_ESCALATION)
    shares = s3.compute(queue, priors, universe, st, links, cfg, world).frame
    counts = s4.integerise(shares)
    return queue, counts, *s5.build_zone_alloc(queue, counts, priors, universe, st, links, cfg, world)


@st.composite
def worlds(draw, zones):
    pairs = []
    for m in range(draw(st.integers(1, 12))):
        for c in draw(st.lists(st.sampled_from(COUNTRIES), min_size=1, max_size=3, unique=True)):
            n = draw(st.integers(1, 60))
            options = zones[c] + list(FOREIGN)
            tz = draw(st.lists(st.sampled_from(options), min_size=n, max_size=n))
            pairs.append((m * 1_000_003 + 1, c, [(t, 1) for t in tz]))
    return pairs


@pytest.fixture(scope="module")
def zones(universe) -> dict[str, list[str]]:
    u = universe.filter(pl.col("country_iso").is_in(COUNTRIES))
    return {c: g.get_column("tzid").to_list() for (c,), g in u.group_by(["country_iso"])}


def test_conservation_law_over_random_worlds(priors, universe, links, config, zones):
    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(worlds(zones), st.integers(0, 2**64 - 1))
    def law(pairs, seed):
        world = make_world(seed=seed)
        oc, st_ = upstream_frames(pairs, world)
        _queue, _counts, alloc, doc = _alloc(oc, st_, priors, universe, links, config, world)
        n1a = oc.group_by("merchant_id", "legal_country_iso").len("n")
        got = alloc.group_by("merchant_id", "legal_country_iso").agg(pl.col("zone_site_count").sum().alias("s"))
        j = n1a.join(got, on=["merchant_id", "legal_country_iso"], how="full", coalesce=True)
        assert j.filter(pl.col("s").is_null() | pl.col("n").is_null() | (pl.col("s") != pl.col("n"))).is_empty()
        assert (alloc.get_column("zone_site_count") >= 1).all()
        assert s5.conservation_problems(alloc, oc) == [] and s5.zone_domain_problems(alloc, priors) == []
        assert s5.hash_problems(alloc, doc, priors, config, world) == []

    law()


def test_monolithic_pairs_take_the_modal_site_zone_with_tie_breaks(priors, universe, links):
    canon = zone_canon.ZoneCanon.build(universe, links)
    mono = pl.DataFrame({"merchant_id": [1, 2, 3, 4], "legal_country_iso": ["US", "US", "RU", "MX"]},
                        schema={"merchant_id": pl.Int64, "legal_country_iso": pl.String})
    st_ = pl.DataFrame([
        (1, "US", "America/Denver"), (1, "US", "America/Denver"), (1, "US", "America/Chicago"),  # modal Denver
        (2, "US", "America/Denver"), (2, "US", "America/Chicago"),  # tie → higher share_effective (Chicago)
        (3, "RU", "Asia/Omsk"), (3, "RU", "Asia/Novosibirsk"),  # tie between two RU zones
    ], schema={"merchant_id": pl.Int64, "legal_country_iso": pl.String, "tzid": pl.String}, orient="row")
    out = {(m, c): t for m, c, t in s5.monolithic_zones(mono, st_, canon, priors).rows()}
    assert out[(1, "US")] == "America/Denver" and out[(2, "US")] == "America/Chicago"
    ru = dict(priors.filter(pl.col("country_iso") == "RU").select("tzid", "share_effective").iter_rows())
    assert out[(3, "RU")] == max(["Asia/Omsk", "Asia/Novosibirsk"], key=lambda z: (ru[z], [-ord(ch) for ch in z]))
    assert out[(4, "MX")] == canon.argmax_zone("MX")  # no 2A sites: the country's argmax zone


def test_chain_alloc_covers_every_pair_without_zero_rows(chain):
    data, results, ctx = chain
    alloc = data[ds.ZONE_ALLOC]
    ok = run_checks(catalogue.S5, results["S5"], data, ctx)
    assert all(o.passed for o in ok.values()), {k: o.evidence for k, o in ok.items() if not o.passed}
    mono = alloc.filter(~pl.col("is_escalated"))
    assert mono.get_column("alpha_sum_country").null_count() == mono.height
    assert (mono.get_column("zone_site_count") == mono.get_column("site_count")).all()
    assert alloc.filter(pl.col("merchant_id") == 108).get_column("tzid").to_list() == ["Europe/Oslo"]
    assert alloc.filter(pl.col("merchant_id") == 109).get_column("tzid").to_list() == ["Europe/Kyiv"]
    assert alloc.get_column("routing_universe_hash").n_unique() == 1


def test_digest_excludes_the_hash_column(chain):
    data, results, _ = chain
    alloc = data[ds.ZONE_ALLOC]
    doc = results["S5"].outputs[ds.UNIVERSE_HASH]
    cols = [c for c in alloc.columns if c != "routing_universe_hash"]
    assert doc["zone_alloc_digest"] == content_digest(alloc, cols, ["merchant_id", "legal_country_iso", "tzid"])
    assert s5.zone_alloc_digest(alloc.with_columns(pl.lit("x").alias("routing_universe_hash"))) == \
        doc["zone_alloc_digest"]
    assert doc["routing_universe_hash"] == s5.universe_hash(doc["components"])
    assert set(doc["components"]) == {"priors_digest", "mixture_policy_digest", "prior_policy_digest",
                                      "floor_policy_digest", "zone_alloc_digest"}


def test_universe_hash_changes_with_any_policy_and_with_the_seed(chain, config, priors, universe, links):
    data, results, ctx = chain
    oc, st_ = data[ds.OUTLET_CATALOGUE], data[ds.SITE_TIMEZONES]
    base = results["S5"].outputs[ds.UNIVERSE_HASH]["routing_universe_hash"]
    hashes = {base}
    for cfg in (with_config(config, zone_mixture_policy={"version": "v1.0.1"}),
                with_config(config, zone_prior_policy={"version": "v1.0.1"}),
                with_config(config, zone_floor_policy={"default_floor_alpha": 0.3})):
        hashes.add(_alloc(oc, st_, priors, universe, links, cfg, ctx.world)[3]["routing_universe_hash"])
    seven = make_world(seed=7)
    oc7 = oc.with_columns(pl.lit(7, dtype=pl.UInt64).alias("global_seed"))
    hashes.add(_alloc(oc7, st_, priors, universe, links, config, seven)[3]["routing_universe_hash"])
    assert len(hashes) == 5


def test_checks_each_catch_their_fault(chain):
    data, results, ctx = chain
    alloc = data[ds.ZONE_ALLOC]
    doc = results["S5"].outputs[ds.UNIVERSE_HASH]

    def check(code: str, frame=alloc, document=doc):
        r = StateResult(outputs={ds.ZONE_ALLOC: frame, ds.UNIVERSE_HASH: document})
        return run_checks(catalogue.S5, r, data, ctx)[code]

    fr = pl.col("legal_country_iso") == "FR"
    assert check("3A-S5-001", frame=alloc.filter(~fr)).evidence["first_keys"] == ["missing|9223372036854775807|FR"]
    assert not check("3A-S5-002", frame=alloc.filter(~fr)).passed
    moved = alloc.with_columns(pl.when(fr).then(pl.lit("Europe/Berlin")).otherwise(pl.col("tzid")).alias("tzid"))
    assert not check("3A-S5-003", frame=moved).passed
    assert not check("3A-S5-004", frame=moved).passed and not check("3A-S5-005", frame=moved).passed
    assert not check("3A-S5-005", document={**doc, "routing_universe_hash": "0" * 64}).passed
    zero = alloc.with_columns(pl.when(fr).then(0).otherwise(pl.col("zone_site_count")).cast(pl.Int32)
                              .alias("zone_site_count"))
    assert not check("3A-S5-006", frame=zero).passed
