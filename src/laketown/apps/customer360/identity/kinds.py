"""What kind of value a column holds (names, addresses, phone, e-mail, dates, postcodes,
identifiers, categories, free text), how to clean it and which splink comparison suits it.

The kind comes from the column name when it says so (``email``, ``dob``, ``zip``...), else
from the values: share of e-mail shapes, of parseable dates, of digit strings and their
length, cardinality and word counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow as pa

KINDS = ("given_name", "surname", "name", "address", "city", "postcode", "phone", "email", "date",
         "identifier", "number", "category", "text")

_NAME_HINTS = [
    (r"e_?mail", "email"), (r"phone|mobile|tel(ephone)?$|cell|fax", "phone"),
    (r"dob|birth|_date$|^date", "date"), (r"post_?code|zip|postal", "postcode"),
    (r"given|first_?name|forename|fname", "given_name"), (r"surname|last_?name|family_?name|lname", "surname"),
    (r"street_?(no|num|number)$|house_?(no|num|number)$", "number"),
    (r"address|street|addr|line_?\d", "address"), (r"city|town|suburb|locality|municipality", "city"),
    (r"state|country|region|province|county|gender|sex", "category"),
    (r"ssn|soc_?sec|passport|licen[cs]e|national_?id|tax_?id", "identifier"), (r"name", "name"),
]
DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%d/%m/%Y", "%m/%d/%Y", "%Y/%m/%d", "%d-%m-%Y", "%d.%m.%Y")


def kind_from_name(column: str) -> str | None:
    low = column.lower()
    for pattern, kind in _NAME_HINTS:
        if re.search(pattern, low):
            return kind
    return None


def _profile(con: duckdb.DuckDBPyConnection, table: pa.Table, column: str) -> dict[str, float]:
    con.register("p", table.select([column]).rename_columns(["v"]).cast(pa.schema([("v", pa.string())])))
    row = con.execute(
        """
        WITH s AS (SELECT trim(v) AS v FROM p WHERE nullif(trim(v), '') IS NOT NULL)
        SELECT count(*), count(DISTINCT v),
               avg(CASE WHEN regexp_matches(v, '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$') THEN 1 ELSE 0 END),
               avg(CASE WHEN regexp_matches(v, '^[0-9 ()+.-]+$') THEN 1 ELSE 0 END),
               avg(length(regexp_replace(v, '[^0-9]', '', 'g'))),
               avg(len(string_split(v, ' '))), avg(length(v))
        FROM s
        """
    ).fetchone()
    con.unregister("p")
    n, distinct, email, digits, ndigits, words, length = (float(x or 0) for x in row)
    return {"n": n, "distinct": distinct, "email": email, "digits": digits, "ndigits": ndigits,
            "words": words, "length": length}


def date_format(con: duckdb.DuckDBPyConnection, table: pa.Table, column: str) -> str | None:
    """The strptime format most values of ``column`` parse with (>= 80 % of non-empty), or None."""
    con.register("p", table.select([column]).rename_columns(["v"]).cast(pa.schema([("v", pa.string())])))
    best, share = None, 0.0
    for fmt in DATE_FORMATS:
        got = con.execute(
            "SELECT avg(CASE WHEN try_strptime(trim(v), ?) IS NOT NULL THEN 1 ELSE 0 END) FROM p "
            "WHERE nullif(trim(v), '') IS NOT NULL", [fmt]
        ).fetchone()[0]
        if got is not None and got > share:
            best, share = fmt, float(got)
    con.unregister("p")
    return best if share >= 0.8 else None


def infer_kind(table: pa.Table, column: str, con: duckdb.DuckDBPyConnection | None = None) -> str:
    """The kind of ``column`` in ``table`` (one of :data:`KINDS`)."""
    own = con is None
    con = con or duckdb.connect()
    try:
        hinted = kind_from_name(column)
        if hinted == "date" or (hinted is None and date_format(con, table, column)):
            return "date" if date_format(con, table, column) else "text"
        if hinted:
            return hinted
        p = _profile(con, table, column)
        if p["n"] == 0:
            return "text"
        if p["email"] > 0.8:
            return "email"
        if p["digits"] > 0.9:
            if p["ndigits"] >= 9 and p["distinct"] / p["n"] > 0.5:
                return "phone" if p["ndigits"] <= 15 else "identifier"
            if p["distinct"] / p["n"] > 0.5:
                return "identifier"
            return "postcode" if 3 <= p["ndigits"] <= 6 and p["distinct"] > 50 else "number"
        if p["distinct"] / p["n"] < 0.01 or p["distinct"] < 30:
            return "category"
        if p["words"] > 3:
            return "text"
        return "address" if p["ndigits"] >= 1 else "name"
    finally:
        if own:
            con.close()


def clean_sql(column: str, kind: str) -> str:
    """A DuckDB expression that standardizes ``column`` of ``kind`` (empty -> NULL)."""
    c = f'CAST("{column}" AS VARCHAR)'
    if kind in ("given_name", "surname", "name", "city"):
        return f"nullif(regexp_replace(lower(strip_accents(trim({c}))), '[^a-z]', '', 'g'), '')"
    if kind == "phone":
        return f"nullif(regexp_replace({c}, '[^0-9]', '', 'g'), '')"
    if kind == "email":
        return f"nullif(lower(trim({c})), '')"
    if kind == "postcode":
        return f"nullif(upper(regexp_replace({c}, '[^A-Za-z0-9]', '', 'g')), '')"
    if kind in ("identifier", "number"):
        return f"nullif(regexp_replace(upper(trim({c})), '[^A-Z0-9]', '', 'g'), '')"
    if kind == "date":
        return f"nullif(trim({c}), '')"
    return f"nullif(regexp_replace(lower(strip_accents(trim({c}))), '\\s+', ' ', 'g'), '')"


def comparison(column: str, kind: str, fmt: str | None = None) -> Callable[[Any], Any]:
    """A factory of the splink comparison for a column of ``kind`` (see MatchSpec)."""
    if kind in ("given_name", "surname", "name"):
        return lambda cl: cl.JaroWinklerAtThresholds(column, [0.92, 0.88, 0.7])
    if kind in ("address", "text"):
        return lambda cl: cl.JaroWinklerAtThresholds(column, [0.9, 0.7])
    if kind == "city":
        return lambda cl: cl.JaroWinklerAtThresholds(column, [0.92])
    if kind == "email":
        from laketown.apps.customer360.identity.people import email_comparison

        return lambda cl: email_comparison(cl, column)
    if kind == "date":
        return lambda cl: cl.DateOfBirthComparison(column, input_is_string=True, datetime_format=fmt or "%Y-%m-%d")
    if kind in ("phone", "identifier"):
        return lambda cl: cl.DamerauLevenshteinAtThresholds(column, [1, 2])
    if kind == "postcode":
        return lambda cl: cl.DamerauLevenshteinAtThresholds(column, [1])
    return lambda cl: cl.ExactMatch(column)
