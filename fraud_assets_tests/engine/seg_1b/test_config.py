"""1B config: the spec's values verbatim, strict validation with 1B-S0-001."""

import shutil

import pytest

from fraud_assets.core.errors import EngineFailure
from fraud_assets.engine.seg_1b.config import load_config

from .conftest import CONFIG_DIR


def test_the_spec_values(config):
    assert config.tile_grid.tiles_per_degree == {"tiny": 1, "small": 2, "medium": 4, "large": 10}
    assert config.tile_grid.raster_cells_per_degree == 20 and config.tile_grid.exclude_iso == ["AQ"]
    assert config.tile_grid.min_land_fraction == 1e-4 and config.tile_grid.authalic_radius_m == 6371007.181
    assert (config.tile_weights.rural_mix, config.tile_weights.dp) == (0.05, 9)
    j = config.placement.jitter
    assert (j.max_attempts, j.p_city, j.km_per_degree) == (64, 0.85, 111.32)
    assert (j.city_sigma_km.scale, j.city_sigma_km.pop_ref, j.city_sigma_km.exponent) == (2.0, 100000, 0.35)
    r = config.validation.realism
    assert r.enforce_presets == ["medium", "large"] and r.gates.nn_tail_ratio_max == 32.0
    assert r.gates.clark_evans_range == (0.05, 0.60)


def test_unknown_key_is_rejected_with_the_segment_code(tmp_path):
    folder = tmp_path / "1B"
    shutil.copytree(CONFIG_DIR, folder)
    (folder / "placement.yaml").write_text((folder / "placement.yaml").read_text() + "surprise: 1\n")
    with pytest.raises(EngineFailure) as info:
        load_config(folder)
    assert info.value.code == "1B-S0-001" and "placement.surprise" in info.value.keys


def test_out_of_range_value_is_rejected(tmp_path):
    folder = tmp_path / "1B"
    shutil.copytree(CONFIG_DIR, folder)
    text = (folder / "tile_weights.yaml").read_text().replace("rural_mix: 0.05", "rural_mix: 1.5")
    (folder / "tile_weights.yaml").write_text(text)
    with pytest.raises(EngineFailure) as info:
        load_config(folder)
    assert info.value.code == "1B-S0-001"
