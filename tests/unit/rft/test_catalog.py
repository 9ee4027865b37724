import typing

import botocore.session
import pytest
from openai.types.fine_tuning import FineTuningJob

from rft import assumptions, catalog
from rft.errors import UnknownBaseModelError, UnknownJudgeModelError
from rft.status import DeploymentState, JobState, deployment_state, job_state


def test_the_three_models_and_their_planes():
    nova = catalog.get_model("amazon.nova-2-lite-v1:0:256k")
    assert (nova.provider, nova.needs_deployment, nova.regions) == ("bedrock", True, ("us-east-1",))
    assert "reasoningEffort" in nova.hyperparameters
    for model_id in ("openai.gpt-oss-20b", "qwen.qwen3-32b"):
        model = catalog.get_model(model_id, "us-west-2")
        assert (model.provider, model.needs_deployment) == ("mantle", False)
        assert model.hyperparameters == {"epochCount", "batchSize", "learningRate"}


def test_models_in_a_region():
    assert [m.id for m in catalog.models_in("us-west-2")] == ["openai.gpt-oss-20b", "qwen.qwen3-32b"]
    assert catalog.models_in("eu-west-1") == ()


def test_unknown_id_lists_the_known_ones():
    with pytest.raises(UnknownBaseModelError) as caught:
        catalog.get_model("amazon.nova-pro-v1:0")
    message = str(caught.value)
    assert "Unknown base model 'amazon.nova-pro-v1:0'" in message
    assert "openai.gpt-oss-20b" in message and "amazon.nova-2-lite-v1:0:256k" in message


def test_a_model_outside_its_region_is_refused_with_where_it_is():
    with pytest.raises(UnknownBaseModelError) as caught:
        catalog.get_model("openai.gpt-oss-20b", "us-east-1")
    assert "not offered for RFT in us-east-1 (it is in us-west-2)" in str(caught.value)
    assert "amazon.nova-2-lite-v1:0:256k" in str(caught.value)


def test_mantle_base_url():
    assert catalog.mantle_base_url("us-west-2") == "https://bedrock-mantle.us-west-2.api.aws/v1"


# The service statuses that mean each common state: every status the services document, and
# "paused", which Mantle does not document: an unknown word is read as running, so the watch goes on.
STATUSES_BY_STATE = [
    # (state, Bedrock's statuses, Mantle's statuses)
    (JobState.RUNNING, ("InProgress",), ("validating_files", "queued", "running", "paused")),
    (JobState.STOPPING, ("Stopping",), ()),
    (JobState.SUCCEEDED, ("Completed",), ("succeeded",)),
    (JobState.FAILED, ("Failed",), ("failed",)),
    (JobState.STOPPED, ("Stopped",), ("cancelled",)),
]


def expected_statuses(provider: str) -> list[tuple[str, JobState]]:
    column = {"bedrock": 1, "mantle": 2}[provider]
    return [(raw, row[0]) for row in STATUSES_BY_STATE for raw in row[column]]


@pytest.mark.parametrize(
    ("provider", "raw", "state"),
    [
        (provider, raw, state)
        for provider in ("bedrock", "mantle")
        for raw, state in expected_statuses(provider)
    ],
)
def test_common_job_states(provider, raw, state):
    assert job_state(provider, raw) is state


def test_every_documented_job_status_is_expected():
    """botocore's ModelCustomizationJobStatus and the openai SDK's FineTuningJob.status (which
    Mantle follows): a status they add fails here until its meaning is decided."""
    bedrock = botocore.session.get_session().get_service_model("bedrock")
    documented = set(bedrock.shape_for("ModelCustomizationJobStatus").enum)
    assert documented <= {raw for raw, _ in expected_statuses("bedrock")}
    documented = set(typing.get_args(FineTuningJob.model_fields["status"].annotation))
    assert documented <= {raw for raw, _ in expected_statuses("mantle")}


def test_terminal_states_and_deployments():
    assert [s for s in JobState if s.terminal] == [JobState.SUCCEEDED, JobState.FAILED, JobState.STOPPED]
    assert deployment_state("Active") is DeploymentState.ACTIVE
    assert deployment_state("Failed") is DeploymentState.FAILED
    with pytest.raises(ValueError):
        job_state("sagemaker", "InProgress")


def test_both_spellings_of_the_qwen_id_are_the_same_model():
    """The docs say `qwen.qwen3-32b`, the AWS sample notebook `qwen.qwen3-32b-v1:0` (rft.assumptions)."""
    documented = catalog.get_model("qwen.qwen3-32b", "us-west-2")
    assert catalog.get_model("qwen.qwen3-32b-v1:0", "us-west-2") is documented
    assert catalog.canonical_model_id("qwen.qwen3-32b-v1:0") == documented.id


def test_split_inference_profile():
    assert catalog.split_inference_profile("us.amazon.nova-lite-v1:0") == ("us", "amazon.nova-lite-v1:0")
    assert catalog.split_inference_profile("us-gov.amazon.nova-lite-v1:0") == (
        "us-gov",
        "amazon.nova-lite-v1:0",
    )
    assert catalog.split_inference_profile("apac.amazon.nova-pro-v1:0") == ("apac", "amazon.nova-pro-v1:0")
    assert catalog.split_inference_profile("amazon.nova-lite-v1:0") is None
    assert catalog.split_inference_profile("us.") is None


