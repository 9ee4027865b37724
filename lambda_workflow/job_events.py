"""Event-driven completion of Bedrock customization jobs.

Two callers:
- the state machine's `Wait for Bedrock job event` task (``.waitForTaskToken``) registers its task
  token for the job: ``{"action": "register", "job_id": <job ARN>, "token": ..., "wait_seconds": n}``;
- the EventBridge rule on ``Model Customization Job State Change`` (rft.assumptions) delivers a
  finished job's event: the waiting token, if any, is sent `SendTaskSuccess` and the workflow
  checks the job at once instead of at its next poll.

Events are best effort, so the task times out after the poll interval and the workflow polls
anyway. An event that arrives while no token waits (between two waits) is kept on the job's item,
and the next registration completes at once. Items expire (DynamoDB TTL) a day after their wait.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from lambda_workflow import common
from rft import assumptions
from rft.status import BEDROCK_JOB_STATES

# How long an item outlives its wait (DynamoDB deletes expired items within a day or two anyway).
ITEM_LIFETIME_SECONDS = 24 * 3600
# SendTaskSuccess errors that mean "nobody waits on this token any more": not a failure.
STALE_TOKEN_ERRORS = ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken")
FINISHED = frozenset(status for status, state in BEDROCK_JOB_STATES.items() if state.terminal)


def handler(event: Mapping[str, Any], context: object = None) -> dict[str, Any]:
    if event.get("action") == "register":
        return register(str(event["job_id"]), str(event["token"]), int(event.get("wait_seconds") or 0))
    if event.get("detail-type") == assumptions.BEDROCK_JOB_EVENT_DETAIL_TYPE:
        return job_changed(event.get("detail") or {})
    raise ValueError("expected a register action or a Bedrock job state change event")


def register(job_arn: str, token: str, wait_seconds: int) -> dict[str, Any]:
    """Store the waiting task's token; complete it at once if the job's end was already seen."""
    table = _table()
    item = {
        "job_arn": {"S": job_arn},
        "token": {"S": token},
        "expires_at": {"N": str(int(time.time()) + wait_seconds + ITEM_LIFETIME_SECONDS)},
    }
    previous = common.client("dynamodb").put_item(TableName=table, Item=item, ReturnValues="ALL_OLD")
    seen = previous.get("Attributes", {}).get("job_status", {}).get("S")
    if seen in FINISHED:
        _complete(job_arn, token, seen)
        return {"registered": True, "completed": seen}
    return {"registered": True}


def job_changed(detail: Mapping[str, Any]) -> dict[str, Any]:
    job_arn, status = str(detail.get("jobArn") or ""), str(detail.get("jobStatus") or "")
    if not job_arn or status not in FINISHED:
        return {"ignored": True}
    dynamodb = common.client("dynamodb")
    # Remember the end for a registration still to come, and take the token that waits now.
    answer = dynamodb.update_item(
        TableName=_table(),
        Key={"job_arn": {"S": job_arn}},
        UpdateExpression="SET job_status = :status, expires_at = :expires REMOVE #token",
        ExpressionAttributeNames={"#token": "token"},
        ExpressionAttributeValues={
            ":status": {"S": status},
            ":expires": {"N": str(int(time.time()) + ITEM_LIFETIME_SECONDS)},
        },
        ReturnValues="ALL_OLD",
    )
    token = answer.get("Attributes", {}).get("token", {}).get("S")
    if not token:
        common.logger.info("job event with no waiting run", extra={"job": job_arn, "status": status})
        return {"completed": False}
    try:
        return {"completed": _complete(job_arn, token, status)}
    except ClientError:
        # Put the token back so that EventBridge's retry of this event can still deliver it.
        dynamodb.update_item(
            TableName=_table(),
            Key={"job_arn": {"S": job_arn}},
            UpdateExpression="SET #token = if_not_exists(#token, :token)",
            ExpressionAttributeNames={"#token": "token"},
            ExpressionAttributeValues={":token": {"S": token}},
        )
        raise


def _complete(job_arn: str, token: str, status: str) -> bool:
    try:
        common.client("stepfunctions").send_task_success(
            taskToken=token, output=json.dumps({"job_arn": job_arn, "status": status})
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in STALE_TOKEN_ERRORS:
            common.logger.info("token no longer waits", extra={"job": job_arn})
            return False
        raise
    common.logger.info("job end delivered", extra={"job": job_arn, "status": status})
    return True


def _table() -> str:
    table = os.environ.get("WATCH_TABLE")
    if not table:
        raise RuntimeError("environment variable WATCH_TABLE is not set (the training stack sets it)")
    return table
