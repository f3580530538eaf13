"""2A catalogue: datasets, states, and every check code of the spec as a CheckSpec."""

from __future__ import annotations

from fraud_assets.core.dictionary import Kind, Scope
from fraud_assets.engine import catalogue as engine_catalogue
from fraud_assets.engine.seg_2a import catalogue
from fraud_assets.engine.seg_2a import datasets as ds
from fraud_assets.engine.seg_2a.config import Config2A, load_config
from fraud_assets_tests.engine.seg_2a.conftest import CONFIG_DIR

SPEC_CODES = {
    "2A-S0-020", "2A-S0-021", "2A-S0-022", "2A-S0-023", "2A-S0-024",
    "2A-S1-050", "2A-S1-051", "2A-S1-052", "2A-S1-053", "2A-S1-054", "2A-S1-056",
    "2A-S2-050", "2A-S2-051", "2A-S2-052", "2A-S2-054", "2A-S2-056", "2A-S2-057",
    "2A-S3-013", "2A-S3-021", "2A-S3-051", "2A-S3-052", "2A-S3-053", "2A-S3-054", "2A-S3-055",
    "2A-S4-024", "2A-S4-061", "2A-S4-062",
    "2A-S5-001", "2A-S5-010",
}  # 2A-S5-002 is the runner's hashgate_2A; E_FINGERPRINT_MISMATCH / E_NO_PASS_NO_READ are the runner's S0 gate


def test_every_spec_code_is_a_check():
    codes = {c.code for s in catalogue.STATES for c in s.checks}
    assert SPEC_CODES <= codes
    names = [c.name for s in catalogue.STATES for c in s.checks]
    assert len(names) == len(set(names))


def test_states_and_datasets():
    assert [s.state for s in catalogue.STATES] == ["S0", "S1", "S2", "S3", "S4", "S5"]
    assert catalogue.S0.upstream == ("1A", "1B") and catalogue.S5.validation
    assert all(not s.rng_families for s in catalogue.STATES)
    written = [d for s in catalogue.STATES for d in s.writes]
    assert sorted(written) == sorted(d.id for d in ds.DATASETS) and len(written) == len(set(written))
    scope = {d.id: d.scope for d in ds.DATASETS}
    assert scope[ds.TZ_TIMETABLE] is Scope.F and scope[ds.SITE_TIMEZONES] is Scope.FS
    assert {d.id for d in ds.DATASETS if d.kind is Kind.JSON} == {ds.S0_TZ_RECEIPT, ds.TZ_TIMETABLE_MANIFEST,
                                                                   ds.S4_LEGALITY_REPORT}
    # every read is produced earlier, upstream, or reference data
    produced: set[str] = set()
    for s in catalogue.STATES:
        for r in s.reads:
            assert r in produced or r.startswith("ref.") or r in {ds.SITE_LOCATIONS, ds.MERCHANT_IDS, ds.RNG_TRACE}
        produced.update(s.writes)


def test_site_timezones_path_and_engine_catalogue():
    spec = engine_catalogue.dictionary()[ds.SITE_TIMEZONES]
    assert spec.relative_path("m" * 64, 42) == f"data/layer1/2A/site_timezones/manifest_fingerprint={'m' * 64}/seed=42"
    assert engine_catalogue.dictionary()[ds.TZ_TIMETABLE].relative_path("m", 42).endswith("manifest_fingerprint=m")
    assert engine_catalogue.segment("2A").config_model is Config2A


def test_repository_config_is_the_spec_default():
    cfg = load_config(CONFIG_DIR)
    assert cfg.tz_nudge.epsilon_degrees == 0.002 and cfg.tz_overrides.overrides == []
    assert cfg.tz_lookup.foreign_snap_max_km == 25.0
    assert cfg.tz_lookup.extra_country_zones == {"XK": ["Europe/Belgrade"]}
    assert (cfg.timetable.pre_pad_days, cfg.timetable.post_pad_days) == (7, 60)
    assert cfg.validation.enforce_presets == ["medium", "large"]
    assert cfg.validation.gates["fallback_rate"] == (None, 0.0005)
