"""rft.model_copy: a Nova model of staging (one account) promoted behind prod's alias (another
account). moto holds each account's SSM and STS; tests/fakes/bedrock_sharing the RAM shares, copy
jobs and deployments moto lacks; every request is validated against botocore's service models."""

from __future__ import annotations

import hashlib
import threading

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from rft import assumptions, names
from rft.environment import Environment
from rft.errors import PromotionRefusedError
from rft.model_copy import CrossAccountError, Polling, promote_across, source_key_hint, start_copy
from rft.records import EvaluationSummary, ModelRecord
from rft.registry import ModelRegistry
from tests.fakes.bedrock_sharing import SharingWorld

REGION = "us-east-1"
STAGING, PROD = "111111111111", "222222222222"
NOVA = "amazon.nova-2-lite-v1:0:256k"
STAGING_KEY = f"arn:aws:kms:{REGION}:{STAGING}:key/11111111-1111-1111-1111-111111111111"
PROD_KEY = f"arn:aws:kms:{REGION}:{PROD}:key/22222222-2222-2222-2222-222222222222"


def suffix(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:12]  # Bedrock's 12 lowercase characters


def model_arn(name: str) -> str:
    return f"arn:aws:bedrock:{REGION}:{STAGING}:custom-model/{NOVA}/{suffix(name)}"


