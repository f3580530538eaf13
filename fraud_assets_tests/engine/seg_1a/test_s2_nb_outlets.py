"""1A S2 NB2 outlet counts: kernel = reference, the truncated-NB2 law, exhaustion, corridor, checks."""

import math

import numpy as np
import polars as pl
import pytest

from fraud_assets.core.errors import EngineFailure
from fraud_assets.core.rng import RngRoot
from fraud_assets.engine.seg_1a import datasets as ds
from fraud_assets.engine.seg_1a import s2_nb_outlets as s2
from fraud_assets.engine.seg_1a import s9_validation as s9
from fraud_assets.engine.seg_1a.catalogue import S2
from fraud_assets.engine.state import StateResult

from .conftest import make_ctx, make_world, with_config

ROOT = RngRoot("f" * 64, "a" * 64)


def _inputs(chain):
    data, _, _ = chain
    return {k: data[k] for k in S2.reads}


def test_kernel_equals_python_reference_bit_for_bit():
    mu = np.array([0.3, 1.5, 8.0, 9.0, 25.0, 60.0, 150.0, 2.0])
    phi = np.array([0.4, 0.9, 8.0, 3.0, 12.0, 5.0, 20.0, 0.05])
    ids = np.arange(1, mu.size + 1, dtype=np.int64) * 7919
    fast = s2.sample(ids, mu, phi, ROOT, 42, 64)
    slow = s2.sample(ids, mu, phi, ROOT, 42, 64, reference=True)
    np.testing.assert_array_equal(fast, slow)
    assert (fast[:, 0] >= 2).all()
    assert (fast[:, 2] >= 3 * (fast[:, 1] + 1)).all()  # ≥ 3 uniforms per gamma attempt


def test_golden_values_pin_the_stream_layout():
    res = s2.sample(np.array([1, 2, 3], dtype=np.int64), np.full(3, 9.0), np.full(3, 8.0), ROOT, 42, 64)
    assert res.tolist() == GOLDEN


# (N, rejections, gamma uniforms, gamma blocks, poisson uniforms, poisson blocks) for merchant ids 1..3
# under fingerprint "f"*64, parameter_hash "a"*64, seed 42, μ = 9, φ = 8: moves only if the stream layout does.
GOLDEN = [[13, 0, 3, 2, 1, 1], [11, 0, 3, 2, 4, 2], [3, 0, 3, 2, 1, 1]]


def _nb2_pmf(k: np.ndarray, mu: float, phi: float) -> np.ndarray:
    logp = (np.array([math.lgamma(x + phi) - math.lgamma(phi) - math.lgamma(x + 1) for x in k])
            + phi * math.log(phi / (phi + mu)) + k * math.log(mu / (phi + mu)))
    return np.exp(logp)


def _chi2_sf(x: float, df: int) -> float:
    """Wilson–Hilferty approximation of the chi-square upper tail (fine for df ≥ 5)."""
    z = ((x / df) ** (1 / 3) - (1 - 2 / (9 * df))) / math.sqrt(2 / (9 * df))
    return 0.5 * math.erfc(z / math.sqrt(2))


@pytest.mark.parametrize(("mu", "phi"), [(9.0, 8.0), (3.0, 0.8), (40.0, 12.0)])
def test_1e5_draws_match_the_truncated_nb2_pmf(mu, phi):
    n = 100_000
    ids = np.arange(1, n + 1, dtype=np.int64)
    res = s2.sample(ids, np.full(n, mu), np.full(n, phi), ROOT, 11, 64)
    k = res[:, 0]
    assert k.min() >= 2
    support = np.arange(2, int(k.max()) + 1)
    pmf = _nb2_pmf(support, mu, phi)
    p01 = _nb2_pmf(np.array([0, 1]), mu, phi).sum()
    expected = n * pmf / (1.0 - p01)
    observed = np.bincount(k, minlength=int(k.max()) + 1)[2:]
    # merge the tail into bins with expected ≥ 5
    obs_b, exp_b, o_acc, e_acc = [], [], 0.0, 0.0
    for o, e in zip(observed, expected, strict=True):
        o_acc += o
        e_acc += e
        if e_acc >= 5:
            obs_b.append(o_acc)
            exp_b.append(e_acc)
            o_acc = e_acc = 0.0
    obs_b[-1] += o_acc
    exp_b[-1] += n - sum(exp_b)  # the unmerged rest and the tail beyond the observed max
    stat = sum((o - e) ** 2 / e for o, e in zip(obs_b, exp_b, strict=True))
    assert _chi2_sf(stat, len(obs_b) - 1) >= 0.01, (stat, len(obs_b))
    # rejections happen exactly when the untruncated draw is 0 or 1
    r = res[:, 1]
    assert abs(r.sum() / (r + 1).sum() - p01) < 0.01


