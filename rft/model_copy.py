"""Promote a Bedrock-plane model of one environment behind an alias of another environment, in
another account (`rft models promote NAME --from-env staging --env prod --alias prod`).

Each environment is one account and one region, and a custom model can be used only in the account
and region that hold it. Promotion therefore moves the model first, then the alias:

1. gate: the promotion rule (rft.registry) is judged with the source's evaluation of the model
   against the target alias's current model, so a refused promotion copies nothing;
2. share: the source account shares the custom model with the target account through AWS RAM
   (skipped within one account; a share that already includes the target is reused);
3. copy: CreateModelCopyJob in the target, encrypted with the target environment's data key,
   polled until Completed;
4. serve: a custom model deployment with the workflow's own parameters
   (rft.job_plan.deployment_parameters), polled until Active;
5. record: the model's record in the target's registry, its provenance under ``copied_from``,
   and the source's evaluation beside it (the weights are the same);
6. promote: rft.registry's ``promote`` moves the alias under the alias lock, judging the rule again
   against whatever the alias points to by then (a concurrent promotion is never lost).

Every create call carries a token derived from the source model and the target environment, so
the same command run again after an interruption finds its share, copy job and deployment again.
Mantle fine-tuned models cannot be shared or copied at all: they are refused with the command that
trains them again in the target (rft.reproduce). What could not be confirmed is in rft.assumptions.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from rft import PROJECT, assumptions, job_plan
from rft.environment import Environment
from rft.errors import RftError
from rft.records import STATUS_READY, ModelRecord, now_iso
from rft.registry import AliasEntry, ModelRegistry, enforce


@dataclass(frozen=True)
class Watch:
    """How to wait for one kind of resource: the status that ends the wait, the limit, the pace."""

    done: str
    timeout_s: float
    interval_s: float


SHARE = Watch("ASSOCIATED", timeout_s=600.0, interval_s=5.0)
COPY = Watch("Completed", timeout_s=6 * 3600.0, interval_s=30.0)  # GetModelCopyJob's statuses
DEPLOYMENT = Watch("Active", timeout_s=3600.0, interval_s=15.0)  # GetCustomModelDeployment's
_SHARED = ("ASSOCIATING", "ASSOCIATED")  # a share association that is, or is becoming, usable


class CrossAccountError(RftError):
    """The model cannot be promoted into the other environment as asked."""


@dataclass(frozen=True)
class Provenance:
    """Where a copied model came from; stored as the target record's ``copied_from``."""

    environment: str
    account: str
    region: str
    model_arn: str  # the source custom model
    record: str  # "<env>/<name>" of the source record
    job_id: str  # the run that trained it
    execution_arn: str | None
    share_arn: str | None  # None within one account
    copy_job_arn: str
    copied_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CrossPromotion:
    record: ModelRecord  # the target's record
    entry: AliasEntry
    provenance: Mapping[str, Any]
    reused: bool  # the target already held this copy (a second run of the same command)


@dataclass(frozen=True)
class Polling:
    sleep: Callable[[float], None] = time.sleep
    progress: Callable[[str], None] = lambda message: None


def reproduce_command(name: str, source: str, target: str) -> str:
    return f"rft train reproduce {name} --from-env {source} --env {target}"


def check_copyable(record: ModelRecord, source: str, target: str) -> str:
    """The custom model ARN to copy, or why this model cannot move between accounts."""
    again = f"train it again there from its recorded recipe: {reproduce_command(record.name, source, target)}"
    if record.provider == "mantle":
        raise CrossAccountError(
            f"Model {record.name!r} of {source!r} is a Mantle fine-tuned model: Mantle fine-tuned models "
            f"cannot be shared or copied between accounts. To have it in {target!r}, {again}"
        )
    if not assumptions.BEDROCK_RFT_MODELS_SHAREABLE:
        raise CrossAccountError(
            f"Reinforcement fine-tuned Bedrock models cannot be shared between accounts "
            f"(rft.assumptions.BEDROCK_RFT_MODELS_SHAREABLE). To have {record.name!r} in {target!r}, {again}"
        )
    if not record.custom_model_arn:
        raise CrossAccountError(f"The record of {record.name!r} in {source!r} names no custom model to copy.")
    return record.custom_model_arn


def promote_across(
    source: Environment,
    target: Environment,
    name: str,
    alias: str,
    *,
    by: str | None,
    force_reason: str | None = None,
    polling: Polling | None = None,
) -> CrossPromotion:
    """Copy model ``name`` of ``source`` into ``target`` (if not there yet) and move ``alias`` to it."""
    polling = polling or Polling()
    if source.name == target.name:
        raise CrossAccountError(
            f"--from-env names {target.name!r} itself: to promote within it, leave --from-env out."
        )
    origin = ModelRegistry(source.client("ssm"), source.name)
    record = origin.get_model(name)
    model_arn = check_copyable(record, source.name, target.name)
    evaluation = origin.get_evaluation(name)
    registry = ModelRegistry(target.client("ssm"), target.name)
    enforce(registry.judge_promotion(name, evaluation, alias), name, alias, force_reason)
    existing = registry.find_model(name)
    reused = existing is not None and _is_copy_of(existing, model_arn)
    if existing is not None and not reused:
        raise CrossAccountError(
            f"Environment {target.name!r} already has a model named {name!r} that is not a copy of "
            f"{model_arn}: delete it there or promote under another name."
        )
    copied = (
        existing if reused and existing is not None else _copy(source, target, record, model_arn, polling)
    )
    if evaluation is not None:
        registry.put_evaluation(evaluation)
    entry = registry.promote(name, alias, by=by, force_reason=force_reason)
    return CrossPromotion(copied, entry, copied.copied_from, reused)


