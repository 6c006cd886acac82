"""IoT-SQL rules: parsing, clear syntax errors, evaluation on batches."""

from __future__ import annotations

import pyarrow as pa
import pytest

from laketown.apps.iot.rules import Rule, RuleSyntaxError, parse, topic_matches


def _batch():
    return pa.table({
        "topic": ["plant/p1/telemetry", "plant/p2/telemetry", "other/p3/telemetry", "plant/p4/telemetry"],
        "a": [1, 2, 3, 4], "b": [1.5, 2.0, 3.0, None], "temp": [60.0, 40.0, 70.0, None],
    })


def test_select_with_arithmetic_alias_and_where():
    rule = Rule("hot", "SELECT a, b*2 AS c FROM 'plant/+/telemetry' WHERE temp > 50", "hot")
    assert rule.apply(_batch()).to_pylist() == [{"a": 1, "c": 3.0}]


def test_null_comparison_is_not_true_and_is_null_works():
    rule = Rule("r", "SELECT a FROM 'plant/#' WHERE temp IS NULL OR NOT temp < 50", "s")
    assert rule.apply(_batch()).column("a").to_pylist() == [1, 4]


def test_topic_function_and_star_and_precedence():
    rule = Rule("r", "SELECT topic(2) AS dev, 1 + 2 * 3 AS k FROM 'plant/+/telemetry' WHERE a = 2", "s")
    assert rule.apply(_batch()).to_pylist() == [{"dev": "p2", "k": 7}]
    star = Rule("s", "select * from 'plant/p1/telemetry'", "s")
    assert star.apply(_batch()).num_rows == 1


def test_missing_field_is_null_not_an_error():
    rule = Rule("r", "SELECT a, nothere AS z FROM '#' WHERE nothere > 1 OR a >= 3", "s")
    assert rule.apply(_batch()).to_pylist() == [{"a": 3, "z": None}, {"a": 4, "z": None}]


@pytest.mark.parametrize("sql, message, pos", [
    ("SELECT a FROM plant", "expected a quoted topic filter", 15),
    ("SELECT a + FROM 'x'", "expected a value", 12),
    ("SELECT a*2 FROM 'x'", "needs a name", 8),
    ("SELECT a FROM 'a/#/b'", "is not valid", 15),
    ("SELECT evil(a) AS x FROM 'x'", "unknown function 'evil'", 8),
    ("SELECT a FROM 'x' WHERE a > 1 extra", "expected end of statement, got 'extra'", 31),
    ("SELECT a FROM 'x' WHERE a > 'open", "unterminated string", 29),
    ("SELECT a FROM 'x' WHERE a ; 1", "unexpected character ';'", 27),
    ("", "empty rule statement", 1),
])
def test_syntax_errors_name_the_problem_and_position(sql, message, pos):
    with pytest.raises(RuleSyntaxError) as err:
        parse(sql)
    assert message in str(err.value)
    assert f"position {pos}" in str(err.value)


def test_no_python_evaluation_is_possible():
    with pytest.raises(RuleSyntaxError):
        parse("SELECT __import__('os') AS x FROM 'x'")


def test_topic_filter_matching():
    assert topic_matches("devices/+/telemetry", "devices/d1/telemetry")
    assert not topic_matches("devices/+/telemetry", "devices/d1/telemetry/x")
    assert topic_matches("devices/#", "devices/d1/a/b")
    assert not topic_matches("devices/d1/#", "devices/d2/x")