def test_judge_routes_say_how_each_region_calls_the_model():
    direct = catalog.judge_route("amazon.nova-lite-v1:0", "us-east-1")
    assert (direct.profile, direct.model_regions) == (None, ("us-east-1",))
    assert direct.profile_arn("aws", "us-east-1", "1") is None
    via = catalog.judge_route("us.amazon.nova-lite-v1:0", "us-west-2")
    assert via.profile == "us" and "us-west-2" in via.model_regions and "us-east-1" in via.model_regions
    assert (
        via.profile_arn("aws", "us-west-2", "1")
        == "arn:aws:bedrock:us-west-2:1:inference-profile/us.amazon.nova-lite-v1:0"
    )
    assert "arn:aws:bedrock:us-east-2::foundation-model/amazon.nova-lite-v1:0" in via.foundation_model_arns(
        "aws"
    )


def test_a_judge_id_the_region_cannot_call_says_what_would_work():
    with pytest.raises(UnknownJudgeModelError, match=r"call it as us\.amazon\.nova-lite-v1:0"):
        catalog.judge_route("amazon.nova-lite-v1:0", "us-west-2")
    with pytest.raises(UnknownJudgeModelError, match="cannot be called from eu-west-1"):
        catalog.judge_route("us.amazon.nova-lite-v1:0", "eu-west-1")
    with pytest.raises(UnknownJudgeModelError, match="known judge models"):
        catalog.judge_route("anthropic.claude-x", "us-east-1")


def test_default_judges_are_callable_where_they_are_the_default():
    assert catalog.default_judge_model("us-east-1") == "amazon.nova-lite-v1:0"
    assert catalog.default_judge_model("us-west-2") == "us.amazon.nova-lite-v1:0"
    assert catalog.default_judge_model("ap-south-2") is None
    for region in ("us-east-1", "us-east-2", "us-west-2"):
        catalog.judge_route(catalog.default_judge_model(region), region)


HAIKU = "anthropic.claude-haiku-4-5-20251001-v1:0"


@pytest.mark.parametrize("foundation", sorted(assumptions.JUDGE_MODEL_REGIONS))
def test_every_judge_entry_routes_each_way_it_says_it_is_called(foundation):
    routes = assumptions.JUDGE_MODEL_REGIONS[foundation]
    for region in routes["in_region"]:
        assert catalog.judge_route(foundation, region).profile is None
    for prefix, regions in routes["profiles"].items():
        assert prefix in catalog.INFERENCE_PROFILE_PREFIXES
        for region in regions:
            route = catalog.judge_route(f"{prefix}.{foundation}", region)
            assert route.profile == prefix and region in route.model_regions
    assert routes["in_region"] or routes["profiles"], "a judge callable nowhere"


@pytest.mark.parametrize(
    ("model_id", "region", "profile", "model_regions"),
    [
        # Claude is not on demand in-region anywhere: a geographic or the global profile.
        (f"us.{HAIKU}", "us-west-2", "us", ("us-east-1", "us-east-2", "us-west-2", "us-west-1")),
        (f"global.{HAIKU}", "us-west-2", "global", ("us-west-2",)),
        (f"global.{HAIKU}", "eu-west-2", "global", ("eu-west-2",)),
        (f"eu.{HAIKU}", "eu-west-1", "eu", assumptions.JUDGE_MODEL_REGIONS[HAIKU]["profiles"]["eu"]),
        ("us.meta.llama3-3-70b-instruct-v1:0", "us-east-2", "us", ("us-east-1", "us-east-2", "us-west-2")),
        ("mistral.mistral-large-2407-v1:0", "us-west-2", None, ("us-west-2",)),
        ("openai.gpt-oss-120b-1:0", "us-west-2", None, ("us-west-2",)),
        ("us.amazon.nova-premier-v1:0", "us-east-1", "us", ("us-east-1", "us-east-2", "us-west-2")),
        (
            "apac.amazon.nova-micro-v1:0",
            "ap-south-1",
            "apac",
            assumptions.JUDGE_MODEL_REGIONS["amazon.nova-micro-v1:0"]["profiles"]["apac"],
        ),
    ],
)
def test_judges_other_than_nova_one_are_routed(model_id, region, profile, model_regions):
    route = catalog.judge_route(model_id, region)
    assert (route.profile, route.model_regions) == (profile, model_regions)


def test_a_global_profile_names_its_model_in_the_calling_region_and_region_less():
    route = catalog.judge_route(f"global.{HAIKU}", "us-west-2")
    assert route.foundation_model == HAIKU
    assert route.foundation_model_arns("aws") == (f"arn:aws:bedrock:us-west-2::foundation-model/{HAIKU}",)
    assert route.any_region_model_arn("aws") == f"arn:aws:bedrock:::foundation-model/{HAIKU}"
    assert catalog.judge_route(f"us.{HAIKU}", "us-west-2").any_region_model_arn("aws") is None
    assert catalog.judge_route("openai.gpt-oss-20b-1:0", "us-east-1").any_region_model_arn("aws") is None


@pytest.mark.parametrize(
    ("model_id", "region", "fragment"),
    [
        # The bare Claude id is not on demand anywhere: say which profiles the region can call.
        (HAIKU, "us-east-1", rf"call it as us\.{HAIKU} or global\.{HAIKU}"),
        (f"eu.{HAIKU}", "us-east-1", r"cannot be called from us-east-1 \(it is called from eu-central-1"),
        (f"apac.{HAIKU}", "ap-south-1", "no such profile exists"),
        ("openai.gpt-oss-20b-1:0", "eu-west-1", "it is not callable there"),
    ],
)
def test_a_judge_id_a_region_cannot_call_is_refused_saying_what_would_work(model_id, region, fragment):
    with pytest.raises(UnknownJudgeModelError, match=fragment):
        catalog.judge_route(model_id, region)
