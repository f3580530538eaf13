"""1B laws: conservation against 1A's counts (hypothesis), input row order and seeds, seed-free datasets,
byte-identical replays of the literal chain."""

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraud_assets.core.store import parquet_bytes
from fraud_assets.engine.seg_1b import catalogue
from fraud_assets.engine.seg_1b import datasets as ds

from .conftest import failed_checks, literal_inputs, make_ctx, make_world, outlet_catalogue, run_chain

ENGINE = [d.id for d in catalogue.DATASETS]
SEED_FREE = [d.id for d in catalogue.DATASETS if d.scope.value == "F"]
PLACEABLE = ["AA", "FJ", "KI", "LS", "NA", "RU", "ZA"]
DOWNSTREAM = [s for s in catalogue.STATES if s.state in ("S3", "S4", "S5", "S6", "S7", "S8")]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.tuples(st.integers(1, 10**12), st.sampled_from(PLACEABLE)), st.integers(1, 60),
                       min_size=1, max_size=12),
       st.integers(0, 2**64 - 1))
def test_sites_conserve_1a_counts_exactly(literal_chain, counts, seed):
    data, _, _ = literal_chain
    ctx = make_ctx(make_world("tiny", seed))
    outlets = [(m, c, n) for (m, c), n in sorted(counts.items())]
    d = {**data, ds.OUTLET_CATALOGUE: outlet_catalogue(outlets, seed=seed)}
    for spec in DOWNSTREAM:
        res = spec.run({k: d[k] for k in spec.reads}, ctx)
        assert failed_checks(spec, res, {**d, **res.outputs}, ctx) == {}, spec.state
        d.update(res.outputs)
    got = d[ds.SITE_LOCATIONS].group_by("merchant_id", "legal_country_iso").len().sort("merchant_id",
                                                                                        "legal_country_iso")
    assert [(m, c, n) for m, c, n in got.iter_rows()] == outlets
    assert d[ds.SITE_LOCATIONS].null_count().sum_horizontal().item() == 0


def test_shuffled_inputs_give_identical_outputs(literal_chain):
    data, results, ctx = literal_chain
    inputs = literal_inputs()
    shuffled = {k: (v.sample(fraction=1.0, shuffle=True, seed=i) if isinstance(v, pl.DataFrame) else v)
                for i, (k, v) in enumerate(sorted(inputs.items()))}
    again, again_results = run_chain(shuffled, ctx)
    for ds_id in ENGINE:
        assert parquet_bytes(data[ds_id]) == parquet_bytes(again[ds_id]), ds_id
    assert again_results["S9"].bundle == results["S9"].bundle
    assert again_results["S9"].plots == results["S9"].plots


def test_seed_free_datasets_equal_across_seeds_and_seeded_ones_differ(literal_chain):
    data, _, _ = literal_chain
    other, _ = run_chain(literal_inputs(seed=7), make_ctx(make_world("tiny", 7)), upto="S8")
    for ds_id in SEED_FREE:
        assert parquet_bytes(data[ds_id]) == parquet_bytes(other[ds_id]), ds_id
    assert data[ds.S3_REQUIREMENTS].equals(other[ds.S3_REQUIREMENTS])
    assert not data[ds.SITE_LOCATIONS].equals(other[ds.SITE_LOCATIONS])


def test_rng_depends_on_the_world_not_on_the_run(literal_chain):
    data, results, ctx = literal_chain
    again, again_results = run_chain(literal_inputs(), ctx, upto="S8")
    assert [r.rng for r in results.values()][:9] == [r.rng for r in again_results.values()]
    other_fp, _ = run_chain(literal_inputs(), make_ctx(make_world("tiny", 42, fingerprint="e" * 64)), upto="S8")
    assert not data[ds.SITE_LOCATIONS].equals(other_fp[ds.SITE_LOCATIONS])
