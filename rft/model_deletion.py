"""Deleting a trained model: what serves it, the model itself, then its record.

The order keeps the registry honest: the record goes last, so a deletion that fails half way can
be run again and finds what is left. A model behind an alias is refused (the gateway would start
answering 404 for the alias): move the alias first. What is already gone counts as deleted.

Bedrock plane: the custom model deployment (DeleteCustomModelDeployment), then the custom model
(DeleteCustomModel), once the deployment is gone. Mantle plane: the fine-tuned model
(``DELETE /v1/models/{id}``, see ``rft.assumptions.MANTLE_DELETES_FINE_TUNED_MODELS``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rft import assumptions
from rft.errors import RftError
from rft.records import ModelRecord

DEPLOYMENT_GONE_TIMEOUT_S = 600.0
DEPLOYMENT_POLL_S = 10.0
_NOT_FOUND = ("ResourceNotFoundException", "NotFound", "404")


class ModelInUseError(RftError):
    """An alias points at the model to delete."""


@dataclass
class Deletion:
    """What a deletion removed (or found already gone), for the user and for --json."""

    name: str
    deleted: list[str] = field(default_factory=list)
    already_gone: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "deleted": self.deleted, "already_gone": self.already_gone}


def check_not_aliased(record: ModelRecord, aliases: dict[str, Any]) -> None:
    pointing = sorted(alias for alias, entry in aliases.items() if entry.model == record.name)
    if pointing:
        names = ", ".join(repr(alias) for alias in pointing)
        raise ModelInUseError(
            f"Model {record.name!r} is behind alias {names}: move the alias first "
            f"('rft models promote OTHER --alias {pointing[0]}'), then delete it."
        )


def delete_bedrock_model(
    bedrock: Any,
    record: ModelRecord,
    deletion: Deletion,
    *,
    sleep: Callable[[float], None] = time.sleep,
    timeout_s: float = DEPLOYMENT_GONE_TIMEOUT_S,
) -> None:
    """The deployment, then (once it is gone) the custom model."""
    if record.deployment_arn:
        _call(deletion, f"deployment {record.deployment_arn}", lambda: bedrock.delete_custom_model_deployment(
            customModelDeploymentIdentifier=record.deployment_arn
        ))  # fmt: skip
        _wait_until_gone(bedrock, record.deployment_arn, sleep=sleep, timeout_s=timeout_s)
    if record.custom_model_arn:
        _call(
            deletion,
            f"custom model {record.custom_model_arn}",
            lambda: bedrock.delete_custom_model(modelIdentifier=record.custom_model_arn),
        )


def delete_mantle_model(client: Any, record: ModelRecord, deletion: Deletion) -> None:
    """The fine-tuned model, through the OpenAI-compatible models API."""
    if not assumptions.MANTLE_DELETES_FINE_TUNED_MODELS:
        return
    import openai

    what = f"fine-tuned model {record.model_id}"
    try:
        client.models.delete(record.model_id)
    except openai.NotFoundError:
        deletion.already_gone.append(what)
        return
    deletion.deleted.append(what)


def _call(deletion: Deletion, what: str, call: Callable[[], Any]) -> None:
    from botocore.exceptions import ClientError

    try:
        call()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _NOT_FOUND:
            deletion.already_gone.append(what)
            return
        raise
    deletion.deleted.append(what)


def _wait_until_gone(bedrock: Any, arn: str, *, sleep: Callable[[float], None], timeout_s: float) -> None:
    """Bedrock refuses to delete a custom model a deployment still serves (ConflictException);
    the deployment's deletion takes a while, so wait for it, bounded."""
    from botocore.exceptions import ClientError

    waited = 0.0
    while True:
        try:
            bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=arn)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND:
                return
            raise
        if waited >= timeout_s:
            raise RftError(
                f"Deployment {arn} is still being deleted after {timeout_s:.0f} s; run the same "
                "'rft models delete' again later to delete the custom model and the record."
            )
        sleep(DEPLOYMENT_POLL_S)
        waited += DEPLOYMENT_POLL_S