def _is_copy_of(record: ModelRecord, model_arn: str) -> bool:
    return record.callable and record.copied_from.get("model_arn") == model_arn


def _copy(
    source: Environment, target: Environment, record: ModelRecord, model_arn: str, polling: Polling
) -> ModelRecord:
    source_account = account_of_arn(model_arn)
    target_account = str(target.client("sts").get_caller_identity()["Account"])
    if source_account == target_account and source.region == target.region:
        raise CrossAccountError(
            f"Environments {source.name!r} and {target.name!r} are the same account and region: "
            "there is nothing to copy."
        )
    token = _token(record.name, model_arn, target.name)
    share_arn = None
    if source_account != target_account:
        rams = (source.client("ram"), target.client("ram"))
        share_arn = share_model(*rams, record.name, model_arn, target_account, token, polling)
    bedrock = target.client("bedrock")
    key_hint = source_key_hint(source, target, target_account)
    job_arn = start_copy(bedrock, record, model_arn, target, token, failure_hint=key_hint)
    polling.progress(f"Copying {model_arn} into {target.name!r} (copy job {job_arn}).")
    copy = wait(
        lambda: bedrock.get_model_copy_job(jobArn=job_arn),
        f"copy job {job_arn}",
        COPY,
        polling,
        failure_hint=key_hint,
    )
    deployment_arn = deploy(bedrock, record, str(copy["targetModelArn"]), target, token, polling)
    provenance = Provenance(
        environment=source.name,
        account=source_account,
        region=source.region,
        model_arn=model_arn,
        record=f"{source.name}/{record.name}",
        job_id=record.job_id,
        execution_arn=record.execution_arn,
        share_arn=share_arn,
        copy_job_arn=job_arn,
        copied_at=now_iso(),
    )
    copied = replace(
        record,
        environment=target.name,
        region=target.region,
        model_id=deployment_arn,
        custom_model_arn=str(copy["targetModelArn"]),
        deployment_arn=deployment_arn,
        status=STATUS_READY,
        published_at=now_iso(),
        copied_from=provenance.to_dict(),
    )
    return ModelRegistry(target.client("ssm"), target.name).put_model(copied)


def account_of_arn(arn: str) -> str:
    parts = arn.split(":")
    if len(parts) < 6 or not parts[4].isdigit():
        raise CrossAccountError(f"{arn!r} is not a custom model ARN (no account in it).")
    return parts[4]


def _token(name: str, model_arn: str, target: str) -> str:
    """One idempotency token per (source model, target environment): Bedrock's and RAM's patterns."""
    digest = hashlib.sha256(f"{model_arn}\n{target}".encode()).hexdigest()[:24]
    return f"{name}-copy-{digest}"


def share_model(
    ram: Any, target_ram: Any, name: str, model_arn: str, account: str, token: str, polling: Polling
) -> str:
    """The ARN of a RAM share of ``model_arn`` with ``account`` (an existing one, or a new one),
    once the account's association is ASSOCIATED. ``ram`` is the source's RAM client, ``target_ram``
    the target's (it accepts the share's invitation when sharing is not within an organization)."""
    share_arn = _existing_share(ram, model_arn, account)
    if share_arn is None:
        share = ram.create_resource_share(
            name=f"{PROJECT}-{name}",
            resourceArns=[model_arn],
            principals=[account],
            # Inside one organization (required for model sharing) no invitation is needed.
            allowExternalPrincipals=not assumptions.RAM_SHARING_WITHIN_ORGANIZATION,
            clientToken=token,
            tags=[{"key": "project", "value": PROJECT}],
        )["resourceShare"]
        share_arn = str(share["resourceShareArn"])
        polling.progress(f"Shared {model_arn} with account {account} (resource share {share_arn}).")

    def association() -> dict[str, Any]:
        if not assumptions.RAM_SHARING_WITHIN_ORGANIZATION:
            accept_invitations(target_ram, share_arn)
        return _principal_association(ram, share_arn, account)

    wait(
        association,
        f"the share of {model_arn} with account {account}",
        SHARE,
        polling,
        failure_hint="both accounts must be in one AWS Organization with RAM sharing enabled for it",
    )
    return share_arn


def accept_invitations(ram: Any, share_arn: str) -> None:
    """In the target account: accept the share's pending invitation (shares outside an organization)."""
    pages = ram.get_paginator("get_resource_share_invitations").paginate(resourceShareArns=[share_arn])
    for page in pages:
        for invitation in page.get("resourceShareInvitations", []):
            if invitation.get("status") == "PENDING":
                arn = invitation["resourceShareInvitationArn"]
                ram.accept_resource_share_invitation(resourceShareInvitationArn=arn)


