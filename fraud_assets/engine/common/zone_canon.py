"""3A's tzid → zone mapping (ARCHITECTURE §13; spec/engine/3A.md S3 step 2).

A country's *zones* are the material zones of 3A's `s2_zone_universe_3A` (its
tzdata `zone.tab` universe after the material filter). Any IANA tzid seen inside
country `c` — a 2A site's tzid, an arrival's zone — maps to exactly one zone:

1. `material` — `(c, tzid)` is a material zone of the universe: itself;
2. `merged` — `(c, tzid)` is an immaterial universe zone: its `merged_into_tzid`;
3. `link` — `tzid` and a universe zone `u` of `c` name the same tzdata zone
   (`tzdb_links` `L` lines: `tzid` is a link to `u`, `u` a link to `tzid`, or both
   link to one target; e.g. a `Europe/Kiev` site in UA, a `Europe/Berlin` site in NO
   whose universe lists `Europe/Oslo`): the zone of `u` (material `u` preferred,
   then tzid ascending);
4. `foreign` — anything else (a border site resolved to a neighbour's zone): the
   country's argmax zone, the material zone with the largest merged population
   share (ties: tzid ascending).

A country without universe rows is an error (`E_ZONE_COUNTRY_UNKNOWN`): every
ISO2 of `iso3166_canonical` has a universe, so an unknown country means the caller
passed a non-canonical code.

Users: 3A S3 (site anchors), S5 (monolithic zones) and S6; 5A S1 (zone check); 5B
S4 (passed as `zone_of` into 2B's `RoutingFabric`). One implementation, so a
site's zone means the same thing in every segment:

    canon = ZoneCanon.build(zone_universe, tzdb_links)
    canon.zone_of("US", "America/Kentucky/Louisville")   # ("America/Kentucky/Louisville", "material") or merged
    canon.map(sites, country="legal_country_iso", tzid="tzid")  # + zone_tzid, zone_mapping columns

`map` (vectorised polars joins) and `zone_of` (dict lookups) read the same lookup
table, so they agree by construction; `zones(c)` is `Z_ord(c)` (material zones by
tzid) and `argmax_zone(c)` the fallback zone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import polars as pl

from fraud_assets.core.errors import EngineFailure

MATERIAL = "material"
MERGED = "merged"
LINK = "link"
FOREIGN = "foreign"
MAPPINGS = (MATERIAL, MERGED, LINK, FOREIGN)

E_ZONE_COUNTRY_UNKNOWN = "E_ZONE_COUNTRY_UNKNOWN"

UNIVERSE_COLUMNS = ("country_iso", "tzid", "is_material", "merged_into_tzid", "share_raw")
LINK_COLUMNS = ("link_name", "target")
LOOKUP_SCHEMA = {"country_iso": pl.String, "tzid": pl.String, "zone_tzid": pl.String, "zone_mapping": pl.String}


def _canonical(links: pl.DataFrame) -> pl.Expr:
    """`tzid` → its tzdata target when it is a link name (tzdata links never chain)."""
    return pl.col("tzid").replace_strict(links.get_column("link_name"), links.get_column("target"),
                                         default=pl.col("tzid"), return_dtype=pl.String)


@dataclass(frozen=True, repr=False)
class ZoneCanon:
    """The tzid → zone law of one world (build with `ZoneCanon.build`)."""

    exact: pl.DataFrame  # country_iso, tzid, zone_tzid, zone_mapping (material | merged): every universe row
    by_class: pl.DataFrame  # country_iso, canonical, zone_tzid: one row per (c, tzdata zone) of the universe
    argmax: pl.DataFrame  # country_iso, zone_tzid: the country's argmax material zone
    links: pl.DataFrame  # link_name, target
    material_zones: dict[str, tuple[str, ...]] = field(repr=False)
    _exact: dict[tuple[str, str], tuple[str, str]] = field(repr=False, default_factory=dict)
    _class: dict[tuple[str, str], str] = field(repr=False, default_factory=dict)
    _argmax: dict[str, str] = field(repr=False, default_factory=dict)
    _target: dict[str, str] = field(repr=False, default_factory=dict)

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def build(cls, zone_universe: pl.DataFrame, tzdb_links: pl.DataFrame) -> ZoneCanon:
        """From `s2_zone_universe_3A` (`country_iso, tzid, is_material, merged_into_tzid, share_raw`)
        and the `tzdb_links` reference (`link_name, target`)."""
        missing = [c for c in UNIVERSE_COLUMNS if c not in zone_universe.columns]
        missing += [c for c in LINK_COLUMNS if c not in tzdb_links.columns]
        if missing:
            raise ValueError(f"zone_canon: missing columns {missing}")
        u = zone_universe.select(UNIVERSE_COLUMNS).sort("country_iso", "tzid")
        links = tzdb_links.select(LINK_COLUMNS).unique("link_name", keep="first").sort("link_name")
        zone = pl.when(pl.col("is_material")).then(pl.col("tzid")).otherwise(pl.col("merged_into_tzid"))
        exact = u.select("country_iso", "tzid", zone.alias("zone_tzid"),
                         pl.when(pl.col("is_material")).then(pl.lit(MATERIAL)).otherwise(pl.lit(MERGED))
                         .alias("zone_mapping"))
        bad = exact.filter(pl.col("zone_tzid").is_null())
        if bad.height:
            raise ValueError(f"zone_canon: immaterial zones without merged_into_tzid: "
                             f"{bad.select('country_iso', 'tzid').head(5).rows()}")
        by_class = (u.with_columns(_canonical(links).alias("canonical"), zone.alias("zone_tzid"))
                    .sort(["country_iso", "canonical", "is_material", "tzid"], descending=[False, False, True, False])
                    .unique(["country_iso", "canonical"], keep="first", maintain_order=True)
                    .select("country_iso", "canonical", "zone_tzid"))
        merged = (u.with_columns(zone.alias("zone_tzid")).group_by("country_iso", "zone_tzid")
                  .agg(pl.col("share_raw").sum().alias("share_merged")))
        argmax = (merged.sort(["country_iso", "share_merged", "zone_tzid"], descending=[False, True, False])
                  .unique("country_iso", keep="first", maintain_order=True).select("country_iso", "zone_tzid"))
        material: dict[str, list[str]] = {}
        for c, t in u.filter(pl.col("is_material")).select("country_iso", "tzid").iter_rows():
            material.setdefault(c, []).append(t)
        return cls(
            exact=exact, by_class=by_class, argmax=argmax, links=links,
            material_zones={c: tuple(sorted(v)) for c, v in material.items()},
            _exact={(c, t): (z, m) for c, t, z, m in exact.iter_rows()},
            _class={(c, k): z for c, k, z in by_class.iter_rows()},
            _argmax=dict(argmax.iter_rows()),
            _target=dict(links.iter_rows()),
        )

    def __repr__(self) -> str:
        return f"ZoneCanon(countries={len(self._argmax)}, universe_rows={self.exact.height}, links={self.links.height})"

    # -- scalar ----------------------------------------------------------------------------------
    @property
    def countries(self) -> frozenset[str]:
        return frozenset(self._argmax)

    def _known(self, country_iso: str) -> None:
        if country_iso not in self._argmax:
            raise EngineFailure(E_ZONE_COUNTRY_UNKNOWN, "country has no zone universe",
                                dataset="s2_zone_universe_3A", keys=[country_iso])

    def zones(self, country_iso: str) -> tuple[str, ...]:
        """`Z_ord(c)`: the material zones of `c`, tzid ascending."""
        self._known(country_iso)
        return self.material_zones[country_iso]

    def argmax_zone(self, country_iso: str) -> str:
        self._known(country_iso)
        return self._argmax[country_iso]

    def zone_of(self, country_iso: str, tzid: str) -> tuple[str, str]:
        """`(zone_tzid, mapping)` with mapping ∈ {material, merged, link, foreign} (module docstring)."""
        self._known(country_iso)
        hit = self._exact.get((country_iso, tzid))
        if hit is not None:
            return hit
        zone = self._class.get((country_iso, self._target.get(tzid, tzid)))
        if zone is not None:
            return zone, LINK
        return self._argmax[country_iso], FOREIGN

    # -- vectorised ------------------------------------------------------------------------------
    def map(self, frame: pl.DataFrame, *, country: str = "legal_country_iso", tzid: str = "tzid",
            zone: str = "zone_tzid", mapping: str = "zone_mapping") -> pl.DataFrame:
        """`frame` with `zone` and `mapping` columns added (row order kept); unknown country → error."""
        if frame.is_empty():
            return frame.with_columns(pl.lit(None, dtype=pl.String).alias(zone),
                                      pl.lit(None, dtype=pl.String).alias(mapping))
        unknown = sorted(set(frame.get_column(country).unique().to_list()) - self.countries, key=str)
        if unknown:
            raise EngineFailure(E_ZONE_COUNTRY_UNKNOWN, "country has no zone universe",
                                dataset="s2_zone_universe_3A", keys=unknown)
        idx = "__zone_canon_row__"
        keys = frame.select(pl.col(country).alias("country_iso"), pl.col(tzid).alias("tzid")) \
            .with_row_index(idx)
        canon = self.links
        out = (keys.with_columns(_canonical(canon).alias("canonical"))
               .join(self.exact, on=["country_iso", "tzid"], how="left")
               .join(self.by_class.rename({"zone_tzid": "class_zone"}), on=["country_iso", "canonical"],
                     how="left")
               .join(self.argmax.rename({"zone_tzid": "argmax_zone"}), on="country_iso", how="left")
               .with_columns(
                   pl.coalesce("zone_tzid", "class_zone", "argmax_zone").alias(zone),
                   pl.when(pl.col("zone_mapping").is_not_null()).then(pl.col("zone_mapping"))
                   .when(pl.col("class_zone").is_not_null()).then(pl.lit(LINK))
                   .otherwise(pl.lit(FOREIGN)).alias("__mapping__"))
               .sort(idx))
        return frame.with_columns(out.get_column(zone).alias(zone), out.get_column("__mapping__").alias(mapping))

    def zone_of_many(self, countries: Sequence[str], tzids: Sequence[str]) -> tuple[list[str], list[str]]:
        """Vectorised `zone_of` over parallel sequences."""
        f = pl.DataFrame({"c": list(countries), "t": list(tzids)}, schema={"c": pl.String, "t": pl.String})
        m = self.map(f, country="c", tzid="t")
        return m.get_column("zone_tzid").to_list(), m.get_column("zone_mapping").to_list()

    def lookup_table(self, tzids: Iterable[str] = ()) -> pl.DataFrame:
        """Every universe row plus, per country, the given extra tzids, mapped (`LOOKUP_SCHEMA`);
        a packed form for consumers that join instead of calling `zone_of`."""
        extra = sorted(set(tzids))
        rows = self.exact
        if extra:
            grid = pl.DataFrame({"country_iso": sorted(self.countries)}).join(
                pl.DataFrame({"tzid": extra}), how="cross")
            grid = grid.join(self.exact.select("country_iso", "tzid"), on=["country_iso", "tzid"], how="anti")
            rows = pl.concat([rows, self.map(grid, country="country_iso", tzid="tzid")])
        return rows.select(list(LOOKUP_SCHEMA)).sort("country_iso", "tzid")


def build(zone_universe: pl.DataFrame, tzdb_links: pl.DataFrame) -> ZoneCanon:
    """`ZoneCanon.build` as a function."""
    return ZoneCanon.build(zone_universe, tzdb_links)


__all__ = ["E_ZONE_COUNTRY_UNKNOWN", "FOREIGN", "LINK", "MAPPINGS", "MATERIAL", "MERGED", "ZoneCanon", "build"]
