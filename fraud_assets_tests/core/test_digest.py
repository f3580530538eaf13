import datetime as dt
import hashlib
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_assets.core.canonical import canonical_json
from fraud_assets.core.digest import _float_repr, content_digest, encode_lines

UTC = dt.timezone.utc

SCHEMA = {
    "g": pl.Int32, "i": pl.Int64, "f": pl.Float64, "s": pl.String, "b": pl.Boolean, "d": pl.Date,
    "t": pl.Datetime("us"), "tz": pl.Datetime("us", "UTC"), "l": pl.List(pl.Float64),
}

floats = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([0.0, -0.0, 1e-4, 9.99e-5, 1e16, 5e-324])
row = st.fixed_dictionaries({
    "g": st.none() | st.integers(0, 3),
    "i": st.none() | st.integers(-(2**63), 2**63 - 1),
    "f": st.none() | floats,
    "s": st.none() | st.text(max_size=6),
    "b": st.none() | st.booleans(),
    "d": st.none() | st.dates(),
    "t": st.none() | st.datetimes(),
    "tz": st.none() | st.datetimes(dt.datetime(1970, 1, 1), dt.datetime(2100, 1, 1)).map(
        lambda v: v.replace(tzinfo=UTC)),
    "l": st.none() | st.lists(st.none() | floats, max_size=3),
})
frames = st.lists(row, max_size=12).map(lambda rows: pl.DataFrame(rows, schema=SCHEMA))


# --------------------------------------------------------------------------- a plain-Python reference


def _py(v):
    if isinstance(v, dt.datetime):
        suffix = ""
        if v.tzinfo is not None:
            v, suffix = v.astimezone(UTC), "Z"
        frac = f"{v.microsecond:06d}".rstrip("0")
        return (f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}"
                + (f".{frac}" if frac else "") + suffix)
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, list):
        return [_py(x) for x in v]
    return v


def reference_digest(df: pl.DataFrame, cols, sort) -> str:
    rows = df.to_dicts()
    lines = [canonical_json({c: _py(r[c]) for c in cols}) + b"\n" for r in rows]
    keys = [tuple((r[c] is not None, r[c]) for c in sort) for r in rows]
    order = sorted(range(len(rows)), key=lambda k: (keys[k], lines[k]))
    return hashlib.sha256(b"".join(lines[k] for k in order)).hexdigest()


# --------------------------------------------------------------------------- golden values


def _golden_frame() -> pl.DataFrame:
    return pl.DataFrame({
        "merchant_id": [9075968851373876105, 1],
        "country_iso": ["NA", "GB"],
        "weight": [0.1, 1e-07],
        "label": ['a"b\n', "é"],
        "flag": [True, None],
        "day": [dt.date(2024, 2, 29), dt.date(1999, 1, 1)],
        "ts_utc": [dt.datetime(2024, 1, 1, 12, 0, 0, 500000, tzinfo=UTC), dt.datetime(2024, 1, 1, tzinfo=UTC)],
        "ts_local": [dt.datetime(2024, 3, 31, 2, 30), None],
        "mix": [[1.5, None], []],
    })


def test_golden_lines_and_digest():
    df = _golden_frame()
    cols = df.columns
    assert encode_lines(df, cols).to_list() == [
        '{"country_iso":"NA","day":"2024-02-29","flag":true,"label":"a\\"b\\n","merchant_id":9075968851373876105,'
        '"mix":[1.5,null],"ts_local":"2024-03-31T02:30:00","ts_utc":"2024-01-01T12:00:00.5Z","weight":0.1}\n',
        '{"country_iso":"GB","day":"1999-01-01","flag":null,"label":"é","merchant_id":1,'
        '"mix":[],"ts_local":null,"ts_utc":"2024-01-01T00:00:00Z","weight":1e-07}\n',
    ]
    digest = content_digest(df, cols, ["merchant_id"])
    assert digest == "d09db43edbf196d118d2bfad0680f292605c79be68b424920365252cc6922411"
    assert digest == reference_digest(df, cols, ["merchant_id"])
    # == sha256 of b'{"country_iso":"GB","merchant_id":1}\n{"country_iso":"NA","merchant_id":9075968851373876105}\n'
    keys = content_digest(df, ["merchant_id", "country_iso"], ["merchant_id"])
    assert keys == "edf1594a147f70b4f42fe14831f3408b93788a835b18f3ca64115a2caf28a0c3"