def session_of(account: str) -> boto3.session.Session:
    """Credentials of ``account`` (moto answers each account from its own backends)."""
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/promoter", RoleSessionName="promoter"
    )["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )


def environment(name: str, account: str, key: str, world: SharingWorld) -> Environment:
    session = session_of(account)
    world.attach(session, account)
    target = Environment(name=name, region=REGION, session=session)
    target._outputs[names.DATA_STACK] = {names.DATA_KEY_OUTPUT: key}
    return target


@pytest.fixture
def accounts(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        world = SharingWorld(region=REGION)
        staging = environment("staging", STAGING, STAGING_KEY, world)
        prod = environment("prod", PROD, PROD_KEY, world)
        world.key_users[STAGING_KEY] = {STAGING, PROD}  # the staging key's policy names prod
        yield world, staging, prod


def trained(
    world: SharingWorld, staging: Environment, name: str, mean: float | None, **fields
) -> ModelRecord:
    arn = model_arn(name)
    world.add_model(arn, key=STAGING_KEY)
    registry = ModelRegistry(staging.client("ssm"), "staging")
    record = registry.put_model(
        ModelRecord(
            name=name, environment="staging", provider=fields.pop("provider", "bedrock"), region=REGION,
            model_id=f"arn:aws:bedrock:{REGION}:{STAGING}:custom-model-deployment/{suffix(name)}",
            base_model=NOVA, reward="math_answer",
            job_id=f"arn:aws:bedrock:{REGION}:{STAGING}:model-customization-job/{NOVA}/abcdef123456",
            custom_model_arn=arn, recipe={"plane": "bedrock", "base_model": NOVA}, **fields,
        )
    )  # fmt: skip
    if mean is not None:
        registry.put_evaluation(EvaluationSummary(name, "math_answer", mean, 200, "s3://held-out.jsonl"))
    return record


def no_waits() -> Polling:
    return Polling(sleep=lambda seconds: None)


def test_promote_across_accounts_shares_copies_deploys_records_and_moves_the_alias(accounts):
    world, staging, prod = accounts
    trained(world, staging, "nova-v2", 0.81)

    moved = promote_across(staging, prod, "nova-v2", "prod", by="alice", polling=no_waits())

    operations = [(account, operation) for account, operation, _ in world.calls]
    assert (STAGING, "CreateResourceShare") in operations
    assert operations.index((STAGING, "CreateResourceShare")) < operations.index((PROD, "CreateModelCopyJob"))
    (share,) = world.shares
    assert share.owner == STAGING and share.principals == [PROD] and share.resources == [model_arn("nova-v2")]
    copy = next(params for account, op, params in world.calls if op == "CreateModelCopyJob")
    assert copy["modelKmsKeyId"] == PROD_KEY and copy["targetModelName"] == "nova-v2"
    deployment = next(params for account, op, params in world.calls if op == "CreateCustomModelDeployment")
    assert deployment["modelArn"] == moved.record.custom_model_arn
    assert (
        deployment["modelDeploymentName"] == "nova-v2"
        and {"key": "environment", "value": "prod"} in deployment["tags"]
    )

    record = ModelRegistry(prod.client("ssm"), "prod").get_model("nova-v2")
    assert record.environment == "prod" and record.callable
    assert record.model_id == record.deployment_arn and f":{PROD}:custom-model-deployment/" in record.model_id
    assert f":{PROD}:custom-model/" in str(record.custom_model_arn)
    assert record.copied_from == {
        "environment": "staging", "account": STAGING, "region": REGION, "model_arn": model_arn("nova-v2"),
        "record": "staging/nova-v2", "job_id": record.job_id, "execution_arn": None,
        "share_arn": share.arn, "copy_job_arn": copy_job_arn(world),
        "copied_at": record.copied_from["copied_at"],
    }  # fmt: skip
    assert record.recipe == {"plane": "bedrock", "base_model": NOVA}
    prod_registry = ModelRegistry(prod.client("ssm"), "prod")
    assert prod_registry.get_evaluation("nova-v2").mean_reward == 0.81
    assert prod_registry.get_alias("prod").model == "nova-v2" and moved.entry.by == "alice"


def test_promote_across_accounts_tags_the_copy_as_the_workflow_tags_a_trained_model(accounts):
    world, staging, prod = accounts
    trained(world, staging, "nova-v2", 0.81)
    promote_across(staging, prod, "nova-v2", "prod", by="alice", polling=no_waits())

    expected = [
        {"key": "environment", "value": "prod"},
        {"key": "project", "value": "rft-stack"},
        {"key": "rft:base-model", "value": NOVA},
        {"key": "rft:copied-from", "value": "staging/nova-v2"},
        {"key": "rft:environment", "value": "prod"},
        {"key": "rft:name", "value": "nova-v2"},
        {"key": "rft:reward", "value": "math_answer"},
    ]
    sent = {op: params for _, op, params in world.calls}
    assert sent["CreateModelCopyJob"]["targetModelTags"] == expected
    assert sent["CreateCustomModelDeployment"]["tags"] == expected


def copy_job_arn(world: SharingWorld) -> str:
    (arn,) = world.jobs
    return arn


def test_promote_across_accounts_run_again_reuses_the_share_and_the_copy(accounts):
    world, staging, prod = accounts
    trained(world, staging, "nova-v2", 0.81)
    promote_across(staging, prod, "nova-v2", "prod", by="alice", polling=no_waits())
    calls = len(world.calls)

    again = promote_across(staging, prod, "nova-v2", "prod", by="alice", polling=no_waits())

    assert again.reused and len(world.calls) == calls  # nothing shared, copied or deployed twice
    assert len(world.shares) == 1 and len(world.jobs) == 1 and len(world.deployments) == 1


def test_promote_across_accounts_resumes_an_interrupted_copy_with_the_same_tokens(accounts):
    world, staging, prod = accounts
    trained(world, staging, "nova-v2", 0.81)
    world.polls_to_finish = 10**6  # the copy never finishes within the first attempt
    with pytest.raises(CrossAccountError, match="run the same command again"):
        promote_across(staging, prod, "nova-v2", "prod", by="alice", polling=no_waits())
    world.polls_to_finish = 0

    promote_across(staging, prod, "nova-v2", "prod", by="alice", polling=no_waits())

    assert len(world.shares) == 1 and len(world.jobs) == 1  # the same share and copy job were found again
    assert ModelRegistry(prod.client("ssm"), "prod").get_alias("prod").model == "nova-v2"


def test_promote_across_accounts_refuses_a_mantle_model_naming_the_reproduce_command(accounts):
    world, staging, prod = accounts
    trained(world, staging, "oss-v1", 0.9, provider="mantle")

    with pytest.raises(CrossAccountError) as refused:
        promote_across(staging, prod, "oss-v1", "prod", by="alice", polling=no_waits())

    message = str(refused.value)
    assert "Mantle fine-tuned models cannot be shared or copied between accounts" in message
    assert "rft train reproduce oss-v1 --from-env staging --env prod" in message
    assert world.calls == [] and ModelRegistry(prod.client("ssm"), "prod").find_model("oss-v1") is None


def test_promote_across_accounts_refuses_nova_too_when_rft_models_are_not_shareable(accounts, monkeypatch):
    world, staging, prod = accounts
    trained(world, staging, "nova-v2", 0.9)
    monkeypatch.setattr(assumptions, "BEDROCK_RFT_MODELS_SHAREABLE", False)
    with pytest.raises(CrossAccountError, match="rft train reproduce nova-v2 --from-env staging --env prod"):
        promote_across(staging, prod, "nova-v2", "prod", by="alice", polling=no_waits())
    assert world.calls == []


def test_promote_across_accounts_gate_refuses_before_copying_anything(accounts):
    world, staging, prod = accounts
    promoted_first(world, staging, prod, "nova-v1", 0.80)
    calls = len(world.calls)
    trained(world, staging, "nova-v2", 0.70)

    with pytest.raises(PromotionRefusedError, match=r"0\.7000 of 'nova-v2' is below 0\.8000 of 'nova-v1'"):
        promote_across(staging, prod, "nova-v2", "prod", by="bob", polling=no_waits())

    assert len(world.calls) == calls and len(world.jobs) == 1  # no share, no copy for the refused one
    assert ModelRegistry(prod.client("ssm"), "prod").get_alias("prod").model == "nova-v1"


def test_promote_across_accounts_forced_with_a_reason_copies_and_keeps_the_reason(accounts):
    world, staging, prod = accounts
    promoted_first(world, staging, prod, "nova-v1", 0.80)
    trained(world, staging, "nova-v2", 0.70)

    moved = promote_across(
        staging,
        prod,
        "nova-v2",
        "prod",
        by="bob",
        force_reason="rollback of a bad grader",
        polling=no_waits(),
    )

    assert moved.entry.forced and moved.entry.reason.startswith("forced: rollback of a bad grader (rule: ")


def test_promote_across_accounts_refuses_a_model_without_evaluation(accounts):
    world, staging, prod = accounts
    trained(world, staging, "nova-v2", None)
    with pytest.raises(PromotionRefusedError, match="no evaluation report; run `rft eval nova-v2`"):
        promote_across(staging, prod, "nova-v2", "prod", by="bob", polling=no_waits())
    assert world.calls == []


def test_promote_across_accounts_names_the_source_key_when_the_copy_fails_on_kms(accounts):
    world, staging, prod = accounts
    trained(world, staging, "nova-v2", 0.81)
    world.key_users[STAGING_KEY] = {STAGING}  # the staging key's policy does not name prod

    with pytest.raises(CrossAccountError) as failed:
        promote_across(staging, prod, "nova-v2", "prod", by="alice", polling=no_waits())

    message = str(failed.value)
    assert "failed: KMS" in message and STAGING_KEY in message and f"account {PROD}" in message
    # What to do, as the user writes it: the source environment's setting, then its deployment.
    assert """set "promote_to": ["prod"] on environment 'staging' in cdk.json""" in message
    assert "make deploy ENV=staging" in message
    assert ModelRegistry(prod.client("ssm"), "prod").find_model("nova-v2") is None


def test_promote_across_accounts_refused_copy_says_which_setting_grants_the_source_key(accounts):
    world, staging, prod = accounts
    record = trained(world, staging, "nova-v2", 0.81)
    refusal = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "KMS key access denied"}}, "CreateModelCopyJob"
    )

    class RefusingBedrock:
        def create_model_copy_job(self, **_: object) -> dict:
            raise refusal

    hint = source_key_hint(staging, prod, PROD)
    with pytest.raises(CrossAccountError) as refused:
        start_copy(RefusingBedrock(), record, model_arn("nova-v2"), prod, "token", failure_hint=hint)

    message = str(refused.value)
    assert "AccessDeniedException: KMS key access denied" in message
    assert """set "promote_to": ["prod"] on environment 'staging'""" in message and STAGING_KEY in message


