import json

import pytest

from rft import assumptions
from rft.errors import RftError, ValidationError
from rft.hyperparameters import DEFAULTS, Hyperparameters, load_file, parse_assignments, to_mantle


def fields_of(exc: ValidationError) -> list[str]:
    return [p.field for p in exc.problems]


def test_valid_values_are_kept_in_canonical_order():
    hp = Hyperparameters.from_dict({"learningRate": 1e-4, "epochCount": 3, "reasoningEffort": "high"})
    assert list(hp.to_dict()) == ["epochCount", "learningRate", "reasoningEffort"]
    assert hp.to_dict()["learningRate"] == 1e-4


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("epochCount", 1),
        ("epochCount", 50),
        ("batchSize", 16),
        ("batchSize", 512),
        ("learningRate", 1e-7),
        ("learningRate", 1e-3),
        ("trainingSamplePerPrompt", 2),
        ("trainingSamplePerPrompt", 16),
        ("evalInterval", 1),
        ("evalInterval", 100),
        ("maxPromptLength", 8192),
        ("inferenceMaxTokens", 1),
        ("reasoningEffort", "low"),
    ],
)
def test_range_edges_are_accepted(name, value):
    assert Hyperparameters.from_dict({name: value}).to_dict() == {name: value}


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("epochCount", 0, "out of range: must be an integer from 1 to 50"),
        ("epochCount", 51, "out of range"),
        ("epochCount", 2.5, "is not an integer"),
        ("epochCount", True, "is not an integer"),
        ("epochCount", "3", "is not an integer"),
        ("batchSize", 15, "from 16 to 512"),
        ("batchSize", 513, "out of range"),
        ("learningRate", 2e-3, "from 1e-07 to 0.001"),
        ("learningRate", float("nan"), "is not a number"),
        ("trainingSamplePerPrompt", 1, "from 2 to 16"),
        ("evalInterval", 101, "from 1 to 100"),
        ("maxPromptLength", 0, "integer from 1 to 262144"),
        ("inferenceMaxTokens", -5, "integer from 1 to 262144"),
        ("maxPromptLength", 262_145, "integer from 1 to 262144"),
        ("inferenceMaxTokens", 10**9, "integer from 1 to 262144"),
        ("reasoningEffort", "extreme", "one of low, medium, high"),
    ],
)
def test_out_of_range_values_name_the_field(name, value, fragment):
    with pytest.raises(ValidationError) as caught:
        Hyperparameters.from_dict({name: value})
    assert fields_of(caught.value) == [f"hyperparameters.{name}"]
    assert fragment in caught.value.problems[0].message


def test_integral_floats_are_accepted_for_integers():
    assert Hyperparameters.from_dict({"epochCount": 3.0}).to_dict() == {"epochCount": 3}


def test_every_problem_is_listed_and_unknown_names_get_a_suggestion():
    with pytest.raises(ValidationError) as caught:
        Hyperparameters.from_dict({"epoch_count": 3, "batchSize": 1, "learningRate": 1})
    assert fields_of(caught.value) == [
        "hyperparameters.epoch_count",
        "hyperparameters.batchSize",
        "hyperparameters.learningRate",
    ]
    assert "did you mean epochCount?" in caught.value.problems[0].message
    assert caught.value.total == 3


def test_not_a_mapping():
    with pytest.raises(ValidationError) as caught:
        Hyperparameters.from_dict([1, 2])
    assert fields_of(caught.value) == ["hyperparameters"]


def test_applicability_to_a_model():
    with pytest.raises(ValidationError) as caught:
        Hyperparameters.from_dict(
            {"reasoningEffort": "low"}, applicable={"epochCount", "batchSize"}, model_id="openai.gpt-oss-20b"
        )
    message = caught.value.problems[0].message
    assert "does not apply to openai.gpt-oss-20b (it takes: epochCount, batchSize)" in message


def test_defaults_fill_only_what_is_missing_and_applies():
    hp = Hyperparameters.from_dict({"batchSize": 64}).with_defaults()
    assert hp.to_dict() == {**DEFAULTS, "batchSize": 64}
    assert Hyperparameters().with_defaults({"batchSize"}).to_dict() == {"batchSize": 128}


def test_mantle_mapping():
    mapped = to_mantle({"epochCount": 2, "batchSize": 32, "learningRate": 1e-5})
    assert mapped == {"n_epochs": 2, "batch_size": 32, "learning_rate_multiplier": 0.1}
    assert to_mantle({"learningRate": assumptions.MANTLE_BASE_LEARNING_RATE}) == {
        "learning_rate_multiplier": 1.0
    }
    with pytest.raises(RftError, match="no Mantle equivalent"):
        to_mantle({"reasoningEffort": "low"})


def test_parse_assignments_types_each_value():
    parsed = parse_assignments(["epochCount=3", "learningRate=1e-4", " reasoningEffort = medium "])
    assert parsed == {"epochCount": 3, "learningRate": 1e-4, "reasoningEffort": "medium"}
    assert isinstance(parsed["epochCount"], int)


def test_parse_assignments_errors():
    with pytest.raises(ValidationError) as caught:
        parse_assignments(
            ["epochCount", "batchSize=big", "learningrate=1e-4", "epochCount=2.5", "batchSize=8"]
        )
    problems = [(p.field, p.message) for p in caught.value.problems]
    assert problems[0] == ("hyperparameters", "'epochCount' is not name=value (e.g. epochCount=3)")
    assert problems[1][0] == "hyperparameters.batchSize" and "'big' is not an integer" in problems[1][1]
    assert "did you mean learningRate?" in problems[2][1]
    assert problems[3][0] == "hyperparameters.epochCount"
    assert len(problems) == 4  # the range check runs once the words parse
    with pytest.raises(ValidationError, match="batchSize: 8 is out of range"):
        parse_assignments(["batchSize=8"])


def test_load_file(tmp_path):
    path = tmp_path / "hp.json"
    path.write_text(json.dumps({"epochCount": 4, "batchSize": 64}))
    assert load_file(path) == {"epochCount": 4, "batchSize": 64}
    path.write_text("{\n  'epochCount': 4\n}")
    with pytest.raises(ValidationError, match="not valid JSON") as caught:
        load_file(path)
    assert caught.value.problems[0].line == 2
    with pytest.raises(RftError, match="Cannot read the hyperparameters file"):
        load_file(tmp_path / "missing.json")
    path.write_text(json.dumps({"epochCount": 99}))
    with pytest.raises(ValidationError, match=r"hyperparameters\.epochCount"):
        load_file(path)
