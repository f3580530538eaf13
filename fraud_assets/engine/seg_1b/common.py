"""Small 1B-only helpers shared by the state modules: check outcomes and evidence, RNG
tallies, stream keys. Nothing here draws randomness or knows about a state.
"""

from __future__ import annotations


import polars as pl

from fraud_assets.engine.common.checks import (  # noqa: F401 - re-exported
    FIRST_KEYS, jsonable, key_list, missing_output, outcome, tally)


def pair_keys(frame: pl.DataFrame) -> list[tuple[int, str]]:
    """RNG keys `(merchant_id, legal_country_iso)` of every row, in frame order."""
    return list(zip(frame.get_column("merchant_id").to_list(), frame.get_column("legal_country_iso").to_list(),
                    strict=True))


def site_keys(frame: pl.DataFrame) -> list[tuple[int, str, int]]:
    """RNG keys `(merchant_id, legal_country_iso, site_order)` of every row, in frame order."""
    return list(zip(frame.get_column("merchant_id").to_list(), frame.get_column("legal_country_iso").to_list(),
                    frame.get_column("site_order").to_list(), strict=True))