def _associations(ram: Any, **filters: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in ram.get_paginator("get_resource_share_associations").paginate(**filters):
        found.extend(page.get("resourceShareAssociations", []))
    return found


def _existing_share(ram: Any, model_arn: str, account: str) -> str | None:
    shares = [
        str(a["resourceShareArn"])
        for a in _associations(ram, associationType="RESOURCE", resourceArn=model_arn)
        if a.get("status") in _SHARED
    ]
    if not shares:
        return None
    principals = _associations(ram, associationType="PRINCIPAL", resourceShareArns=shares, principal=account)
    return next((str(a["resourceShareArn"]) for a in principals if a.get("status") in _SHARED), None)


def _principal_association(ram: Any, share_arn: str, account: str) -> dict[str, Any]:
    found = _associations(ram, associationType="PRINCIPAL", resourceShareArns=[share_arn], principal=account)
    return found[0] if found else {"status": "ASSOCIATING"}


def start_copy(
    bedrock: Any,
    record: ModelRecord,
    model_arn: str,
    target: Environment,
    token: str,
    *,
    failure_hint: str = "",
) -> str:
    """Starts the copy job in the target; a refusal says what the target needs (`failure_hint`:
    what to do when the source key is the cause)."""
    from botocore.exceptions import ClientError

    try:
        started = bedrock.create_model_copy_job(
            sourceModelArn=model_arn,
            targetModelName=record.name,
            modelKmsKeyId=target.data_key_arn,
            targetModelTags=job_plan.tag_list(_tags(record, target)),
            clientRequestToken=token,
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise CrossAccountError(
            f"Bedrock in {target.name!r} refused to copy {model_arn}: {error.get('Code')}: "
            f"{error.get('Message')}. The target needs bedrock:CreateModelCopyJob, the model shared with "
            f"its account, and use of the key that encrypts the source model"
            + (f"; {failure_hint}." if failure_hint else " (see the README).")
        ) from exc
    return str(started["jobArn"])


def deploy(
    bedrock: Any, record: ModelRecord, model_arn: str, target: Environment, token: str, polling: Polling
) -> str:
    """A custom model deployment of the copy, made as the workflow's Serve step makes one."""
    parameters = job_plan.deployment_parameters(
        record.name,
        base_model=record.base_model,
        reward=record.reward,
        tags=_tags(record, target),
        token=token.replace("-copy-", "-deploy-"),
    )
    arn = str(
        bedrock.create_custom_model_deployment(modelArn=model_arn, **parameters)["customModelDeploymentArn"]
    )
    polling.progress(f"Deploying the copy as {arn}.")
    wait(
        lambda: bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=arn),
        f"deployment {arn}",
        DEPLOYMENT,
        polling,
    )
    return arn


def _tags(record: ModelRecord, target: Environment) -> dict[str, str]:
    """The workflow's tags of a trained model (rft.job_plan.resource_tags) for the copy, and where
    it came from."""
    return {
        **job_plan.resource_tags(target.name, record.name, record.reward, record.base_model),
        "rft:copied-from": f"{record.environment}/{record.name}",
    }


def source_key_hint(source: Environment, target: Environment, account: str) -> str:
    """What to do when the source's data key does not let the target's account copy the model: the
    source stack grants it for each environment its `promote_to` setting names."""
    if not assumptions.MODEL_COPY_NEEDS_SOURCE_KEY_GRANT:
        return ""
    try:
        key = source.data_key_arn
    except RftError:
        key = f"the data key of {source.name!r}"
    return (
        f"if the failure names KMS, the policy of {key} must let account {account} use it "
        f'(kms:Decrypt, kms:DescribeKey, kms:CreateGrant): set "promote_to": ["{target.name}"] on '
        f"environment {source.name!r} in cdk.json, with {target.name!r}'s account set, and deploy it "
        f"again (make deploy ENV={source.name})"
    )


def wait(
    read: Callable[[], Mapping[str, Any]],
    what: str,
    watch: Watch,
    polling: Polling,
    *,
    failure_hint: str = "",
) -> Mapping[str, Any]:
    """Poll ``read`` until its ``status`` is ``done``; a FAILED/Failed status or the time limit is
    an error that says how to resume (the same command again)."""
    waited = 0.0
    while True:
        answer = read()
        status = str(answer.get("status", ""))
        if status == watch.done:
            return answer
        if status.lower() == "failed":
            message = answer.get("failureMessage") or answer.get("statusMessage") or "no reason given"
            hint = f" ({failure_hint})" if failure_hint else ""
            raise CrossAccountError(f"{what.capitalize()} failed: {message}{hint}.")
        if waited >= watch.timeout_s:
            raise CrossAccountError(
                f"{what.capitalize()} is still {status or 'pending'} after "
                f"{watch.timeout_s / 60:.0f} minutes; run the same command again later to carry on."
            )
        polling.sleep(watch.interval_s)
        waited += watch.interval_s
