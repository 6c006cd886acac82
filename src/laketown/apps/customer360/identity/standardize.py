"""Standardization of person records before matching: case, punctuation, nicknames, phone
digits, e-mail, street abbreviations, postcodes and ISO dates, in one DuckDB pass over Arrow.

The original values stay in the table (golden records are built from them); matching uses the
``*_std`` columns this module adds.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from laketown.errors import LaketownError

#: the columns a record may carry (every one nullable but the three ids and updated_at)
ATTRIBUTES = ("given_name", "surname", "email", "phone", "street", "city", "postcode", "dob")
REQUIRED = ("record_id", "source", "source_id")

#: common English given-name diminutives -> the formal name (a public-domain style list)
NICKNAMES = {
    "abby": "abigail", "al": "albert", "alex": "alexander", "andy": "andrew", "ann": "anne",
    "annie": "anne", "ben": "benjamin", "beth": "elizabeth", "betty": "elizabeth", "bill": "william",
    "billy": "william", "bob": "robert", "bobby": "robert", "cathy": "catherine", "kate": "catherine",
    "katie": "catherine", "chris": "christopher", "chuck": "charles", "charlie": "charles",
    "dan": "daniel", "danny": "daniel", "dave": "david", "davy": "david", "debbie": "deborah",
    "dick": "richard", "rick": "richard", "ricky": "richard", "rich": "richard", "don": "donald",
    "ed": "edward", "eddie": "edward", "ted": "edward", "liz": "elizabeth", "lizzie": "elizabeth",
    "frank": "francis", "fred": "frederick", "greg": "gregory", "hank": "henry", "harry": "henry",
    "jack": "john", "johnny": "john", "jim": "james", "jimmy": "james", "jamie": "james",
    "jen": "jennifer", "jenny": "jennifer", "jeff": "jeffrey", "jerry": "gerald", "joe": "joseph",
    "joey": "joseph", "jon": "jonathan", "josh": "joshua", "kathy": "katherine", "ken": "kenneth",
    "kim": "kimberly", "larry": "lawrence", "len": "leonard", "leo": "leonard", "maggie": "margaret",
    "meg": "margaret", "peggy": "margaret", "matt": "matthew", "mike": "michael", "mick": "michael",
    "mickey": "michael", "nate": "nathan", "nick": "nicholas", "pat": "patricia", "patty": "patricia",
    "pete": "peter", "phil": "philip", "ray": "raymond", "ron": "ronald", "ronnie": "ronald",
    "sam": "samuel", "sammy": "samuel", "sandy": "sandra", "steve": "steven", "stevie": "steven",
    "sue": "susan", "susie": "susan", "suzy": "susan", "terry": "terence", "tim": "timothy",
    "timmy": "timothy", "tom": "thomas", "tommy": "thomas", "tony": "anthony", "vicky": "victoria",
    "will": "william", "willy": "william", "zach": "zachary", "becky": "rebecca", "bec": "rebecca",
    "cindy": "cynthia", "dot": "dorothy", "dottie": "dorothy", "ellie": "eleanor", "nell": "eleanor",
    "gus": "augustus", "jo": "joanne", "lou": "louis", "mandy": "amanda", "manny": "emmanuel",
    "molly": "mary", "polly": "mary", "nancy": "ann", "ollie": "oliver", "russ": "russell",
    "stan": "stanley", "val": "valerie", "wes": "wesley", "fran": "frances", "gabe": "gabriel",
    "izzy": "isabella", "bella": "isabella", "jess": "jessica", "jessie": "jessica", "liv": "olivia",
    "max": "maximilian", "mel": "melissa", "nat": "natalie", "rob": "robert", "robbie": "robert",
    "sophie": "sophia", "tina": "christina", "chrissy": "christina", "trish": "patricia",
}

#: street-type words -> one spelling (USPS style abbreviations)
STREET_WORDS = {
    "street": "st", "str": "st", "road": "rd", "avenue": "ave", "av": "ave", "drive": "dr",
    "lane": "ln", "place": "pl", "court": "ct", "crescent": "cres", "boulevard": "blvd",
    "terrace": "tce", "circuit": "cct", "highway": "hwy", "square": "sq", "parade": "pde",
    "close": "cl", "way": "wy", "north": "n", "south": "s", "east": "e", "west": "w",
    "apartment": "apt", "unit": "unit", "suite": "ste",
}


class RecordsError(LaketownError, ValueError):
    """Input records miss a required column or have duplicate record ids."""


def _word_map_sql(mapping: dict[str, str]) -> str:
    """A DuckDB MAP literal for a small lookup (values are plain words, no quoting issues)."""
    keys = ", ".join(f"'{k}'" for k in mapping)
    vals = ", ".join(f"'{v}'" for v in mapping.values())
    return f"MAP([{keys}], [{vals}])"


def _check(records: pa.Table) -> pa.Table:
    missing = [c for c in (*REQUIRED, "updated_at") if c not in records.column_names]
    if missing:
        raise RecordsError(
            f"records miss the column(s) {', '.join(missing)}; columns given: {', '.join(records.column_names)}. "
            f"Give record_id, source, source_id, updated_at and any of {', '.join(ATTRIBUTES)}"
        )
    for col in ATTRIBUTES:
        if col not in records.column_names:
            records = records.append_column(col, pa.nulls(records.num_rows, pa.string()))
    return records


def _sql() -> str:
    cast = {c: f"CAST({c} AS VARCHAR)" for c in ATTRIBUTES}
    name = "nullif(regexp_replace(lower(strip_accents(trim({c}))), '[^a-z]', '', 'g'), '')"
    nick = _word_map_sql(NICKNAMES)
    words = _word_map_sql(STREET_WORDS)
    return f"""
    WITH base AS (
      SELECT * REPLACE ({', '.join(f'{v} AS {k}' for k, v in cast.items())},
             CAST(updated_at AS TIMESTAMPTZ) AS updated_at)
      FROM records
    )
    SELECT *,
      coalesce({nick}[{name.format(c='given_name')}], {name.format(c='given_name')}) AS given_std,
      {name.format(c='surname')} AS surname_std,
      nullif(lower(trim(email)), '') AS email_std,
      nullif(right(regexp_replace(phone, '[^0-9]', '', 'g'), 10), '') AS phone_std,
      nullif(array_to_string(list_transform(
          string_split_regex(regexp_replace(lower(strip_accents(trim(street))), '[^a-z0-9 ]', ' ', 'g'), '\\s+'),
          w -> coalesce({words}[w], w)), ' ').trim(), '') AS street_std,
      {name.format(c='city')} AS city_std,
      nullif(upper(regexp_replace(postcode, '[^A-Za-z0-9]', '', 'g')), '') AS postcode_std,
      CAST(coalesce(try_strptime(trim(dob), '%Y-%m-%d'), try_strptime(trim(dob), '%Y%m%d'),
                    try_strptime(trim(dob), '%d/%m/%Y'))::DATE AS VARCHAR) AS dob_std
    FROM base
    """


_VIEW = "__laketown_standardized"


def standardize(records: pa.Table, con: duckdb.DuckDBPyConnection | None = None) -> pa.Table:
    """The record columns (ids, :data:`ATTRIBUTES` as strings, ``updated_at`` in UTC) plus the
    ``*_std`` matching columns; rows keep their order; other columns are dropped. Duplicate
    ``record_id`` values are an error. ``con`` reuses a DuckDB connection for many small calls
    (the SQL is then parsed once, into a view)."""
    records = _check(records).select([*REQUIRED, *ATTRIBUTES, "updated_at"])
    own = con is None
    if con is None:
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
    con.register("records", records)
    if records.num_rows > 1:
        dupes = con.execute(
            "SELECT record_id, count(*) FROM records GROUP BY 1 HAVING count(*) > 1 ORDER BY 1 LIMIT 3"
        ).fetchall()
        if dupes:
            raise RecordsError(
                f"record_id must be unique; {dupes[0][0]!r} appears {dupes[0][1]} times. "
                "Keep the newest version of each record (record_id = '<source>:<source_id>')"
            )
    if own:
        out = con.execute(_sql()).to_arrow_table()
        con.close()
        return out
    try:
        out = con.execute(f"SELECT * FROM {_VIEW}").to_arrow_table()
    except duckdb.CatalogException:  # first call on this connection
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"CREATE TEMP VIEW {_VIEW} AS {_sql()}")
        out = con.execute(f"SELECT * FROM {_VIEW}").to_arrow_table()
    con.unregister("records")
    return out


#: matching columns that :func:`standardize` adds
STD_COLUMNS = ("given_std", "surname_std", "email_std", "phone_std", "street_std", "city_std", "postcode_std", "dob_std")
