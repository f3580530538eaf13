"""1A config: strict models, verbatim values, identity coupling (S0.1)."""

import shutil

import pytest

from fraud_assets.core.errors import EngineFailure
from fraud_assets.core.identity import parameter_hash
from fraud_assets.engine.seg_1a import s0_foundations as s0
from fraud_assets.engine.seg_1a.config import load_config
from fraud_assets.engine.state import StateResult

from .conftest import CONFIG_DIR, REPO, make_ctx, make_world


def test_config_loads_with_the_spec_values(config):
    assert config.merchant_universe.by_preset["small"].n_countries == 60
    assert config.hurdle.gdp_bucket[5] == 0.40
    assert config.nb.dispersion.ln_gdp_pc_center == 9.2103404
    assert config.crossborder.candidates.tiers[-1].cap == 20
    assert config.currency.blend("USD") == 0.25 and config.currency.blend("JPY") == 0.15
    assert config.allocation.home_tier(10).floor == 0.85 and config.allocation.home_tier(41).mean == 0.74
    assert config.validation.realism.gates["spearman_c_r"] == (0.30, None)


def test_unknown_key_is_rejected_with_1A_S0_001(tmp_path):
    folder = tmp_path / "1A"
    shutil.copytree(CONFIG_DIR, folder)
    (folder / "hurdle.yaml").write_text((folder / "hurdle.yaml").read_text() + "gdp_slope: 0.1\n")
    with pytest.raises(EngineFailure) as err:
        load_config(folder)
    assert err.value.code == "1A-S0-001"
    assert any("gdp_slope" in k for k in err.value.keys)


def test_nb_mean_cannot_take_a_gdp_term(tmp_path):
    folder = tmp_path / "1A"
    shutil.copytree(CONFIG_DIR, folder)
    text = (folder / "nb.yaml").read_text().replace("  intercept: 1.97\n", "  intercept: 1.97\n  ln_gdp_pc_slope: 0.1\n")
    (folder / "nb.yaml").write_text(text)
    with pytest.raises(EngineFailure, match="1A-S0-001"):
        load_config(folder)


def test_one_byte_change_gives_new_parameter_hash_and_fingerprint_mismatch(tmp_path, config):
    root = tmp_path / "config"
    shutil.copytree(REPO / "config" / "engine" / "1A", root / "engine" / "1A")
    (root / "worlds").mkdir()
    (root / "worlds" / "tiny.yaml").write_text("merchants: 50\n")
    before = parameter_hash(root, "tiny")
    path = root / "engine" / "1A" / "hurdle.yaml"
    path.write_text(path.read_text().replace("intercept: 0.35", "intercept: 0.36"))
    after = parameter_hash(root, "tiny")
    assert before != after
    old_world = make_world(parameter_hash=before)
    ctx = make_ctx(old_world, config, recomputed_identity={"parameter_hash": after,
                                                           "manifest_fingerprint": old_world.manifest_fingerprint})
    out = s0.check_world_identity(StateResult(outputs={}), {}, ctx)
    assert not out.passed and out.evidence["code"] == "E_FINGERPRINT_MISMATCH"
    assert out.evidence["first_keys"] == ["parameter_hash"]
    same = make_ctx(old_world, config, recomputed_identity={"parameter_hash": before,
                                                            "manifest_fingerprint": old_world.manifest_fingerprint})
    assert s0.check_world_identity(StateResult(outputs={}), {}, same).passed


def test_config_valid_check_flags_an_unknown_preset(config):
    ctx = make_ctx(make_world("huge", merchants=5), config)
    out = s0.check_config_valid(StateResult(outputs={}), {}, ctx)
    assert not out.passed and out.evidence["code"] == "1A-S0-001"
