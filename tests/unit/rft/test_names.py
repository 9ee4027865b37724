"""Names the stacks, the Lambdas and the client share: one rule each, the same answer everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from rft import names, records
from rft.environment import connect
from rft.errors import RftError
from rft.preflight import PreflightError, available_rewards, load_handler
from stacks.config import ConfigError, load_environment
from tests.infra.helpers import cdk_context


@pytest.mark.parametrize("name", ["Staging", "dev_1", "x" * 21, "1st", ""])
def test_a_name_no_environment_can_have_is_refused_by_config_client_and_registry_alike(name: str) -> None:
    values = cdk_context()["environments"]["staging"]
    with pytest.raises(ConfigError):
        load_environment(name, values)
    with pytest.raises(RftError, match="not an environment name"):
        connect(name, region="us-west-2")
    with pytest.raises(RftError, match="not a valid environment name"):
        records.model_parameter_name(name, "run-1")


def test_ssm_paths_and_their_iam_resources() -> None:
    assert records.model_parameter_name("staging", "run-1") == "/rft/staging/models/run-1"
    assert records.alias_parameter_name("prod", "live") == "/rft/prod/aliases/live"
    assert names.parameter_path("staging", names.GRADERS) == "/rft/staging/graders"
    assert names.parameter_resource("staging", names.MODELS) == "parameter/rft/staging/models/*"


def _folder(root: Path, name: str) -> None:
    (root / name).mkdir()
    (root / name / names.HANDLER_FILE).write_text("def handler(event, context): ...\n")


def test_the_client_and_the_stack_agree_on_what_a_grader_folder_is(tmp_path: Path) -> None:
    for name in ("common", "math_answer", "json_schema"):
        _folder(tmp_path, name)
    (tmp_path / "notes").mkdir()
    assert available_rewards(tmp_path) == ["json_schema", "math_answer"]
    assert names.discover_graders(tmp_path) == ("json_schema", "math_answer")
    _folder(tmp_path, "Math-Answer")
    # The stack refuses to deploy it; the client used to skip it silently (another regex).
    with pytest.raises(names.GraderFolderError, match="Math-Answer: a grader folder name must be"):
        available_rewards(tmp_path)


@pytest.mark.parametrize("reward", ["common", "Math", "a" * 64, "../x"])
def test_a_reward_name_that_cannot_be_a_grader_is_refused(reward: str) -> None:
    assert not names.is_grader_name(reward)
    with pytest.raises(PreflightError, match="not a reward folder name"):
        load_handler(reward)
