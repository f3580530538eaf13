"""3A S3: the Dirichlet kernel (numba = Python reference, KS against Gamma), the site anchor, order
independence, share sums down to α = 1e-3, fail-closed coverage and the checks."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from fraud_assets.core import rng
from fraud_assets.core.errors import EngineFailure
from fraud_assets.engine.seg_3a import catalogue
from fraud_assets.engine.seg_3a import datasets as ds
from fraud_assets.engine.seg_3a import s3_zone_shares as s3
from fraud_assets.engine.state import RngTally, StateResult
from fraud_assets_tests.engine.seg_3a.conftest import run_checks

ROOT = rng.RngRoot("f" * 64, "a" * 64)


def _kernel(keys: list[str], alphas: list[list[float]], seed: int = 42):
    sa = ROOT.streams(s3.FAMILY_DIRICHLET, keys, seed=seed)
    offsets = np.concatenate([[0], np.cumsum([len(a) for a in alphas])]).astype(np.int64)
    flat = np.array([x for a in alphas for x in a], dtype=np.float64)
    return sa, offsets, s3.dirichlet_nb(sa.k, sa.c_hi, sa.c_lo, offsets, flat)


@pytest.mark.parametrize("seed", [42, 7, 101])
def test_numba_kernel_equals_the_python_reference_bit_for_bit(seed):
    alphas = [[1e-3, 0.01, 0.5, 1.0, 7.0], [20.0], [0.3, 0.3], [1e-3] * 4, [2.5, 0.999, 1.0001]]
    keys = [f"{i}|US" for i in range(len(alphas))]
    sa, offsets, (lng, share, uniforms, blocks) = _kernel(keys, alphas, seed)
    for i, a in enumerate(alphas):
        ref_lng, ref_share, ref_u, ref_b = s3.dirichlet_py(sa.at(i), a)
        sl = slice(offsets[i], offsets[i + 1])
        assert lng[sl].tolist() == ref_lng and share[sl].tolist() == ref_share
        assert (uniforms[i], blocks[i]) == (ref_u, ref_b)


def test_consumption_follows_core_rng_gamma():
    sa, _, (_, _, uniforms, blocks) = _kernel(["1|US"], [[0.5, 3.0]])
    d1 = rng.gamma_py(*sa.at(0), 0, 0, 1.5)  # the boosted draw of α = 0.5 ...
    d2 = rng.gamma_py(*sa.at(0), 0, d1.next_q + 1, 3.0)  # ... one extra block, then α = 3
    assert uniforms[0] == d1.uniforms + 1 + d2.uniforms and blocks[0] == d1.blocks + 1 + d2.blocks
    assert (blocks[0] - 1) % 2 == 0 and uniforms[0] == 3 * (blocks[0] - 1) // 2 + 1


def test_shares_sum_to_one_even_with_floor_alphas():
    alphas = [[1e-3] * 12, [1e-3, 25.0, 1e-3], [0.01, 0.01]]
    _, offsets, (lng, share, _, _) = _kernel([f"{i}|RU" for i in range(3)], alphas)
    for i in range(3):
        s = share[offsets[i]:offsets[i + 1]]
        assert abs(s.sum() - 1.0) <= 1e-12 and (s >= 0).all()
    assert np.isfinite(lng).all() and lng.min() < -700  # log space: no underflow of G itself


def _gamma_p(a: float, x: float) -> float:
    """Regularised lower incomplete gamma P(a, x) (series / continued fraction)."""
    if x <= 0:
        return 0.0
    lead = math.exp(-x + a * math.log(x) - math.lgamma(a))
    if x < a + 1:
        term = total = 1.0 / a
        n = 0
        while abs(term) > abs(total) * 1e-15:
            n += 1
            term *= x / (a + n)
            total += term
        return total * lead
    b, c, d = x + 1 - a, 1e300, 1.0 / (x + 1 - a)
    h = d
    for i in range(1, 500):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1 / d
        h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return 1.0 - lead * h


@pytest.mark.parametrize("alpha", [0.01, 0.5, 1.0, 7.0])
def test_draws_follow_gamma_alpha_ks(alpha):
    n = 3000
    _, _, (lng, _, _, _) = _kernel([f"{i}|KS" for i in range(n)], [[alpha]] * n)
    t = np.sort(lng)
    cdf = np.array([_gamma_p(alpha, math.exp(v)) for v in t])
    i = np.arange(1, n + 1)
    d = max(np.max(i / n - cdf), np.max(cdf - (i - 1) / n))
    assert d < 1.95 / math.sqrt(n), d  # KS at the 0.1 % level


def test_dispersion_normals_numba_equal_python():
    keys = ["101|US", "102|US", "9223372036854775807|FR"]
    sa = ROOT.streams(s3.FAMILY_DISPERSION, keys, seed=42)
    nb = rng.sample_normal(sa)
    for i in range(len(keys)):
        d = rng.normal_py(*sa.at(i), 0, 0)
        assert nb.values[i] == d.value and nb.uniforms[i] == 2 and nb.blocks[i] == 1


def test_site_anchor_maps_merged_link_and_foreign_sites(chain):
    data, results, _ = chain
    us = data[ds.S3_SHARES].filter((pl.col("merchant_id") == 101) & (pl.col("legal_country_iso") == "US"))
    share = dict(us.select("tzid", "site_share").iter_rows())
    assert share["America/New_York"] == pytest.approx((14 + 2 + 1) / 38)  # + US/Eastern (link), Toronto (foreign)
    assert share["America/Los_Angeles"] == pytest.approx(8 / 38)
    assert share["America/Anchorage"] == pytest.approx(1 / 38)  # Sitka merges into the material Alaska zone
    assert share["Pacific/Honolulu"] == 0.0
    assert results["S3"].report["site_tz_foreign"] == 1
    center = us.get_column("center_share") - (0.5 * us.get_column("prior_share") + 0.5 * us.get_column("site_share"))
    assert center.abs().max() < 1e-15
    assert us.get_column("kappa").n_unique() == 1 and 10 < us.item(0, "kappa") < 45


def test_output_does_not_depend_on_row_order(chain, config):
    data, _, ctx = chain
    args = [data[k] for k in (ds.S1_ESCALATION, ds.S2_PRIORS, ds.S2_UNIVERSE, ds.SITE_TIMEZONES, ds.REF_LINKS)]
    a = s3.compute(*args, config, ctx.world)
    shuffled = [f.sample(fraction=1.0, shuffle=True, seed=11) for f in args]
    b = s3.compute(*shuffled, config, ctx.world)
    assert a.frame.equals(b.frame) and a.tallies == b.tallies


def test_anchor_weight_zero_is_a_pure_prior_draw(chain, config):
    from fraud_assets_tests.engine.seg_3a.conftest import with_config

    data, _, ctx = chain
    cfg = with_config(config, zone_mixture_policy={"dispersion": {"site_anchor_weight": 0.0}})
    args = [data[k] for k in (ds.S1_ESCALATION, ds.S2_PRIORS, ds.S2_UNIVERSE, ds.SITE_TIMEZONES, ds.REF_LINKS)]
    f = s3.compute(*args, cfg, ctx.world).frame
    assert (f.get_column("center_share") == f.get_column("prior_share")).all()


def test_missing_2a_sites_fail_closed(chain, config):
    data, _, ctx = chain
    st = data[ds.SITE_TIMEZONES].filter(~((pl.col("merchant_id") == 106) & (pl.col("site_order") == 1)))
    with pytest.raises(EngineFailure) as info:
        s3.compute(data[ds.S1_ESCALATION], data[ds.S2_PRIORS], data[ds.S2_UNIVERSE], st, data[ds.REF_LINKS],
                   config, ctx.world)
    assert info.value.code == "3A-S3-008" and info.value.keys == ["106|RU|20|19"]
    inputs = {k: data[k] for k in catalogue.S3.reads}
    inputs[ds.SITE_TIMEZONES] = st
    out = s3.check_site_tz(StateResult(outputs={ds.S3_SHARES: data[ds.S3_SHARES]}), inputs, ctx)
    assert not out.passed and out.evidence["code"] == "3A-S3-008"


def test_checks_pass_and_each_catches_its_fault(chain):
    data, results, ctx = chain
    res = results["S3"]
    shares = data[ds.S3_SHARES]
    ok = run_checks(catalogue.S3, res, data, ctx)
    assert all(o.passed for o in ok.values()), {k: o.evidence for k, o in ok.items() if not o.passed}

    def check(code: str, frame=shares, tallies=None):
        r = StateResult(outputs={ds.S3_SHARES: frame}, rng=tallies if tallies is not None else res.rng)
        return run_checks(catalogue.S3, r, data, ctx)[code]

    pair = (pl.col("merchant_id") == 106) & (pl.col("legal_country_iso") == "RU")
    assert check("3A-S3-001", frame=shares.filter(~pair)).evidence["first_keys"] == ["missing|106|RU"]
    assert not check("3A-S3-002", frame=shares.filter(~(pair & (pl.col("tzid") == "Europe/Moscow")))).passed
    corrupt = shares.with_columns(pl.when(pair & (pl.col("tzid") == "Europe/Moscow")).then(pl.col("share_drawn") + 1e-6)
                                  .otherwise(pl.col("share_drawn")).alias("share_drawn"))
    assert check("3A-S3-006", frame=corrupt).evidence["first_keys"] == ["106|RU|Europe/Moscow"]
    assert not check("3A-S3-003", frame=corrupt.with_columns(pl.col("share_drawn") * 1.1)).passed
    assert not check("3A-S3-004", frame=shares.with_columns(pl.lit(0.0).alias("alpha"))).passed
    dropped = [t for t in res.rng if t.family != s3.FAMILY_DIRICHLET]
    assert not check("3A-S3-005", tallies=dropped).passed
    assert not check("3A-S3-005", tallies=[*dropped, RngTally(s3.FAMILY_DIRICHLET, 1, 3, 2)]).passed
