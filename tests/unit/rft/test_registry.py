import re

import boto3
import pytest
from moto import mock_aws

from rft.errors import PromotionRefusedError, RftError, UnknownModelError
from rft.records import STATUS_TRAINED, EvaluationSummary, ModelRecord
from rft.registry import ModelRegistry


def model(name: str, **overrides) -> ModelRecord:
    values = {
        "name": name,
        "environment": "staging",
        "provider": "mantle",
        "region": "us-west-2",
        "model_id": f"openai.gpt-oss-20b:ft:{name}",
        "base_model": "openai.gpt-oss-20b",
        "reward": "gsm8k",
        "job_id": f"ftjob-{name}",
        "base_url": "https://bedrock-mantle.us-west-2.api.aws/v1",
    }
    values.update(overrides)
    return ModelRecord(**values)


def evaluation(name: str, mean: float, reward: str = "gsm8k") -> EvaluationSummary:
    return EvaluationSummary(
        name=name, reward=reward, mean_reward=mean, samples=100, dataset="s3://ds/test.jsonl"
    )


@pytest.fixture
def ssm():
    with mock_aws():
        yield boto3.client("ssm", region_name="us-west-2")


@pytest.fixture
def registry(ssm):
    registry = ModelRegistry(ssm, "staging")
    for name in ("m1", "m2", "m3"):
        registry.put_model(model(name))
    return registry


def test_put_get_list(registry, ssm):
    assert registry.get_model("m1") == model("m1")
    assert [r.name for r in registry.list_models()] == ["m1", "m2", "m3"]
    stored = ssm.get_parameter(Name="/rft/staging/models/m2")["Parameter"]
    assert ModelRecord.from_json(stored["Value"]).model_id == "openai.gpt-oss-20b:ft:m2"
    # another environment sees nothing
    assert ModelRegistry(ssm, "prod").list_models() == []


def test_list_pages_through_many_models(ssm):
    registry = ModelRegistry(ssm, "staging")
    for i in range(23):
        registry.put_model(model(f"m{i:02d}"))
    assert len(registry.list_models()) == 23
    assert registry.model_names()[:2] == ["m00", "m01"]


def test_a_record_of_another_environment_is_refused(registry):
    with pytest.raises(RftError, match="belongs to 'prod'"):
        registry.put_model(model("x", environment="prod"))


def test_large_records_are_trimmed_on_put(registry, ssm):
    series = [[i, 0.5] for i in range(2000)]
    stored = registry.put_model(model("big", metrics={"series": {"critic_rewards_mean": series}}))
    assert stored.metrics["trimmed"] == "series thinned"
    value = ssm.get_parameter(Name="/rft/staging/models/big")["Parameter"]["Value"]
    assert len(value.encode()) <= 8192
    assert registry.get_model("big") == stored


def test_unknown_model_names_what_exists(registry):
    with pytest.raises(UnknownModelError) as caught:
        registry.get_model("nope")
    assert "No model named 'nope' in environment 'staging'; models: m1, m2, m3" in str(caught.value)


def test_aliases_resolve_to_records(registry):
    registry.set_alias("prod", "m1", by="alice", reason="first")
    assert registry.resolve("prod") == model("m1")
    assert registry.resolve("m2") == model("m2")
    assert registry.get_alias("prod").model == "m1"
    assert list(registry.list_aliases()) == ["prod"]


def test_resolve_unknown_and_dangling(registry, ssm):
    with pytest.raises(UnknownModelError, match="No model or alias named 'ghost'"):
        registry.resolve("ghost")
    with pytest.raises(UnknownModelError, match="not a valid name"):
        registry.resolve("not/a/name")
    ssm.put_parameter(Name="/rft/staging/aliases/old", Value="deleted-model", Type="String")
    with pytest.raises(UnknownModelError, match="Alias 'old' points at 'deleted-model'"):
        registry.resolve("old")


def test_a_hand_written_alias_value_still_resolves(registry, ssm):
    ssm.put_parameter(Name="/rft/staging/aliases/manual", Value="m3", Type="String")
    assert registry.resolve("manual").name == "m3"


def test_set_alias_rules(registry):
    registry.put_model(model("cold", provider="bedrock", status=STATUS_TRAINED, base_url=None))
    with pytest.raises(RftError, match="not callable"):
        registry.set_alias("prod", "cold", by="a", reason="r")
    with pytest.raises(RftError, match="already a model name"):
        registry.set_alias("m2", "m1", by="a", reason="r")
    with pytest.raises(RftError, match="needs a reason"):
        registry.set_alias("prod", "m1", by="a", reason=" ")
    with pytest.raises(UnknownModelError):
        registry.set_alias("prod", "missing", by="a", reason="r")


def test_history_records_who_when_why_newest_first(registry):
    registry.set_alias("prod", "m1", by="alice", reason="first")
    registry.set_alias("prod", "m2", by="bob", reason="better", forced=True)
    history = registry.alias_history("prod")
    assert [(e.model, e.previous, e.by, e.reason, e.forced) for e in history] == [
        ("m2", "m1", "bob", "better", True),
        ("m1", None, "alice", "first", False),
    ]
    assert [e.version for e in history] == [2, 1]
    assert all(e.at.endswith("Z") for e in history)
    assert history[0].modified_by  # SSM's own record of the caller
    assert registry.alias_history("never") == []