def test_empty_frame_and_empty_cols():
    df = _golden_frame()
    assert content_digest(df.head(0), df.columns, ["merchant_id"]) == hashlib.sha256(b"").hexdigest()
    assert content_digest(df, [], []) == hashlib.sha256(b"{}\n{}\n").hexdigest()


# --------------------------------------------------------------------------- reference and invariances


@settings(max_examples=25, deadline=None)
@given(frames)
def test_matches_the_python_reference(df):
    assert content_digest(df, df.columns, ["g"]) == reference_digest(df, df.columns, ["g"])
    assert content_digest(df, ["s", "l", "i"], ["g", "i"]) == reference_digest(df, ["s", "l", "i"], ["g", "i"])


@settings(max_examples=25, deadline=None)
@given(frames, st.randoms(use_true_random=False))
def test_invariant_under_row_shuffle_and_column_order(df, rnd):
    cols = df.columns
    base = content_digest(df, cols, ["g"])
    perm = list(range(df.height))
    rnd.shuffle(perm)
    shuffled_cols = cols[:]
    rnd.shuffle(shuffled_cols)
    other = df[perm].select(shuffled_cols) if perm else df.select(shuffled_cols)
    assert content_digest(other, shuffled_cols, ["g"]) == base
    assert content_digest(other.rechunk(), cols[::-1], ["g"]) == base


def _mutate(value, dtype):
    if value is None:
        return {pl.Int64: 0, pl.Float64: 0.5, pl.String: "", pl.Boolean: False, pl.Date: dt.date(2000, 1, 1)}[dtype]
    if dtype == pl.Boolean:
        return not value
    if dtype == pl.Float64:
        return math.nextafter(value, math.inf) if value != 0 else 5e-324
    if dtype == pl.Date:
        return value + dt.timedelta(days=1) if value < dt.date(9999, 1, 1) else value - dt.timedelta(days=1)
    if dtype == pl.Int64:
        return value + 1 if value < 2**63 - 1 else value - 1
    return value + "x"


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_any_cell_change_changes_the_digest(data):
    schema = {"k": pl.Int64, "i": pl.Int64, "f": pl.Float64, "s": pl.String, "b": pl.Boolean, "d": pl.Date}
    n = data.draw(st.integers(1, 8))
    df = pl.DataFrame({
        "k": list(range(n)),
        "i": data.draw(st.lists(st.none() | st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n)),
        "f": data.draw(st.lists(st.none() | floats, min_size=n, max_size=n)),
        "s": data.draw(st.lists(st.none() | st.text(max_size=4), min_size=n, max_size=n)),
        "b": data.draw(st.lists(st.none() | st.booleans(), min_size=n, max_size=n)),
        "d": data.draw(st.lists(st.none() | st.dates(), min_size=n, max_size=n)),
    }, schema=schema)
    r = data.draw(st.integers(0, n - 1))
    c = data.draw(st.sampled_from(list(schema)))
    values = df[c].to_list()
    values[r] = _mutate(values[r], schema[c])
    changed = df.with_columns(pl.Series(c, values, dtype=schema[c]))
    assert content_digest(changed, df.columns, ["k"]) != content_digest(df, df.columns, ["k"])


def test_ties_in_sort_keys_do_not_leak_input_order():
    df = pl.DataFrame({"g": [1, 1, 1, 0], "v": ["b", "a", "c", "z"]})
    assert content_digest(df, ["v"], ["g"]) == content_digest(df.reverse(), ["v"], ["g"])
    assert content_digest(df, ["v"], ["g"]) != content_digest(df, ["v"], ["v"])  # sort order is part of the bytes


def test_independent_of_parquet_writer_settings(tmp_path):
    df = _golden_frame().drop("mix")
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    df.write_parquet(a, compression="zstd", statistics=True)
    df.reverse().write_parquet(b, compression="snappy", statistics=False, row_group_size=1)
    assert a.read_bytes() != b.read_bytes()
    assert content_digest(pl.read_parquet(a), df.columns, ["merchant_id"]) == content_digest(
        pl.read_parquet(b), df.columns, ["merchant_id"])