def test_promote_across_accounts_refuses_a_prod_model_of_the_same_name_that_is_not_this_copy(accounts):
    world, staging, prod = accounts
    trained(world, staging, "nova-v2", 0.81)
    other = trained(world, staging, "nova-v2", 0.5)
    ModelRegistry(prod.client("ssm"), "prod").put_model(
        ModelRecord(**{**other.to_dict(), "environment": "prod", "custom_model_arn": "arn:prod-own"})
    )
    with pytest.raises(CrossAccountError, match="already has a model named 'nova-v2' that is not a copy"):
        promote_across(staging, prod, "nova-v2", "prod", by="alice", polling=no_waits())
    assert world.calls == []


def promoted_first(world, staging, prod, name: str, mean: float) -> None:
    trained(world, staging, name, mean)
    promote_across(staging, prod, name, "prod", by="setup", polling=no_waits())


def test_promote_across_accounts_two_promoters_racing_into_prod_lose_no_move(accounts, monkeypatch):
    """Both copy concurrently; the alias moves are serialised by the lock and the second is judged
    against the first's move, not against the target both saw when they started."""
    world, staging, prod = accounts
    promoted_first(world, staging, prod, "nova-v0", 0.50)
    trained(world, staging, "nova-v1", 0.80)
    trained(world, staging, "nova-v2", 0.60)  # better than v0, worse than v1
    decided = threading.Event()
    check = ModelRegistry.check_promotion

    def check_then_pause(self, name, alias):
        decision = check(self, name, alias)
        decided.set()
        threading.Event().wait(0.5)  # the window in which, without the lock, the other decides too
        return decision

    monkeypatch.setattr(ModelRegistry, "check_promotion", check_then_pause)
    outcome: dict[str, object] = {}

    def promote(name: str, who: str) -> None:
        try:
            outcome[who] = promote_across(staging, prod, name, "prod", by=who, polling=no_waits()).entry.model
        except PromotionRefusedError as exc:
            outcome[who] = exc

    first = threading.Thread(target=promote, args=("nova-v1", "alice"))
    first.start()
    assert decided.wait(10)
    second = threading.Thread(target=promote, args=("nova-v2", "bob"))
    second.start()
    first.join(20)
    second.join(20)

    assert outcome["alice"] == "nova-v1"
    assert isinstance(outcome["bob"], PromotionRefusedError) and "below 0.8000 of 'nova-v1'" in str(
        outcome["bob"]
    )
    history = ModelRegistry(prod.client("ssm"), "prod").alias_history("prod")
    assert [entry.model for entry in history] == ["nova-v1", "nova-v0"]


