import pytest

from rft.health import GuardSettings
from stacks.config import ConfigError, load_environment, load_environments
from tests.infra.helpers import cdk_context, settings


def test_cdk_json_environments_load_with_their_settings():
    environments = load_environments(cdk_context()["environments"])
    assert set(environments) == {"staging", "prod"}
    assert environments["prod"].retain_data is True
    assert environments["staging"].retain_data is False
    assert environments["prod"].log_retention_days == 365
    assert environments["staging"].tags["cost-centre"] == "ml-platform"
    assert environments["prod"].rewards.reserved_concurrency == 50


def test_defaults_fill_optional_settings():
    env = load_environment(
        "dev",
        {"region": "us-west-2", "notification_emails": ["a@b.io"], "allowed_base_models": ["qwen.qwen3-32b"]},
    )
    assert env.account is None
    assert env.log_retention_days == 30
    assert env.gateway.throttle_burst_limit == 40
    # us-west-2 has Nova Lite on demand only through the US inference profile.
    assert env.rewards.judge_model_ids == ("us.amazon.nova-lite-v1:0",)
    assert env.training.auto_stop is True
    assert env.training.guard == GuardSettings()


def test_the_default_judge_is_one_the_region_can_call():
    east = settings(
        "staging",
        region="us-east-1",
        allowed_base_models=["amazon.nova-2-lite-v1:0:256k"],
        rewards={"judge_model_ids": []},
    )
    assert east.rewards.judge_model_ids == ("amazon.nova-lite-v1:0",)


@pytest.mark.parametrize(
    ("judges", "setting", "fragment"),
    [
        # The old default: Converse in us-west-2 refuses the bare id, so every llm_judge sample scored 0.
        (["amazon.nova-lite-v1:0"], "rewards.judge_model_ids[0]", "call it as us.amazon.nova-lite-v1:0"),
        (
            ["us.amazon.nova-lite-v1:0", "eu.amazon.nova-lite-v1:0"],
            "rewards.judge_model_ids[1]",
            "cannot be called from us-west-2",
        ),
        (["us.amazon.nova-lite-v1:0", "gpt-5"], "rewards.judge_model_ids[1]", "Unknown judge model 'gpt-5'"),
    ],
)
def test_a_judge_model_the_region_cannot_call_fails_synth_naming_the_setting(judges, setting, fragment):
    with pytest.raises(ConfigError) as caught:
        settings("staging", rewards={"judge_model_ids": judges})
    assert caught.value.setting == setting
    assert fragment in str(caught.value)


def test_guard_settings_override_the_defaults_one_by_one():
    env = settings(
        "staging", training={"auto_stop": False, "guard": {"window": 8, "stop_on": ["reward_zero"]}}
    )
    assert env.training.auto_stop is False
    assert env.training.guard.window == 8 and env.training.guard.stop_on == ("reward_zero",)
    assert env.training.guard.zero_min_steps == GuardSettings().zero_min_steps


@pytest.mark.parametrize(
    ("overrides", "setting", "fragment"),
    [
        ({"regoin": "us-east-1"}, "regoin", "unknown setting"),
        ({"region": "mars-1"}, "region", "AWS region"),
        ({"region": 12}, "region", "must be str"),
        ({"notification_emails": [""]}, "notification_emails[0]", "must not be empty"),
        ({"notification_emails": []}, "notification_emails", "e-mail"),
        ({"notification_emails": ["not-an-address"]}, "notification_emails", "e-mail"),
        ({"retain_data": "yes"}, "retain_data", "must be bool"),
        ({"log_retention_days": 31}, "log_retention_days", "must be one of"),
        ({"account": "12345"}, "account", "12 digits"),
        ({"rewards": {"memory_mb": 64}}, "rewards.memory_mb", "128-10240"),
        ({"rewards": {"timout_seconds": 60}}, "rewards.timout_seconds", "unknown setting"),
        ({"gateway": {"jwt_issuer": "https://login.example.com"}}, "gateway.jwt_audience", "set together"),
        ({"gateway": {"jwt_audience": ["apps"]}}, "gateway.jwt_issuer", "set together"),
        (
            {"gateway": {"jwt_issuer": "http://login.example.com", "jwt_audience": ["apps"]}},
            "gateway.jwt_issuer",
            "https:// URL",
        ),
        ({"operations": {"monthly_budget_usd": "a lot"}}, "operations.monthly_budget_usd", "must be float"),
        ({"tags": {"cost-centre": 7}}, "tags.cost-centre", "must be str"),
        ({"training": {"auto_stop": "yes"}}, "training.auto_stop", "must be bool"),
        ({"training": {"guard": {"windw": 5}}}, "training.guard.windw", "unknown setting"),
        ({"training": {"guard": {"window": 5.5}}}, "training.guard.window", "must be int"),
        ({"training": {"guard": {"window": 1}}}, "training.guard", "window: must be a whole number"),
        ({"training": {"guard": {"stop_on": ["crash"]}}}, "training.guard", "stop_on: unknown finding code"),
        (
            {"training": {"guard": {"zero_reward": 2}}},
            "training.guard",
            "zero_reward: must be between 0 and 1",
        ),
    ],
)
def test_a_wrong_setting_names_environment_and_setting(overrides, setting, fragment):
    with pytest.raises(ConfigError) as caught:
        settings("staging", **overrides)
    assert caught.value.environment == "staging"
    assert caught.value.setting == setting
    message = str(caught.value)
    assert message.startswith(f"cdk.json environment 'staging', setting '{setting}'")
    assert fragment in message


def test_allowed_base_models_come_from_the_catalog_and_the_region():
    with pytest.raises(ConfigError, match=r"setting 'allowed_base_models\[1\]': Unknown base model 'gpt-5'"):
        settings("staging", allowed_base_models=["openai.gpt-oss-20b", "gpt-5"])
    with pytest.raises(ConfigError, match="not offered for RFT in us-west-2"):
        settings("staging", allowed_base_models=["amazon.nova-2-lite-v1:0:256k"])


def test_missing_required_setting():
    with pytest.raises(ConfigError, match="setting 'allowed_base_models': is required"):
        load_environment("dev", {"region": "us-west-2", "notification_emails": ["a@b.io"]})


def test_bad_environment_name_and_missing_environments():
    with pytest.raises(ConfigError, match="environment names"):
        load_environment("Prod!", {})
    with pytest.raises(ConfigError, match="non-empty 'environments'"):
        load_environments(None)


def test_settings_are_frozen():
    env = settings("staging")
    with pytest.raises(AttributeError):
        env.region = "eu-west-1"
    with pytest.raises(TypeError):
        env.tags["x"] = "y"