def test_time_unit_and_timezone_do_not_change_instants():
    base = pl.DataFrame({"t": [dt.datetime(2024, 6, 1, 10, 0, 0, 250000)]})
    us = base.with_columns(pl.col("t").dt.replace_time_zone("UTC"))
    ns = us.with_columns(pl.col("t").dt.cast_time_unit("ns"))
    paris = us.with_columns(pl.col("t").dt.convert_time_zone("Europe/Paris"))
    lines = {encode_lines(f, ["t"]).item() for f in (us, ns, paris)}
    assert lines == {'{"t":"2024-06-01T10:00:00.25Z"}\n'}
    assert encode_lines(base, ["t"]).item() == '{"t":"2024-06-01T10:00:00.25"}\n'


# --------------------------------------------------------------------------- floats


def test_float_fast_path_equals_repr():
    rng = np.random.default_rng(11)
    bits = rng.integers(0, 2**63, 80_000, dtype=np.int64).view(np.float64)
    values = np.concatenate([
        bits[np.isfinite(bits)], rng.uniform(-200, 200, 20_000), np.round(rng.uniform(-1e6, 1e6, 20_000) * 1e3) / 1e3,
        10.0 ** rng.integers(-12, 22, 2_000), np.array([0.0, -0.0, 1e-4, 9.999999999999999e-05, 1e16, 5e-324]),
    ])
    got = _float_repr(pl.Series(values)).to_list()
    assert got == [repr(x) for x in values.tolist()]
    f32 = pl.Series([0.1, 3.4e38, 1e-40], dtype=pl.Float32)
    assert encode_lines(f32.to_frame("x"), ["x"]).to_list() == [
        f'{{"x":{float(np.float32(v))!r}}}\n' for v in (0.1, 3.4e38, 1e-40)]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_refused_naming_the_column(bad):
    df = pl.DataFrame({"k": [1, 2], "lat_deg": [0.5, bad]})
    with pytest.raises(ValueError, match="lat_deg"):
        content_digest(df, ["k", "lat_deg"], ["k"])
    nested = pl.DataFrame({"k": [1], "weights": [[0.5, bad]]})
    with pytest.raises(ValueError, match=r"weights\[\]"):
        content_digest(nested, ["k", "weights"], ["k"])
    # a NaN outside `cols` is not digested
    assert content_digest(df, ["k"], ["k"]) == content_digest(df.drop("lat_deg"), ["k"], ["k"])


# --------------------------------------------------------------------------- other dtypes and errors


def test_nested_enum_categorical_struct_and_unsigned():
    df = pl.DataFrame({
        "u": pl.Series([2**64 - 1], dtype=pl.UInt64),
        "e": pl.Series(["CP"], dtype=pl.Enum(["CP", "CNP"])),
        "c": pl.Series(["x"], dtype=pl.Categorical),
        "a": pl.Series([[1, 2]], dtype=pl.Array(pl.Int16, 2)),
        "ll": [[["p", "q\t"], [], None]],
        "st": [{"z": 1, "a": [dt.date(2024, 1, 1)]}],
        "n": pl.Series([None], dtype=pl.Null),
        "tm": [dt.time(1, 2, 3, 400000)],
    })
    assert encode_lines(df, df.columns).item() == (
        '{"a":[1,2],"c":"x","e":"CP","ll":[["p","q\\t"],[],null],"n":null,'
        '"st":{"a":["2024-01-01"],"z":1},"tm":"01:02:03.4","u":18446744073709551615}\n')


@pytest.mark.parametrize("series", [
    pl.Series("x", [1], dtype=pl.Duration("us")),
    pl.Series("x", [b"\x00"]),
    pl.Series("x", [1], dtype=pl.Decimal(5, 2)),
])
def test_unsupported_dtypes_are_refused(series):
    with pytest.raises(TypeError, match="'x'"):
        content_digest(series.to_frame(), ["x"], [])


def test_bad_column_arguments():
    df = pl.DataFrame({"a": [1], "b": [2]})
    with pytest.raises(ValueError, match="not in frame"):
        content_digest(df, ["a", "zz"], ["a"])
    with pytest.raises(ValueError, match="not in frame"):
        content_digest(df, ["a"], ["zz"])
    with pytest.raises(ValueError, match="duplicate"):
        content_digest(df, ["a", "a"], ["a"])
    # a sort column need not be digested
    assert content_digest(df, ["a"], ["b"]) == hashlib.sha256(b'{"a":1}\n').hexdigest()
