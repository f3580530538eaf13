"""The governed override table of 2A (spec/engine/2A.md, "Override file checks", S1 step 4, S2).

Shared by S0 (validation, `2A-S0-022`), S1 (`applies_to: unresolved`, step 4) and
S2 (`applies_to: always`, programme pins). A row is *active* while its expiry is
null or ≥ date(horizon_start_utc) — the world's horizon, never `registered_utc` or
a clock, so re-registering a world on another day does not change its outputs.
Precedence is site (`"merchant_id|ISO2|site_order"`) › mcc (4 digits of
`merchant_ids.mcc`) › country (ISO2).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date

import polars as pl

from fraud_assets.engine.seg_2a.config import OverrideRow

SCOPE_ORDER = ("site", "mcc", "country")
APPLIES_TO = ("unresolved", "always")
SITE_TARGET = re.compile(r"^[1-9][0-9]{0,18}\|[A-Z]{2}\|[1-9][0-9]*$")
MCC_TARGET = re.compile(r"^[0-9]{4}$")
ISO2 = re.compile(r"^[A-Z]{2}$")


def is_active(row: OverrideRow, horizon_start: date) -> bool:
    """Active ⇔ expiry null or expiry ≥ date(horizon_start_utc)."""
    return row.expiry is None or row.expiry >= horizon_start


def validate_overrides(rows: Sequence[OverrideRow], civil_tzids: set[str] | frozenset[str], mcc_codes: set[int],
                       iso_codes: set[str], horizon_start: date) -> list[str]:
    """Every problem of the table (empty = valid): scope, target pattern and FK, tzid ∈ TW,
    applies_to, notes, and at most one active row per (scope, target, applies_to)."""
    problems: list[str] = []
    active: dict[tuple[str, str, str], int] = {}
    for i, r in enumerate(rows):
        where = f"overrides[{i}]"
        if r.scope not in SCOPE_ORDER:
            problems.append(f"{where}: scope {r.scope!r} not in {SCOPE_ORDER}")
        elif r.scope == "site":
            if not SITE_TARGET.match(r.target):
                problems.append(f"{where}: site target {r.target!r} is not 'merchant_id|ISO2|site_order'")
            else:
                merchant, iso, _ = r.target.split("|")
                if int(merchant) >= 2**63:
                    problems.append(f"{where}: site target merchant_id ≥ 2^63")
                if iso not in iso_codes:
                    problems.append(f"{where}: site target country {iso!r} not in iso3166_canonical")
        elif r.scope == "mcc" and (not MCC_TARGET.match(r.target) or int(r.target) not in mcc_codes):
            problems.append(f"{where}: mcc target {r.target!r} is not a 4-digit code of mcc_codes")
        elif r.scope == "country" and (not ISO2.match(r.target) or r.target not in iso_codes):
            problems.append(f"{where}: country target {r.target!r} is not in iso3166_canonical")
        if r.tzid not in civil_tzids:
            problems.append(f"{where}: tzid {r.tzid!r} is not a civil tz_world tzid")
        if r.applies_to not in APPLIES_TO:
            problems.append(f"{where}: applies_to {r.applies_to!r} not in {APPLIES_TO}")
        if not (r.notes or "").strip():
            problems.append(f"{where}: notes (provenance) missing")
        if is_active(r, horizon_start):
            k = (r.scope, r.target, r.applies_to)
            if k in active:
                problems.append(f"{where}: second active row for {k} (first overrides[{active[k]}])")
            else:
                active[k] = i
    return problems


def active_overrides(rows: Sequence[OverrideRow], applies_to: str, horizon_start: date) -> dict[str, dict[str, str]]:
    """{scope: {target: tzid}} of the active rows with `applies_to` (S0 guarantees ≤ 1 per target)."""
    out: dict[str, dict[str, str]] = {s: {} for s in SCOPE_ORDER}
    for r in rows:
        if r.applies_to == applies_to and is_active(r, horizon_start) and r.scope in out:
            out[r.scope].setdefault(r.target, r.tzid)
    return out


def site_targets(sites: pl.DataFrame) -> list[str]:
    """`"merchant_id|ISO2|site_order"` per site row."""
    return (sites.select(pl.concat_str([pl.col("merchant_id").cast(pl.String), pl.col("legal_country_iso"),
                                        pl.col("site_order").cast(pl.String)], separator="|"))
            .to_series().to_list())


def mcc_targets(sites: pl.DataFrame, merchant_ids: pl.DataFrame) -> list[str | None]:
    """The merchant's MCC as four digits per site row (null for an unknown merchant)."""
    m = sites.select("merchant_id").join(merchant_ids.select("merchant_id", "mcc"), on="merchant_id", how="left",
                                         maintain_order="left")
    return m.select(pl.col("mcc").cast(pl.String).str.zfill(4)).to_series().to_list()


def lookup_overrides(table: Mapping[str, Mapping[str, str]], site: Sequence[str], mcc: Sequence[str | None],
                     country: Sequence[str], idx: Sequence[int]) -> list[tuple[str | None, str | None]]:
    """Per index the first matching (tzid, scope) in the order site › mcc › country, else (None, None)."""
    out: list[tuple[str | None, str | None]] = []
    for i in idx:
        found: tuple[str | None, str | None] = (None, None)
        for scope, target in (("site", site[i]), ("mcc", mcc[i]), ("country", country[i])):
            if target is not None and target in table[scope]:
                found = (table[scope][target], scope)
                break
        out.append(found)
    return out
