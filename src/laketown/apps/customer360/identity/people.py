"""The match spec for standardized person records (Customer 360's sources)."""

from __future__ import annotations

from typing import Any

from laketown.apps.customer360.identity.model import MatchSpec
from laketown.apps.customer360.identity.standardize import STD_COLUMNS


def email_comparison(cl: Any, column: str = "email_std") -> Any:
    """splink's e-mail ladder without its term-frequency level (increments and single records
    are scored without frequency tables, so that they score exactly like a rebuild)."""
    import splink.comparison_level_library as cll
    from splink import ColumnExpression

    full = ColumnExpression(column)
    user = ColumnExpression(column).regex_extract("^[^@]+")
    return cl.CustomComparison(
        comparison_levels=[
            cll.NullLevel(full), cll.ExactMatchLevel(full),
            cll.ExactMatchLevel(user).configure(label_for_charts="Exact match on username"),
            cll.JaroWinklerLevel(full, 0.88),
            cll.JaroWinklerLevel(user, 0.88).configure(label_for_charts="Jaro-Winkler >0.88 on username"),
            cll.ElseLevel(),
        ],
        output_column_name=column,
    )


def name_comparison(cl: Any, column: str) -> Any:
    """Exact, Jaro-Winkler >= 0.92, one edit (Damerau-Levenshtein; Jaro-Winkler misses a typo
    in a short name: DuckDB scores "kim"/"km" 0.61), Jaro-Winkler >= 0.8, else."""
    import splink.comparison_level_library as cll

    return cl.CustomComparison(
        comparison_levels=[
            cll.NullLevel(column), cll.ExactMatchLevel(column),
            cll.JaroWinklerLevel(column, 0.92),
            cll.DamerauLevenshteinLevel(column, 1),
            cll.JaroWinklerLevel(column, 0.8),
            cll.ElseLevel(),
        ],
        output_column_name=column,
    )


def address_comparison(cl: Any) -> Any:
    """Street, postcode and city as one comparison: they agree or differ together (a move
    changes all three), so three independent comparisons would count one address thrice."""
    st, pc_, city = ('"street_std_{0}"', '"postcode_std_{0}"', '"city_std_{0}"')
    l, r = (lambda c: c.format("l")), (lambda c: c.format("r"))
    both = lambda c: f"{l(c)} = {r(c)}"
    return cl.CustomComparison(
        comparison_levels=[
            {"sql_condition": f"({l(st)} IS NULL OR {r(st)} IS NULL) AND ({l(pc_)} IS NULL OR {r(pc_)} IS NULL)",
             "label_for_charts": "address is NULL", "is_null_level": True},
            {"sql_condition": f"{both(st)} AND {both(pc_)}", "label_for_charts": "same street and postcode"},
            {"sql_condition": f"jaro_winkler_similarity({l(st)}, {r(st)}) >= 0.9 AND {both(pc_)}",
             "label_for_charts": "similar street, same postcode"},
            {"sql_condition": f"{both(st)} OR {both(pc_)}", "label_for_charts": "same street or postcode"},
            {"sql_condition": both(city), "label_for_charts": "same city"},
            {"sql_condition": "ELSE", "label_for_charts": "different address"},
        ],
        output_column_name="address",
    )


def person_spec(threshold: float = 0.9) -> MatchSpec:
    """Names by Jaro-Winkler and edit distance, date of birth by splink's DOB ladder, e-mail by splink's e-mail
    ladder, phone exact or one edit, street by Jaro-Winkler, city and postcode exact.
    Candidates: any of surname+dob, given+dob, e-mail, phone, given+surname+postcode."""
    return MatchSpec(
        unique_id="record_id",
        columns=list(STD_COLUMNS),
        comparisons=[
            lambda cl: name_comparison(cl, "given_std"),
            lambda cl: name_comparison(cl, "surname_std"),
            lambda cl: cl.DateOfBirthComparison("dob_std", input_is_string=True, datetime_format="%Y-%m-%d"),
            email_comparison,
            lambda cl: cl.DamerauLevenshteinAtThresholds("phone_std", [1]),
            address_comparison,
        ],
        blocking=[
            ("surname_std", "dob_std"),
            ("given_std", "dob_std"),
            ("email_std",),
            ("phone_std",),
            ("given_std", "surname_std", "postcode_std"),
        ],
        deterministic=[("given_std", "surname_std", "dob_std"), ("email_std", "dob_std")],
        em_rules=[("dob_std",), ("email_std",)],
        threshold=threshold,
    )
