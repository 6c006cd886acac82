import pytest

from laketown.apps.fraud.decisions import Condition, Rule, RuleError, RuleSet, RuleStore


def test_conditions_evaluate_comparisons_boolean_logic_and_arithmetic():
    env = {"fraud_probability": 0.95, "anomaly_score": 0.85, "amount": 600.0, "country": "FR"}
    assert Condition("fraud_probability > 0.9")(env)
    assert Condition("anomaly_score > 0.8 and amount > 500")(env)
    assert not Condition("anomaly_score > 0.9 or amount < 10")(env)
    assert Condition("not (amount <= 500)")(env)
    assert Condition("amount > 5 * 100 and country == 'FR'")(env)
    assert Condition("0.5 < fraud_probability <= 1")(env)


def test_missing_values_never_match_and_division_by_zero_is_no_match():
    assert not Condition("ratio > 2")({"ratio": None})
    assert not Condition("amount / count > 1")({"amount": 5, "count": 0})


@pytest.mark.parametrize(
    "text",
    ["__import__('os').system('x')", "amount.__class__", "[1, 2]", "amount if True else 0", "lambda: 1",
     "f'{amount}'", "amount ** 2", "amount in (1, 2)"],
)
def test_anything_outside_the_allow_list_is_refused(text):
    with pytest.raises(RuleError, match="not allowed"):
        Condition(text)


def test_syntax_errors_and_unknown_variables_are_named():
    with pytest.raises(RuleError, match="cannot parse"):
        Condition("amount >")
    with pytest.raises(RuleError, match="unknown variable 'amout'"):
        Condition("amout > 5", variables=["amount", "fraud_probability"])


def test_first_matching_rule_wins_and_is_reported():
    rs = RuleSet([Rule("block_high", "fraud_probability > 0.9", "block"),
                  Rule("review_odd", "anomaly_score > 0.8 and amount > 500", "review")], version=3)
    assert rs.decide({"fraud_probability": 0.95, "anomaly_score": 0.9, "amount": 900}).rule == "block_high"
    d = rs.decide({"fraud_probability": 0.1, "anomaly_score": 0.9, "amount": 900})
    assert (d.outcome, d.rule, d.rule_set) == ("review", "review_odd", "fraud@v3")
    assert rs.decide({"fraud_probability": 0.1, "anomaly_score": 0.1, "amount": 1}).outcome == "approve"


def test_bad_outcome_is_refused():
    with pytest.raises(RuleError, match="outcome 'deny'"):
        RuleSet([Rule("x", "amount > 1", "deny")])


def test_rule_store_versions_never_overwrite(ws):
    store = RuleStore(ws)
    assert store.load().label == "fraud@v1"  # built-in rules before anything is stored
    v1 = store.save({"rules": [{"name": "a", "condition": "amount > 1", "outcome": "review"}]})
    v2 = store.save({"rules": [{"name": "b", "condition": "amount > 2", "outcome": "block"}], "default": "approve"})
    assert (v1.version, v2.version) == (1, 2)
    assert store.load().rules[0].name == "b"
    assert store.load(1).rules[0].name == "a"
    with pytest.raises(RuleError, match="versions: 1, 2"):
        store.load(9)