def test_evaluations(registry):
    assert registry.get_evaluation("m1") is None
    registry.put_evaluation(evaluation("m1", 0.7))
    assert registry.get_evaluation("m1").mean_reward == 0.7
    with pytest.raises(UnknownModelError):
        registry.put_evaluation(evaluation("missing", 0.7))
    with pytest.raises(RftError, match="no finite mean"):
        registry.put_evaluation(evaluation("m1", float("nan")))


def test_promotion_needs_an_evaluation(registry):
    with pytest.raises(PromotionRefusedError, match="'m1' has no evaluation report; run `rft eval m1` first"):
        registry.promote("m1", "prod", by="alice")
    assert registry.get_alias("prod") is None


def test_first_promotion_then_better_and_equal_are_allowed(registry):
    registry.put_evaluation(evaluation("m1", 0.70))
    registry.put_evaluation(evaluation("m2", 0.80))
    registry.put_evaluation(evaluation("m3", 0.80))
    first = registry.promote("m1", "prod", by="alice")
    assert first.reason == "promoted: 'prod' is new"
    second = registry.promote("m2", "prod", by="alice")
    assert second.previous == "m1" and "0.8000 of 'm2' is not below 0.7000 of 'm1'" in second.reason
    assert registry.promote("m3", "prod", by="bob").model == "m3"  # equal is not below
    assert registry.resolve("prod").name == "m3"


def test_a_worse_model_is_refused_unless_forced_with_a_reason(registry):
    registry.put_evaluation(evaluation("m1", 0.80))
    registry.put_evaluation(evaluation("m2", 0.60))
    registry.promote("m1", "prod", by="alice")
    decision = registry.check_promotion("m2", "prod")
    assert (decision.allowed, decision.candidate_mean, decision.current_model, decision.current_mean) == (
        False,
        0.60,
        "m1",
        0.80,
    )
    with pytest.raises(
        PromotionRefusedError, match=re.escape("mean reward 0.6000 of 'm2' is below 0.8000 of 'm1'")
    ):
        registry.promote("m2", "prod", by="bob")
    with pytest.raises(PromotionRefusedError, match="needs a reason"):
        registry.promote("m2", "prod", by="bob", force_reason="  ")
    assert registry.get_alias("prod").model == "m1"
    forced = registry.promote("m2", "prod", by="bob", force_reason="rollback drill")
    assert forced.forced and forced.reason.startswith("forced: rollback drill (rule: mean reward 0.6000")
    latest = registry.alias_history("prod")[0]
    assert (latest.model, latest.by, latest.forced) == ("m2", "bob", True)


def test_different_rewards_are_not_compared(registry):
    registry.put_evaluation(evaluation("m1", 0.5, reward="gsm8k"))
    registry.put_evaluation(evaluation("m2", 0.9, reward="strict"))
    registry.promote("m1", "prod", by="a")
    with pytest.raises(PromotionRefusedError, match="evaluate both with the same reward"):
        registry.promote("m2", "prod", by="a")


def test_a_target_without_evaluation_has_nothing_to_beat(registry):
    registry.set_alias("prod", "m1", by="a", reason="manual")
    registry.put_evaluation(evaluation("m2", 0.1))
    assert registry.check_promotion("m2", "prod").allowed
    assert "has no evaluation to compare with" in registry.promote("m2", "prod", by="a").reason


def test_promoting_the_current_target_again_is_allowed(registry):
    registry.put_evaluation(evaluation("m1", 0.5))
    registry.promote("m1", "prod", by="a")
    assert registry.check_promotion("m1", "prod").reason == "'prod' already points at 'm1'"


def count_calls(ssm) -> list[str]:
    calls: list[str] = []
    ssm.meta.events.register("before-call.ssm.*", lambda model, **_: calls.append(model.name))
    return calls


@pytest.mark.parametrize(
    ("name", "expected_calls"),
    [("ghost", ["GetParameters"]), ("not/a/name", []), ("x" * 1_000_000, []), (["unhashable"], [])],
)
def test_an_unknown_or_invalid_name_costs_at_most_one_call_and_builds_no_listing(
    registry, ssm, name, expected_calls
):
    calls = count_calls(ssm)
    with pytest.raises(UnknownModelError) as caught:
        registry.resolve(name)
    assert calls == expected_calls
    assert len(str(caught.value)) < 200


def test_a_known_name_costs_one_call_and_an_alias_two(registry, ssm):
    registry.set_alias("prod", "m1", by="alice", reason="first")
    calls = count_calls(ssm)
    assert registry.resolve("m2").name == "m2"
    assert calls == ["GetParameters"]
    calls.clear()
    assert registry.resolve("prod").name == "m1"
    assert calls == ["GetParameters", "GetParameter"]


def test_the_cli_still_gets_a_listing_for_a_person(registry):
    with pytest.raises(UnknownModelError, match="models: m1, m2"):
        registry.resolve("ghost", listing=True)


@pytest.mark.parametrize("reason", ["line\nbreak", "bell\a", "x" * 501, "bad \udc80 bytes"])
def test_a_reason_that_could_not_be_stored_or_printed_is_refused_before_the_alias_moves(registry, reason):
    with pytest.raises(RftError, match="reason"):
        registry.promote("m1", "prod", by="alice", force_reason=reason)
    assert registry.get_alias("prod") is None
