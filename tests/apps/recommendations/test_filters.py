import random

import numpy as np
import pandas as pd
import pytest

from laketown.apps.recommendations import filters
from laketown.apps.recommendations.filters import FilterError

ITEMS = pd.DataFrame({
    "item_id": ["a", "b", "c", "d"],
    "genre": ["Comedy|Drama", "Horror", "Comedy", "Drama"],
    "price": [5.0, 20.0, 50.0, 8.0],
})
EVENTS = pd.DataFrame({"i": [0, 1], "event_type": ["purchase", "click"], "value": [1.0, 1.0],
                       "timestamp": [10, 20]})


def _apply(text, values=None, user=None):
    ctx = filters.Context(ITEMS, len(ITEMS), EVENTS, user)
    return filters.apply(filters.parse(text), ctx, filters.parse_values(values)).tolist()


def test_exclude_purchased_items():
    assert _apply('EXCLUDE ItemID WHERE Interactions.event_type IN ("purchase")') == [False, True, True, True]


def test_include_by_multivalued_genre_with_parameter():
    text = "INCLUDE ItemID WHERE Items.GENRE IN ($GENRES)"
    assert _apply(text, {"GENRES": ["Drama"]}) == [True, False, False, True]
    assert _apply(text, '{"GENRES": "\\"Horror\\",\\"Comedy\\""}') == [True, True, True, False]


def test_expressions_combined_with_pipe_and_boolean_conditions():
    text = ('INCLUDE ItemID WHERE Items.price < 30 AND (Items.genre = "Comedy" OR Items.genre = "Drama") '
            '| EXCLUDE ItemID WHERE Interactions.event_type IN ("purchase")')
    assert _apply(text) == [False, False, False, True]
    assert _apply('EXCLUDE ItemID WHERE Items.genre NOT IN ("Horror")') == [False, True, False, False]


def test_users_fields_test_the_requesting_user():
    text = 'INCLUDE ItemID WHERE Items.price > 10 OR Users.segment = "vip"'
    assert _apply(text, user={"segment": "vip"}) == [True] * 4
    assert _apply(text, user={"segment": "new"}) == [False, True, True, False]


@pytest.mark.parametrize("text, position, words", [
    ('EXCLUDE ItemID WHERE Items.genre IN ("a"', 40, "expected ')'"),
    ("INCLUDE ItemID WHER Items.genre IN (\"a\")", 15, "expected WHERE"),
    ('EXCLUDE ItemID WHERE Items.genre IN ("a) ', 37, "unterminated string"),
    ("EXCLUDE ItemID WHERE Items.genre ~ 3", 33, "unexpected character"),
    ("EXCLUDE ItemID WHERE Stuff.genre = 3", 21, "expected a field"),
    ('EXCLUDE ItemID WHERE Items.genre IN ("a") |', 43, "expected EXCLUDE or INCLUDE"),
])
def test_syntax_errors_say_where(text, position, words):
    with pytest.raises(FilterError) as info:
        filters.parse(text)
    assert info.value.position == position
    assert words in str(info.value) and f"position {position}" in str(info.value)


def test_missing_parameter_unknown_field_and_type_mismatch_are_clear():
    with pytest.raises(FilterError, match=r"\$GENRES has no value"):
        _apply("INCLUDE ItemID WHERE Items.genre IN ($GENRES)")
    with pytest.raises(FilterError, match="no field 'colour'; fields: item_id, genre, price"):
        _apply('INCLUDE ItemID WHERE Items.colour = "red"')
    with pytest.raises(FilterError, match="numeric"):
        _apply('INCLUDE ItemID WHERE Items.price > "cheap"')


def test_deep_nesting_and_long_input_are_refused_not_crashing():
    with pytest.raises(FilterError, match="nested deeper"):
        filters.parse("EXCLUDE ItemID WHERE " + "(" * 500 + 'Items.a = 1' + ")" * 500)
    with pytest.raises(FilterError, match="limit"):
        filters.parse("EXCLUDE ItemID WHERE " + "Items.a = 1 OR " * 1000 + "Items.a = 1")


def test_fuzzed_strings_raise_only_filter_errors():
    rng = random.Random(1234)
    alphabet = list('()|,.$"=<>!- \\_') + ["EXCLUDE", "INCLUDE", "ItemID", "WHERE", "Items", "Interactions",
                                          "Users", "genre", "IN", "NOT", "AND", "OR", "1", "2.5", "\x00", "é", "\n"]
    base = 'EXCLUDE ItemID WHERE Items.genre IN ("a") | INCLUDE ItemID WHERE Items.price > 3'
    for _ in range(3000):
        if rng.random() < 0.5:
            text = "".join(rng.choice(alphabet) + (" " if rng.random() < 0.3 else "") for _ in range(rng.randint(0, 30)))
        else:  # mutate a valid filter
            chars = list(base)
            for _ in range(rng.randint(1, 4)):
                chars[rng.randrange(len(chars))] = rng.choice(alphabet)
            text = "".join(chars)
        try:
            parsed = filters.parse(text)
            filters.apply(parsed, filters.Context(ITEMS, 4, EVENTS, None), {"GENRES": ["x"]})
        except FilterError:
            pass


def test_filter_result_is_a_mask_over_items():
    out = filters.apply(filters.parse('EXCLUDE ItemID WHERE Items.price >= 20'), filters.Context(ITEMS, 4, EVENTS))
    assert isinstance(out, np.ndarray) and out.dtype == bool and out.tolist() == [True, False, False, True]
