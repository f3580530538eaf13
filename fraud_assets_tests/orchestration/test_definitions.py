"""The asset graph: every catalogue state is an asset with blocking checks on world partitions."""

import os
import subprocess
import sys

from dagster import AssetKey

from fraud_assets.definitions import defs
from fraud_assets.engine import catalogue
from fraud_assets.orchestration.factory import check_names
from fraud_assets.orchestration.partitions import WORLD
from fraud_assets.reference import catalog as reference


def _assets_by_key():
    return {key: a for a in defs.assets for key in a.keys}


def test_every_state_is_a_partitioned_asset_in_its_segment_group():
    assets = _assets_by_key()
    for state in catalogue.all_states():
        key = AssetKey(list(state.asset_key))
        assert key in assets, key
        definition = assets[key]
        assert definition.group_names_by_key[key] == f"engine_{state.segment}"
        assert definition.partitions_def == WORLD


def test_every_check_is_blocking_and_named_from_the_catalogue():
    assets = _assets_by_key()
    for state in catalogue.all_states():
        definition = assets[AssetKey(list(state.asset_key))]
        specs = {spec.name: spec for spec in definition.check_specs}
        assert sorted(specs) == sorted(check_names(state))
        assert all(spec.blocking for spec in specs.values())
        if state.validation:
            assert f"hashgate_{state.segment}" in specs


def test_dependencies_follow_the_datasets_each_state_reads():
    assets = _assets_by_key()
    for state in catalogue.all_states():
        key = AssetKey(list(state.asset_key))
        deps = {dep for dep in assets[key].asset_deps[key]}
        gate = catalogue.segment(state.segment).states[0]
        if state is not gate:  # the receipt S0 writes authorises every other state's reads
            assert AssetKey(list(gate.asset_key)) in deps
        for read in state.reads:
            if read.startswith("ref."):
                assert AssetKey(["reference", read[4:]]) in deps
            elif read in catalogue.dictionary():
                assert AssetKey(list(catalogue.writer_of(read).asset_key)) in deps


def test_reference_assets_are_unpartitioned():
    assets = _assets_by_key()
    for dataset_id in reference.DATASET_IDS:
        definition = assets[AssetKey(["reference", dataset_id])]
        assert definition.partitions_def is None


def test_dagster_cli_validates_the_definitions(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "FRAUD_ASSETS_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-m", "fraud_assets.definitions"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