def test_run_outputs_one_row_per_multi_site_merchant(small_chain):
    data, results, ctx = small_chain
    nb = results["S2"].outputs["nb_outlet_draws"]
    multi = data["hurdle_decisions"].filter(pl.col("is_multi")).get_column("merchant_id")
    assert nb.get_column("merchant_id").to_list() == multi.sort().to_list()
    assert nb.schema == pl.Schema(ds.SCHEMAS["nb_outlet_draws"])
    assert nb.get_column("n_outlets").min() >= 2
    g, p = results["S2"].rng
    assert g.draws == nb.get_column("gamma_draws").sum() and p.draws == nb.get_column("poisson_draws").sum()
    for chk in S2.checks:
        assert chk.fn(results["S2"], _inputs(small_chain), ctx).passed


def test_mu_has_no_gdp_term_and_phi_uses_ln_gdp(config):
    hd = pl.DataFrame({"merchant_id": [1, 2], "eta": [0.0, 0.0], "pi": [0.5, 0.5], "u": [0.1, 0.1],
                       "is_multi": [True, True], "deterministic": [False, False]}, schema=ds.SCHEMAS["hurdle_decisions"])
    feats = pl.DataFrame({"merchant_id": [1, 2], "mcc": [100, 100], "channel_sym": ["CP", "CP"],
                          "home_country_iso": ["IN", "US"], "gdp_pc_usd": [1_000.0, 100_000.0],
                          "ln_gdp_pc": [math.log(1_000.0), math.log(100_000.0)], "gdp_bucket": [1, 5],
                          "openness": [0.1, 0.1], "is_eligible": [True, True], "eligibility_rule": ["d", "d"]},
                         schema=ds.SCHEMAS["merchant_features"])
    coefs = pl.DataFrame({"mcc": [100], "beta_hurdle_mcc": [0.0], "beta_mu_mcc": [0.0], "beta_phi_mcc": [0.0]},
                         schema=ds.SCHEMAS["model_coefficients"])
    out = s2.add_mu_phi(hd, feats, coefs, config.nb)
    m, d = config.nb.mean, config.nb.dispersion
    assert out.get_column("mu").to_list() == [math.exp(math.fsum((m.intercept, m.channel.CP, 0.0)))] * 2
    phi = out.get_column("phi").to_list()
    assert phi[0] < phi[1]
    assert phi[1] == math.exp(math.fsum((d.intercept, 0.0, d.ln_gdp_pc_slope * (math.log(1e5) - d.ln_gdp_pc_center), 0.0)))


def test_tiny_mu_exhausts_with_1A_S2_002(small_chain, config):
    cfg = with_config(config, nb={"mean": {"intercept": -7.0}})
    with pytest.raises(EngineFailure) as err:
        s2.run(_inputs(small_chain), make_ctx(make_world("small", 7), cfg))
    assert err.value.code == "1A-S2-002" and err.value.keys


def test_non_finite_mu_raises_1A_S2_001(small_chain, config):
    cfg = with_config(config, nb={"mean": {"intercept": 800.0}})
    with pytest.raises(EngineFailure, match="1A-S2-001"):
        s2.run(_inputs(small_chain), make_ctx(make_world("small", 7), cfg))


def test_low_mu_trips_the_corridor_1A_S2_003(small_chain, config):
    cfg = with_config(config, nb={"mean": {"intercept": 0.2}})
    res = s2.run(_inputs(small_chain), make_ctx(make_world("small", 7), cfg))
    doc = s9.nb_corridor(res.outputs["nb_outlet_draws"], cfg)
    assert not doc["passed"] and doc["code"] == "1A-S2-003" and doc["rejection_rate"] > 0.06


def test_checks_catch_tampered_rows_1A_S2_001_002(small_chain):
    _, results, ctx = small_chain
    nb = results["S2"].outputs["nb_outlet_draws"]
    first = nb.get_column("merchant_id")[0]
    row = pl.col("merchant_id") == first
    bad_mu = nb.with_columns(pl.when(row).then(-1.0).otherwise(pl.col("mu")).alias("mu"))
    out = s2.check_nb_numeric(StateResult(outputs={"nb_outlet_draws": bad_mu}), {}, ctx)
    assert not out.passed and out.evidence["code"] == "1A-S2-001" and out.evidence["first_keys"] == [first]
    bad_n = nb.with_columns(pl.when(row).then(1).otherwise(pl.col("n_outlets")).cast(pl.Int32).alias("n_outlets"))
    out = s2.check_nb_exhausted(StateResult(outputs={"nb_outlet_draws": bad_n}), {}, ctx)
    assert not out.passed and out.evidence["code"] == "1A-S2-002" and out.evidence["first_keys"] == [first]
