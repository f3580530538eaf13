"""3A policies: the shipped files load; a missing file is 3A-S0-003, anything invalid 3A-S0-004."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from fraud_assets.core.errors import EngineFailure
from fraud_assets.engine.seg_3a.config import POLICY_FILES, Config3A, load_config
from fraud_assets_tests.engine.seg_3a.conftest import CONFIG_DIR, with_config


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "3A"
    shutil.copytree(CONFIG_DIR, folder)
    return folder


def _edit(folder: Path, name: str, fn) -> None:
    path = folder / f"{name}.yaml"
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data))


def test_shipped_policies_load_with_the_spec_defaults(config):
    assert set(config.versions()) == set(POLICY_FILES)
    esc = config.zone_mixture_policy.escalation
    assert (esc.min_sites, esc.force_escalation_sites, esc.min_expected_secondary_sites) == (2, 35, 0.5)
    assert (esc.logistic.beta0, esc.logistic.beta_log_sites, esc.logistic.beta_log_effective_zones) == (-1.0, 0.9, 0.8)
    d = config.zone_mixture_policy.dispersion
    assert (d.concentration_scale, d.kappa_log_sigma, d.alpha_floor, d.site_anchor_weight) == (1.0, 0.35, 0.001, 0.5)
    p = config.zone_prior_policy
    assert (p.min_zone_mass_share, p.temperature, p.prior_concentration) == (0.001, 0.8, 20.0)
    assert config.zone_floor_policy.default_floor_alpha == 0.25 and config.zone_floor_policy.overrides == []
    assert config.validation_policy.enforcement == "enforce" and config.validation_policy.min_escalated_pairs == 200


def test_a_missing_policy_file_is_policy_set_incomplete(tmp_path):
    folder = _copy(tmp_path)
    (folder / "zone_floor_policy.yaml").unlink()
    with pytest.raises(EngineFailure) as info:
        load_config(folder)
    assert info.value.code == "3A-S0-003" and "zone_floor_policy" in info.value.keys


@pytest.mark.parametrize("name, change", [
    ("zone_mixture_policy", lambda d: d.update(unknown_key=1)),
    ("zone_prior_policy", lambda d: d.update(temperature=1.5)),
    ("zone_mixture_policy", lambda d: d["dispersion"].update(alpha_floor=0.5)),
    ("zone_mixture_policy", lambda d: d["escalation"]["logistic"].update(beta_log_sites=-0.1)),
    ("zone_floor_policy", lambda d: d.update(version="tbd")),
    ("zone_floor_policy", lambda d: d.update(overrides=[{"tzid": "Mars/Olympus_Mons", "floor_alpha": 0.5}])),
    ("validation_policy", lambda d: d["gates"].update(V99_made_up=[0, 1])),
    ("validation_policy", lambda d: d.update(enforcement="sometimes")),
])
def test_an_invalid_policy_is_policy_schema_invalid(tmp_path, name, change):
    folder = _copy(tmp_path)
    _edit(folder, name, change)
    with pytest.raises(EngineFailure) as info:
        load_config(folder)
    assert info.value.code == "3A-S0-004"


def test_an_extra_yaml_in_the_folder_is_rejected(tmp_path):
    folder = _copy(tmp_path)
    (folder / "surprise.yaml").write_text("version: v1\n")
    with pytest.raises(EngineFailure) as info:
        load_config(folder)
    assert info.value.code == "3A-S0-004"


def test_floor_overrides_and_policy_digests(config):
    cfg = with_config(config, zone_floor_policy={"overrides": [{"tzid": "America/Boise", "floor_alpha": 1.0}]})
    assert cfg.zone_floor_policy.floor_of("America/Boise") == 1.0
    assert cfg.zone_floor_policy.floor_of("America/Denver") == 0.25
    assert cfg.policy_digest("zone_floor_policy") != config.policy_digest("zone_floor_policy")
    assert cfg.policy_digest("zone_mixture_policy") == config.policy_digest("zone_mixture_policy")
    assert Config3A.model_validate(config.model_dump()) == config