def test_promote_across_accounts_within_an_organization_sends_no_invitation(accounts):
    world, staging, prod = accounts
    trained(world, staging, "nova-v2", 0.81)
    promote_across(staging, prod, "nova-v2", "prod", by="alice", polling=no_waits())
    (share,) = world.shares
    assert not share.external
    assert not [op for _, op, _ in world.calls if "Invitation" in op]


def test_promote_across_accounts_outside_an_organization_prod_accepts_the_invitation(accounts, monkeypatch):
    world, staging, prod = accounts
    trained(world, staging, "nova-v2", 0.81)
    monkeypatch.setattr(assumptions, "RAM_SHARING_WITHIN_ORGANIZATION", False)

    promote_across(staging, prod, "nova-v2", "prod", by="alice", polling=no_waits())

    (share,) = world.shares
    assert share.external and share.accepted == {PROD}
    assert (PROD, "AcceptResourceShareInvitation") in [(account, op) for account, op, _ in world.calls]
    assert ModelRegistry(prod.client("ssm"), "prod").get_alias("prod").model == "nova-v2"


def test_promote_across_accounts_refuses_the_environment_itself_as_source(accounts):
    world, staging, _ = accounts
    trained(world, staging, "nova-v2", 0.81)
    with pytest.raises(CrossAccountError, match="leave --from-env out"):
        promote_across(staging, staging, "nova-v2", "prod", by="alice", polling=no_waits())
    assert world.calls == []
