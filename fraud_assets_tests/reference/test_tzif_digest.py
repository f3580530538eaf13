"""tzif_digest: TZif bytes of the tzdata wheel read through zoneinfo, never the host's zoneinfo."""

from __future__ import annotations

import hashlib
import zoneinfo

import polars as pl

from fraud_assets.reference import catalog
from fraud_assets.reference import tzif_digest as td
from fraud_assets.reference.intake import tzdata_only


def test_provenance_digest_matches_a_recompute(built_reference_root):
    prov = catalog.provenance(built_reference_root, "tzif_digest")
    assert prov["tzif_digest"] == td.compute_tzif_digest()
    import tzdata

    assert prov["iana_version"] == tzdata.IANA_VERSION
    frame = catalog.load(built_reference_root, "tzif_digest")
    assert frame.height == len(td.read_tzif()) and frame["tzid"].is_sorted()
    ny = frame.filter(pl.col("tzid") == "America/New_York").row(0, named=True)
    assert ny["tzif_sha256"] == hashlib.sha256(td.tzif_bytes("America/New_York")).hexdigest()


def test_digest_recipe_on_literal_bytes():
    tzif = {"B/x": b"TZif2", "A/y": b"TZif3"}
    expected = hashlib.sha256(b"A/y\0TZif3" + b"B/x\0TZif2").hexdigest()
    assert td.digest_of(tzif) == expected


def test_a_fake_system_zoneinfo_is_ignored_and_tzpath_restored(tmp_path):
    fake = tmp_path / "zoneinfo"
    (fake / "Fake").mkdir(parents=True)
    (fake / "Fake" / "Zone").write_bytes(b"TZif2 fake")
    (fake / "America").mkdir()
    (fake / "America" / "New_York").write_bytes(b"TZif2 not the real one")
    before = zoneinfo.TZPATH
    zoneinfo.reset_tzpath(to=[str(fake)])
    try:
        tzif = td.read_tzif()
        assert "Fake/Zone" not in tzif
        assert tzif["America/New_York"] != b"TZif2 not the real one"
        assert zoneinfo.TZPATH == (str(fake),)  # restored after the pinned read
        with tzdata_only():
            assert zoneinfo.TZPATH == ()
    finally:
        zoneinfo.reset_tzpath(to=list(before))
