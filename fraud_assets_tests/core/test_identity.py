from pathlib import Path

import pytest

from fraud_assets.core.identity import manifest_fingerprint, parameter_hash, parameter_listing


@pytest.fixture
def config_tree(tmp_path) -> Path:
    (tmp_path / "engine" / "1A").mkdir(parents=True)
    (tmp_path / "worlds").mkdir()
    (tmp_path / "engine" / "1A" / "hurdle.yaml").write_text("intercept: 0.35\n")
    (tmp_path / "engine" / "1A" / "nb.yaml").write_text("max_attempts: 64\n")
    (tmp_path / "worlds" / "tiny.yaml").write_text("merchants: 50\n")
    (tmp_path / "worlds" / "small.yaml").write_text("merchants: 500\n")
    return tmp_path


def test_listing_is_sorted_by_logical_name_and_includes_the_preset(config_tree):
    names = [name for name, _ in parameter_listing(config_tree, "tiny")]
    assert names == sorted(names) == ["engine/1A/hurdle.yaml", "engine/1A/nb.yaml", "world_preset"]


def test_a_one_byte_policy_change_gives_a_new_hash_and_fingerprint(config_tree):
    before = parameter_hash(config_tree, "tiny")
    (config_tree / "engine" / "1A" / "hurdle.yaml").write_text("intercept: 0.36\n")
    after = parameter_hash(config_tree, "tiny")
    assert before != after
    assert manifest_fingerprint(before, {"cities": "ab"}) != manifest_fingerprint(after, {"cities": "ab"})


def test_preset_choice_changes_identity(config_tree):
    assert parameter_hash(config_tree, "tiny") != parameter_hash(config_tree, "small")


def test_fingerprint_covers_reference_digests_order_free(config_tree):
    ph = parameter_hash(config_tree, "tiny")
    a = manifest_fingerprint(ph, {"cities": "1", "mcc_codes": "2"})
    b = manifest_fingerprint(ph, {"mcc_codes": "2", "cities": "1"})
    assert a == b != manifest_fingerprint(ph, {"cities": "1", "mcc_codes": "3"})


def test_unknown_preset_names_the_known_ones(config_tree):
    with pytest.raises(FileNotFoundError, match=r"known: \['small', 'tiny'\]"):
        parameter_hash(config_tree, "huge")
