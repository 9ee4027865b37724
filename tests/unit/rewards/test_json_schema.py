"""json_schema: strict parsing, schema validation, field credit."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pytest

from lambda_rewards.json_schema import handler as js
from lambda_rewards.json_schema.handler import StrictJSONError, extract_json_text, field_credit, strict_loads
from tests.unit.rewards.conftest import make_sample, metric_names

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}},
        "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}
EXPECTED = {"name": "Ann", "age": 30, "tags": ["a", "b"]}
REFERENCE = {"schema": SCHEMA, "expected": EXPECTED}


def grade(response: str, reference=REFERENCE) -> dict:
    with redirect_stdout(io.StringIO()):
        return js.handler([make_sample(response, reference)], None)[0]


@pytest.mark.parametrize(
    "response",
    [
        json.dumps(EXPECTED),
        "```json\n" + json.dumps(EXPECTED, indent=2) + "\n```",
        "Here it is:\n```\n" + json.dumps(EXPECTED) + "\n```\nDone.",
        "<think>plan the object</think>\n" + json.dumps(EXPECTED),
        json.dumps({"tags": ["a", "b"], "age": 30.0, "name": "Ann"}),
    ],
)
def test_the_expected_object_in_any_wrapping_scores_one(response):
    assert grade(response)["aggregate_reward_score"] == 1.0


def test_field_credit_is_the_share_of_expected_leaves():
    result = grade(json.dumps({"name": "Ann", "age": 31, "tags": ["a", "c"]}))
    assert result["aggregate_reward_score"] == pytest.approx(0.5)
    assert {"name": "field_credit", "value": 0.5, "type": "Metric"} in result["metrics_list"]


def test_without_expected_a_valid_object_scores_one():
    assert grade('{"name": "Zed", "age": 1}', {"schema": SCHEMA})["aggregate_reward_score"] == 1.0


def test_reference_may_be_a_json_string():
    assert grade('{"name": "Zed", "age": 1}', json.dumps({"schema": SCHEMA}))["aggregate_reward_score"] == 1.0


def test_all_or_nothing_when_field_credit_is_off(monkeypatch):
    monkeypatch.setattr(js, "FIELD_CREDIT", False)
    assert grade(json.dumps({"name": "Ann", "age": 31, "tags": ["a", "b"]}))["aggregate_reward_score"] == 0.0
    assert grade(json.dumps(EXPECTED))["aggregate_reward_score"] == 1.0


@pytest.mark.parametrize(
    ("response", "metric"),
    [
        ('{"name": "Ann", "age": NaN}', "non_finite_number"),
        ('{"name": "Ann", "age": Infinity}', "non_finite_number"),
        ('{"name": "Ann", "age": -Infinity}', "non_finite_number"),
        ('{"name": "Ann", "age": 1e999}', "non_finite_number"),
        ('{"name": "Ann", "name": "Bob", "age": 30}', "duplicate_key"),
        ('{"name": "Ann", "age": 30, "tags": [{"k": 1, "k": 2}]}', "duplicate_key"),
        ('{"name": "Ann", "age": ' + "9" * 5000 + "}", "invalid_json"),
        ("[" * 100 + "]" * 100, "too_deep"),
        ('{"a": ' * 5000 + "1" + "}" * 5000, "too_deep"),
        ('{"name": "Ann", "age": 30', "invalid_json"),
        ("Sure! " + json.dumps(EXPECTED), "invalid_json"),
        ('{"name": "' + "x" * 300_000 + '", "age": 1}', "too_large"),
        ("{'name': 'Ann', 'age': 30}", "invalid_json"),
    ],
)
def test_lenient_json_is_rejected_with_a_reason(response, metric):
    result = grade(response)
    assert result["aggregate_reward_score"] == 0.0
    assert metric in metric_names(result)


@pytest.mark.parametrize(
    "instance",
    [
        {"name": "Ann", "age": -1},
        {"name": "Ann", "age": "30"},
        {"name": "Ann", "age": True},
        {"name": "Ann"},
        {"name": "Ann", "age": 30, "extra": 1},
        {"name": "Ann", "age": 30, "code": "abcd"},
        ["name", "Ann"],
    ],
)
def test_schema_violations_score_zero(instance):
    result = grade(json.dumps(instance))
    assert result["aggregate_reward_score"] == 0.0
    assert {"name": "schema_valid", "value": 0.0, "type": "Metric"} in result["metrics_list"]


def test_a_slow_pattern_is_stopped_by_the_time_limit():
    schema = {"type": "string", "pattern": "^(a+)+$"}
    result = grade(json.dumps("a" * 40 + "!"), {"schema": schema})
    assert result["aggregate_reward_score"] == 0.0
    assert "error_timeout" in metric_names(result)


@pytest.mark.parametrize(
    "reference", ["just text", {"expected": {}}, {"schema": {"type": "no-such-type"}}, {"schema": 5}]
)
def test_a_bad_reference_is_reported(reference):
    result = grade("{}", reference)
    assert "error_bad_reference" in metric_names(result)


def test_an_empty_answer_is_no_answer():
    assert "error_no_answer" in metric_names(grade("   "))


def test_strict_loads_and_helpers():
    assert strict_loads('{"a": [1, 2.5, null, true]}') == {"a": [1, 2.5, None, True]}
    with pytest.raises(StrictJSONError):
        strict_loads('{"a": 1, "a": 1}')
    assert extract_json_text("```json\n{}\n```\n```json\n[1]\n```") == "[1]"
    assert field_credit({"a": {"b": 1, "c": True}}, {"a": {"b": 1, "c": 1}}) == pytest.approx(0.5)
    assert field_credit([1, 2], [1, 3]) == pytest.approx(0.5)
    assert field_credit(5, 5) == 1.0
