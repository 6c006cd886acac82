"""Arrow values become JSON values a browser reads without loss."""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal

import pyarrow as pa

from laketown.server.encoding import json_rows, json_value


def test_special_floats_become_null():
    assert [json_value(v) for v in (math.nan, math.inf, -math.inf, 1.5)] == [None, None, None, 1.5]


def test_times_are_iso_and_durations_seconds():
    assert json_value(dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)) == "2024-05-01T12:30:00+00:00"
    assert json_value(dt.date(2024, 5, 1)) == "2024-05-01"
    assert json_value(dt.time(8, 15)) == "08:15:00"
    assert json_value(dt.timedelta(minutes=2)) == 120.0


def test_decimals_keep_their_digits_and_bytes_are_base64():
    assert json_value(Decimal("12345678901234567890.12")) == "12345678901234567890.12"
    assert json_value(b"\x00\xff") == "AP8="


def test_integers_beyond_javascript_precision_are_strings():
    assert json_value(2**53 - 1) == 2**53 - 1
    assert json_value(2**53) == str(2**53)
    assert json_value(-(2**63)) == str(-(2**63))


def test_nested_values_are_encoded_inside():
    table = pa.table(
        {
            "m": pa.array([[("a", 1.0)]], pa.map_(pa.string(), pa.float64())),
            "s": [{"x": float("nan"), "t": dt.date(2020, 1, 1)}],
        }
    )
    rows = json_rows(table)
    assert rows == [[[["a", 1.0]], {"x": None, "t": "2020-01-01"}]]
    json.dumps(rows, allow_nan=False)


def test_empty_table_gives_no_rows():
    assert json_rows(pa.table({"a": pa.array([], pa.int64())})) == []
