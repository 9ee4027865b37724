"""`rft models promote NAME --from-env staging --env prod`: staging deployed in one account (the
`deployed` fixture), prod in another, each reached through its own AWS profile as a user types it.
moto holds both accounts; tests/fakes/bedrock_sharing the RAM shares, copy jobs and deployments."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from rft import environment as environments
from rft import model_copy
from rft.cli import common
from rft.records import EvaluationSummary, ModelRecord
from rft.registry import ModelRegistry
from tests.cli.conftest import ENV, REGION, Deployed, _stack
from tests.fakes.bedrock_sharing import SharingWorld

STAGING_ACCOUNT, PROD_ACCOUNT = "123456789012", "222222222222"  # moto's default account is staging's
NOVA = "amazon.nova-2-lite-v1:0:256k"
CROSS = ("--alias", "prod", "--env", "prod", "--profile", "prod", "--from-env", ENV, "--from-profile", ENV)


def model_arn(name: str) -> str:
    return f"arn:aws:bedrock:{REGION}:{STAGING_ACCOUNT}:custom-model/{NOVA}/{_suffix(name)}"


def _suffix(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:12]


def _profiles(path: Path, prod: dict[str, str]) -> None:
    path.write_text(
        f"[{ENV}]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
        f"[prod]\naws_access_key_id = {prod['AccessKeyId']}\n"
        f"aws_secret_access_key = {prod['SecretAccessKey']}\naws_session_token = {prod['SessionToken']}\n"
    )


@pytest.fixture
def prod(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[SharingWorld, Any]]:
    """Prod deployed in its own account; every session `rft` opens answers RAM and Bedrock from
    one world, as the account its profile belongs to."""
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{PROD_ACCOUNT}:role/platform", RoleSessionName="promoter"
    )["Credentials"]
    _profiles(tmp_path / "credentials", credentials)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    session = boto3.session.Session(profile_name="prod", region_name=REGION)
    key = session.client("kms").create_key(Description="prod data key")["KeyMetadata"]["Arn"]
    _stack(
        session.client("cloudformation"),
        "prod-Data",
        {"DatasetsBucketName": "prod-datasets", "DataKeyArn": key},
    )
    world = SharingWorld(region=REGION)
    world.key_users[deployed.key_arn] = {STAGING_ACCOUNT, PROD_ACCOUNT}

    def session_of(profile: str | None = None, region: str | None = None) -> Any:
        opened = boto3.session.Session(profile_name=profile, region_name=region)
        world.attach(opened, PROD_ACCOUNT if profile == "prod" else STAGING_ACCOUNT)
        return opened

    monkeypatch.setattr(
        common, "connect", functools.partial(environments.connect, session_factory=session_of)
    )
    for watch in ("SHARE", "COPY", "DEPLOYMENT"):  # the fake's jobs take polls, not minutes
        monkeypatch.setattr(
            model_copy, watch, dataclasses.replace(getattr(model_copy, watch), interval_s=0.0)
        )
    yield world, session


def trained(
    deployed: Deployed, world: SharingWorld, name: str, mean: float, provider: str = "bedrock"
) -> None:
    world.add_model(model_arn(name), key=deployed.key_arn)
    deployed.put_model(
        name,
        base_url=None,
        provider=provider,
        base_model=NOVA if provider == "bedrock" else "openai.gpt-oss-20b",
        model_id=f"arn:aws:bedrock:{REGION}:{STAGING_ACCOUNT}:custom-model-deployment/{_suffix(name)}",
        custom_model_arn=model_arn(name) if provider == "bedrock" else None,
        job_id=f"arn:aws:bedrock:{REGION}:{STAGING_ACCOUNT}:model-customization-job/{NOVA}/{_suffix(name)}",
    )
    deployed.registry().put_evaluation(
        EvaluationSummary(name, "math_answer", mean, 200, "s3://heldout.jsonl")
    )


def test_promote_cli_copies_a_nova_model_into_prods_account_and_moves_prods_alias(
    rft, deployed, prod
) -> None:
    world, session = prod
    trained(deployed, world, "nova-v2", 0.81)

    outcome = rft("models", "promote", "nova-v2", *CROSS)

    assert outcome.exit_code == 0, outcome.stderr
    assert f"Shared {model_arn('nova-v2')} with account {PROD_ACCOUNT}" in outcome.stderr
    assert "Copied 'nova-v2' of 'staging' into 'prod': arn:aws:bedrock:" in outcome.stderr
    assert "Alias 'prod' now points at 'nova-v2' in environment 'prod'" in outcome.stderr
    record = ModelRegistry(session.client("ssm"), "prod").get_model("nova-v2")
    assert record.copied_from["account"] == STAGING_ACCOUNT and record.copied_from["model_arn"] == model_arn(
        "nova-v2"
    )
    assert f":{PROD_ACCOUNT}:custom-model-deployment/" in record.model_id
    assert (
        ModelRegistry(session.client("ssm"), "staging").find_model("nova-v2") is None
    )  # prod's account only

    listed = rft("models", "list", "--env", "prod", "--profile", "prod", "--json").json()
    assert listed["aliases"]["prod"]["model"] == "nova-v2"
    assert listed["models"][0]["record"]["copied_from"]["record"] == "staging/nova-v2"


def test_promote_cli_json_says_what_was_copied_and_a_second_run_reuses_it(rft, deployed, prod) -> None:
    world, _ = prod
    trained(deployed, world, "nova-v2", 0.81)
    first = rft("models", "promote", "nova-v2", *CROSS, "--json")
    assert first.exit_code == 0, first.stderr
    assert first.json()["record"]["copied_from"]["copy_job_arn"] in world.jobs
    assert first.json()["reused"] is False and first.json()["model"] == "nova-v2"
    assert json.loads(first.stdout)  # nothing but the JSON on stdout

    again = rft("models", "promote", "nova-v2", *CROSS, "--json")
    assert again.exit_code == 0 and again.json()["reused"] is True
    assert len(world.jobs) == 1 and len(world.deployments) == 1


def test_promote_cli_refuses_a_mantle_model_and_prints_the_reproduce_command(rft, deployed, prod) -> None:
    world, _ = prod
    trained(deployed, world, "oss-v1", 0.9, provider="mantle")

    outcome = rft("models", "promote", "oss-v1", *CROSS)

    assert outcome.exit_code == 2
    message = " ".join(outcome.stderr.split())
    assert "Mantle fine-tuned models cannot be shared or copied between accounts" in message
    assert "rft train reproduce oss-v1 --from-env staging --env prod" in message
    assert world.calls == []


def test_promote_cli_gate_refuses_a_worse_model_before_copying_it(rft, deployed, prod) -> None:
    world, _ = prod
    trained(deployed, world, "nova-v1", 0.80)
    assert rft("models", "promote", "nova-v1", *CROSS).exit_code == 0
    trained(deployed, world, "nova-v2", 0.70)
    jobs = len(world.jobs)

    refused = rft("models", "promote", "nova-v2", *CROSS)

    assert refused.exit_code == 2
    assert "mean reward 0.7000 of 'nova-v2' is below 0.8000 of 'nova-v1'" in " ".join(refused.stderr.split())
    assert len(world.jobs) == jobs
    forced = rft("models", "promote", "nova-v2", *CROSS, "--force", "grader fix, see ticket 7")
    assert forced.exit_code == 0, forced.stderr
    assert "forced: grader fix, see ticket 7" in forced.stderr


def test_promote_cli_source_model_record_is_unchanged(rft, deployed, prod) -> None:
    world, _ = prod
    trained(deployed, world, "nova-v2", 0.81)
    before = deployed.registry().get_model("nova-v2")
    assert rft("models", "promote", "nova-v2", *CROSS).exit_code == 0
    assert deployed.registry().get_model("nova-v2") == before
    assert isinstance(before, ModelRecord) and not before.copied_from
