"""The match spec for standardized person records (Customer 360's sources)."""

from __future__ import annotations

from typing import Any

from laketown.apps.customer360.identity.model import MatchSpec
from laketown.apps.customer360.identity.standardize import STD_COLUMNS


def _email(cl: Any) -> Any:
    """splink's e-mail ladder without its term-frequency level (increments and single records
    are scored without frequency tables, so that they score exactly like a rebuild)."""
    import splink.comparison_level_library as cll
    from splink import ColumnExpression

    full = ColumnExpression("email_std")
    user = ColumnExpression("email_std").regex_extract("^[^@]+")
    return cl.CustomComparison(
        comparison_levels=[
            cll.NullLevel(full), cll.ExactMatchLevel(full),
            cll.ExactMatchLevel(user).configure(label_for_charts="Exact match on username"),
            cll.JaroWinklerLevel(full, 0.88),
            cll.JaroWinklerLevel(user, 0.88).configure(label_for_charts="Jaro-Winkler >0.88 on username"),
            cll.ElseLevel(),
        ],
        output_column_name="email_std",
    )


def person_spec(threshold: float = 0.9) -> MatchSpec:
    """Names by Jaro-Winkler, date of birth by splink's DOB ladder, e-mail by splink's e-mail
    ladder, phone exact or one edit, street by Jaro-Winkler, city and postcode exact.
    Candidates: any of surname+dob, given+dob, e-mail, phone, given+surname+postcode."""
    return MatchSpec(
        unique_id="record_id",
        columns=list(STD_COLUMNS),
        comparisons=[
            lambda cl: cl.JaroWinklerAtThresholds("given_std", [0.92, 0.8]),
            lambda cl: cl.JaroWinklerAtThresholds("surname_std", [0.92, 0.8]),
            lambda cl: cl.DateOfBirthComparison("dob_std", input_is_string=True, datetime_format="%Y-%m-%d"),
            _email,
            lambda cl: cl.DamerauLevenshteinAtThresholds("phone_std", [1]),
            lambda cl: cl.JaroWinklerAtThresholds("street_std", [0.9, 0.7]),
            lambda cl: cl.ExactMatch("city_std"),
            lambda cl: cl.ExactMatch("postcode_std"),
        ],
        blocking=[
            ("surname_std", "dob_std"),
            ("given_std", "dob_std"),
            ("email_std",),
            ("phone_std",),
            ("given_std", "surname_std", "postcode_std"),
        ],
        deterministic=[("given_std", "surname_std", "dob_std"), ("email_std", "dob_std")],
        em_rules=[("dob_std",), ("given_std", "surname_std")],
        threshold=threshold,
    )
