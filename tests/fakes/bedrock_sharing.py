"""A strict fake of what moto lacks for cross-account promotion: AWS RAM shares of Bedrock custom
models, Bedrock model copy jobs and custom model deployments, across accounts.

It answers boto3 clients of any session it is attached to, as the account that session belongs to,
after botocore has validated the request against the service model (and tests/conftest.py its
constraints); its answers are validated against the operation's output shape. It is as strict as
the real services are documented to be: a copy needs the source model shared with the caller's
account (or to be the caller's own) and the source model's key usable by that account; a token
sent again returns what it returned the first time; jobs and deployments take a few polls.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.validate import validate_parameters

SERVICES = ("ram", "bedrock")


@dataclass
class Share:
    arn: str
    owner: str
    name: str
    resources: list[str]
    principals: list[str]
    external: bool = False  # outside an organization: each principal must accept an invitation
    accepted: set[str] = field(default_factory=set)
    polls: int = 0  # associations read so far: ASSOCIATING for the first one, as RAM does


@dataclass
class Job:
    arn: str
    account: str
    source: str
    target_model: str
    kms: str | None
    polls: int = 0
    failure: str | None = None


@dataclass
class SharingWorld:
    region: str
    models: dict[str, dict[str, Any]] = field(default_factory=dict)  # custom model ARN -> owner, key
    key_users: dict[str, set[str]] = field(default_factory=dict)  # key ARN -> accounts its policy allows
    shares: list[Share] = field(default_factory=list)
    jobs: dict[str, Job] = field(default_factory=dict)
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (account, operation, params)
    polls_to_finish: int = 2
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_model(self, arn: str, *, key: str) -> None:
        self.models[arn] = {"account": arn.split(":")[4], "key": key}
        self.key_users.setdefault(key, {arn.split(":")[4]})

    def attach(self, session: Any, account: str) -> None:
        """Answer this boto3 session's RAM and Bedrock calls as ``account``."""
        for service in SERVICES:
            session.events.register(f"before-parameter-build.{service}", _keep_params)
            session.events.register(f"before-call.{service}", self._answerer(account))

    def _answerer(self, account: str) -> Any:
        def answer(model: Any, context: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
            params = context.get("fake_params", {})
            with self._lock:
                self.calls.append((account, model.name, params))
                try:
                    body = getattr(self, f"_{model.service_model.service_name}_{model.name}")(account, params)
                except Refused as refused:
                    return _Http(refused.status), {
                        "Error": {"Code": refused.code, "Message": refused.message},
                        "ResponseMetadata": {"HTTPStatusCode": refused.status},
                    }
            if model.output_shape is not None:
                validate_parameters(body, model.output_shape)
            return _Http(200), {**body, "ResponseMetadata": {"HTTPStatusCode": 200}}

        return answer

    def _once(self, account: str, operation: str, token: str | None, make: Any) -> Any:
        if token is None:
            return make()
        key = (account, operation, token)
        if key not in self.tokens:
            self.tokens[key] = make()
        return self.tokens[key]

    # --- RAM -------------------------------------------------------------------------------------

    def _ram_CreateResourceShare(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        def make() -> Share:
            for arn in params.get("resourceArns", []):
                if self.models.get(arn, {}).get("account") != account:
                    raise Refused("UnknownResourceException", f"{arn} is not a resource of {account}")
            share = Share(
                arn=f"arn:aws:ram:{self.region}:{account}:resource-share/{_id(params['name'], account)}",
                owner=account,
                name=params["name"],
                resources=list(params.get("resourceArns", [])),
                principals=list(params.get("principals", [])),
                external=bool(params.get("allowExternalPrincipals", True)),
            )
            self.shares.append(share)
            return share

        share = self._once(account, "share", params.get("clientToken"), make)
        return {"resourceShare": {"resourceShareArn": share.arn, "name": share.name, "status": "ACTIVE"}}

    def _ram_GetResourceShareAssociations(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        found = []
        for share in self.shares:
            if share.owner != account:
                continue
            if params.get("resourceShareArns") and share.arn not in params["resourceShareArns"]:
                continue
            if params["associationType"] == "RESOURCE":
                entities = [r for r in share.resources if params.get("resourceArn") in (None, r)]
            else:
                entities = [p for p in share.principals if params.get("principal") in (None, p)]
                share.polls += 1
            found += [
                {
                    "resourceShareArn": share.arn,
                    "associatedEntity": entity,
                    "associationType": params["associationType"],
                    "status": self._status(share, entity, params["associationType"]),
                }
                for entity in entities
            ]
        return {"resourceShareAssociations": found}

    @staticmethod
    def _status(share: Share, entity: str, kind: str) -> str:
        if kind == "PRINCIPAL" and (share.polls == 1 or (share.external and entity not in share.accepted)):
            return "ASSOCIATING"
        return "ASSOCIATED"

    def shared_with(self, arn: str, account: str) -> bool:
        return any(
            arn in s.resources and s.polls > 1 and self._status(s, account, "PRINCIPAL") == "ASSOCIATED"
            for s in self.shares
            if account in s.principals
        )

    def _invitation(self, share: Share, account: str) -> dict[str, Any]:
        return {
            "resourceShareInvitationArn": share.arn.replace(
                ":resource-share/", ":resource-share-invitation/"
            ),
            "resourceShareArn": share.arn,
            "senderAccountId": share.owner,
            "receiverAccountId": account,
            "status": "ACCEPTED" if account in share.accepted else "PENDING",
        }

    def _ram_GetResourceShareInvitations(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        wanted = params.get("resourceShareArns")
        invitations = [
            self._invitation(share, account)
            for share in self.shares
            if share.external and account in share.principals and (not wanted or share.arn in wanted)
        ]
        return {"resourceShareInvitations": invitations}

    def _ram_AcceptResourceShareInvitation(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        for share in self.shares:
            invitation = self._invitation(share, account)
            if (
                share.external
                and invitation["resourceShareInvitationArn"] == params["resourceShareInvitationArn"]
            ):
                if account in share.accepted:
                    raise Refused("ResourceShareInvitationAlreadyAcceptedException", "already accepted")
                share.accepted.add(account)
                return {"resourceShareInvitation": {**invitation, "status": "ACCEPTED"}}
        raise Refused("ResourceShareInvitationArnNotFoundException", "no such invitation", 404)

    # --- Bedrock ---------------------------------------------------------------------------------

    def _bedrock_CreateModelCopyJob(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        source = params["sourceModelArn"]

        def make() -> Job:
            owner = self.models.get(source, {}).get("account")
            if owner is None or (owner != account and not self.shared_with(source, account)):
                raise Refused("ResourceNotFoundException", f"{source} is not shared with {account}", 404)
            job = Job(
                arn=f"arn:aws:bedrock:{self.region}:{account}:model-copy-job/{_id(source, account)}",
                account=account,
                source=source,
                target_model=f"arn:aws:bedrock:{self.region}:{account}:custom-model/"
                f"amazon.nova-2-lite-v1:0:256k/{_id(params['targetModelName'], account)}",
                kms=params.get("modelKmsKeyId"),
            )
            if account not in self.key_users.get(self.models[source]["key"], set()):
                job.failure = "KMS: the source model's key does not allow this account"
            self.jobs[job.arn] = job
            return job

        return {"jobArn": self._once(account, "copy", params.get("clientRequestToken"), make).arn}

    def _bedrock_GetModelCopyJob(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        job = self.jobs.get(params["jobArn"])
        if job is None or job.account != account:
            raise Refused("ResourceNotFoundException", "no such copy job", 404)
        job.polls += 1
        status = (
            "InProgress" if job.polls < self.polls_to_finish else ("Failed" if job.failure else "Completed")
        )
        answer = {
            "jobArn": job.arn,
            "status": status,
            "creationTime": datetime.now(UTC),
            "targetModelArn": job.target_model,
            "sourceAccountId": self.models[job.source]["account"],
            "sourceModelArn": job.source,
        }
        if status == "Failed":
            answer["failureMessage"] = job.failure
        elif status == "Completed" and job.target_model not in self.models:
            self.models[job.target_model] = {"account": account, "key": job.kms}
        return answer

    def _bedrock_CreateCustomModelDeployment(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        model = params["modelArn"]

        def make() -> str:
            if self.models.get(model, {}).get("account") != account:
                raise Refused("ResourceNotFoundException", f"{model} is not a model of {account}", 404)
            arn = f"arn:aws:bedrock:{self.region}:{account}:custom-model-deployment/{_id(model, 'd')}"
            self.deployments[arn] = {"account": account, "model": model, "params": params, "polls": 0}
            return arn

        return {
            "customModelDeploymentArn": self._once(account, "deploy", params.get("clientRequestToken"), make)
        }

    def _bedrock_GetCustomModelDeployment(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        arn = params["customModelDeploymentIdentifier"]
        deployment = self.deployments.get(arn)
        if deployment is None or deployment["account"] != account:
            raise Refused("ResourceNotFoundException", "no such deployment", 404)
        deployment["polls"] += 1
        return {
            "customModelDeploymentArn": arn,
            "modelDeploymentName": deployment["params"]["modelDeploymentName"],
            "modelArn": deployment["model"],
            "createdAt": datetime.now(UTC),
            "status": "Creating" if deployment["polls"] < self.polls_to_finish else "Active",
        }


class Refused(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass
class _Http:
    status_code: int
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""


def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context["fake_params"] = dict(params)


def _id(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:12]
