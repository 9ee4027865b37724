"""`rft doctor`: does a deployed environment work? One line per check: ok, warn or fail, what was
checked and, when it is not ok, what to do.

The checks, each independent (one that cannot run is a `fail` naming why, never a crash that hides
the others):

- every stack of the environment is deployed at the same rft-stack version (output `RftStackVersion`);
- every grader's `live` alias scores its canary batch (`rft.canaries`): a right answer 1, a wrong 0;
- the state machine accepts a request that only validates (`validate_only`): a small canary dataset
  is written to the datasets bucket (`doctor/`), the run stops after `Validate request` with
  success, and no job starts;
- the gateway answers a SigV4-signed `GET /v1/models`;
- the notification topic has a confirmed subscription (pending only: warn);
- the budget and the alarms exist.

Everything is read from the stacks' outputs (`rft.names`): nothing is typed but the environment.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from rft import canaries, catalog, names
from rft.environment import Environment
from rft.jobs import JobRequest

OK, WARN, FAIL = "ok", "warn", "fail"
CANARY_PROMPTS = 100  # the least a training set may have (rft.datasets.DEFAULT_LIMITS)
PREFERRED_CANARY_REWARD = "math_answer"  # the canary dataset's references are numbers
DEFAULT_RUN_TIMEOUT_SECONDS = 300.0
DEFAULT_POLL_SECONDS = 2.0
ALARMS_PER_CALL = 100  # DescribeAlarms: at most 100 AlarmNames


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # OK | WARN | FAIL
    detail: str  # what was checked and what was found
    action: str | None = None  # what to do when it is not ok

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DoctorOptions:
    run_timeout_seconds: float = DEFAULT_RUN_TIMEOUT_SECONDS
    poll_seconds: float = DEFAULT_POLL_SECONDS
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


def examine(target: Environment, options: DoctorOptions | None = None) -> list[Check]:
    """Every check of `target`, in the order a deployment builds what they test."""
    options = options or DoctorOptions()
    checks: list[Check] = []
    runs: tuple[tuple[str, Callable[[], Iterable[Check]]], ...] = (
        ("stacks", lambda: [stack_versions(target)]),
        ("graders", lambda: list(grader_canaries(target))),
        ("validate-only run", lambda: [validate_only_run(target, options)]),
        ("gateway", lambda: [gateway_models(target)]),
        ("topic", lambda: [topic_subscriptions(target)]),
        ("budget", lambda: [budget_exists(target)]),
        ("alarms", lambda: [alarms_exist(target)]),
    )
    for name, run in runs:
        try:
            checks.extend(run())
        except Exception as exc:  # one check that cannot run must not hide the others
            checks.append(Check(name, FAIL, f"could not be checked: {_reason(exc)}", _fix_for(exc)))
    return checks


def healthy(checks: list[Check]) -> bool:
    return all(check.status != FAIL for check in checks)


def _reason(exc: Exception) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc) or type(exc).__name__


def _fix_for(exc: Exception) -> str:
    from botocore.exceptions import ClientError

    code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""
    if "AccessDenied" in code or "Unauthorized" in code:
        return "run with credentials allowed to read the environment (the doctor role or an admin profile)"
    return "deploy the environment again (make deploy ENV=<env>) and rerun rft doctor"


# --- stacks ------------------------------------------------------------------------------------


def stack_versions(target: Environment) -> Check:
    versions: dict[str, str | None] = {}
    for stack in names.STACKS:
        versions[target.stack_name(stack)] = target.outputs(stack).get(names.VERSION_OUTPUT) or None
    found = {version for version in versions.values() if version}
    unversioned = [stack for stack, version in versions.items() if not version]
    if len(found) > 1:
        listed = ", ".join(f"{stack} {version or 'unversioned'}" for stack, version in versions.items())
        return Check(
            "stacks",
            FAIL,
            f"the stacks were deployed from different versions: {listed}",
            f"deploy every stack from one commit (make deploy ENV={target.name}, or let the pipeline finish)",
        )
    if unversioned:
        return Check(
            "stacks",
            WARN,
            f"{', '.join(unversioned)} carry no {names.VERSION_OUTPUT} output (deployed by an older version)",
            f"deploy the environment again: make deploy ENV={target.name}",
        )
    (version,) = found
    return Check("stacks", OK, f"{len(versions)} stacks deployed at version {version}")


# --- graders -----------------------------------------------------------------------------------


def grader_canaries(target: Environment) -> Iterator[Check]:
    graders = target.graders()
    if not graders:
        yield Check("graders", FAIL, "the rewards stack lists no grader", "deploy the rewards stack")
    for name, alias_arn in sorted(graders.items()):
        try:
            yield grader_canary(target, name, alias_arn)
        except Exception as exc:  # one unreachable grader must not hide the others
            yield Check(f"grader {name}", FAIL, f"could not be invoked: {_reason(exc)}", _fix_for(exc))


def grader_canary(target: Environment, name: str, alias_arn: str) -> Check:
    label = f"grader {name}"
    canary = canaries.canary_for(name)
    if canary is None:
        return Check(
            label,
            WARN,
            "no canary batch is defined for this grader",
            f"add a right and a wrong answer for {name!r} to rft/canaries.py",
        )
    answer = target.client("lambda").invoke(
        FunctionName=alias_arn, InvocationType="RequestResponse", Payload=json.dumps(canary.batch()).encode()
    )
    payload = answer["Payload"].read()
    try:
        response = json.loads(payload or b"null")
    except json.JSONDecodeError:
        response = None
    if answer.get("FunctionError"):
        message = response.get("errorMessage") if isinstance(response, dict) else payload[:200]
        return Check(
            label,
            FAIL,
            f"the live alias raised on the canary batch: {message}",
            f"read the grader's logs (/aws/lambda of {alias_arn.split(':')[6]})",
        )
    problems = canary.problems(response)
    if problems:
        return Check(
            label,
            FAIL,
            f"canary batch: {'; '.join(problems)}",
            f"the deployed grader disagrees with its tests: run rft reward test, then redeploy {name}",
        )
    return Check(label, OK, "canary batch scored as expected (right answer high, wrong answer 0)")


# --- validate-only run -------------------------------------------------------------------------


def canary_dataset() -> bytes:
    """A small valid training set (arithmetic with numeric references), the same bytes every time."""
    lines = []
    for n in range(1, CANARY_PROMPTS + 1):
        a, b = 3 * n + 1, 7 * n + 2
        lines.append(
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": f"What is {a} plus {b}? Answer with the number."}
                    ],
                    "reference_answer": {"answer": str(a + b)},
                    "task_id": f"rft-doctor-{n:03d}",
                },
                separators=(",", ":"),
            )
        )
    return ("\n".join(lines) + "\n").encode("utf-8")


def canary_base_model(target: Environment) -> str | None:
    """The first catalog model offered in the region that the environment allows."""
    raw = target.outputs(names.TRAINING_STACK).get(names.ALLOWED_MODELS_OUTPUT) or "[]"
    allowed = json.loads(raw)
    for model in catalog.models_in(target.region):
        if not allowed or model.id in allowed:
            return model.id
    return None


def canary_run_name(now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"doctor-{moment}-{secrets.token_hex(3)}"


def validate_only_run(target: Environment, options: DoctorOptions) -> Check:
    label = "validate-only run"
    graders = target.graders()
    base_model = canary_base_model(target)
    if base_model is None or not graders:
        return Check(
            label,
            FAIL,
            f"no base model the catalog offers in {target.region} is allowed here"
            if base_model is None
            else "no grader is deployed",
            "check allowed_base_models and the region in cdk.json",
        )
    body = canary_dataset()
    key = f"{names.DOCTOR_PREFIX}/canary-{hashlib.sha256(body).hexdigest()[:16]}.jsonl"
    bucket = target.datasets_bucket
    target.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/jsonl")
    reward = PREFERRED_CANARY_REWARD if PREFERRED_CANARY_REWARD in graders else sorted(graders)[0]
    name = canary_run_name()
    request = JobRequest(
        name=name,
        base_model=base_model,
        training_data=f"s3://{bucket}/{key}",
        reward=reward,
        validate_only=True,
    )
    states = target.client("stepfunctions")
    started = states.start_execution(
        stateMachineArn=target.state_machine_arn, name=name, input=json.dumps(request.to_dict())
    )
    description = _wait_for(states, started["executionArn"], options)
    status = description["status"]
    if status == "SUCCEEDED":
        output = json.loads(description.get("output") or "{}")
        prompts = output.get("dataset", {}).get("training_data", {}).get("prompts")
        return Check(
            label,
            OK,
            f"run {name} ({base_model}, {reward}) validated {prompts} prompts and stopped; no job started",
        )
    if status == "RUNNING":
        return Check(
            label,
            FAIL,
            f"run {name} was still running after {options.run_timeout_seconds:g} s",
            f"look at it with: rft train watch {name} --env {target.name}",
        )
    cause = description.get("cause") or description.get("error") or "no cause recorded"
    return Check(
        label,
        FAIL,
        f"run {name} {status.lower()}: {' '.join(str(cause).split())[:400]}",
        f"rft train watch {name} --env {target.name} shows the failed step",
    )


def _wait_for(states: Any, execution_arn: str, options: DoctorOptions) -> dict[str, Any]:
    deadline = options.clock() + options.run_timeout_seconds
    while True:
        description: dict[str, Any] = states.describe_execution(executionArn=execution_arn)
        if description["status"] != "RUNNING" or options.clock() >= deadline:
            return description
        options.sleep(options.poll_seconds)


# --- gateway -----------------------------------------------------------------------------------


def gateway_models(target: Environment) -> Check:
    from rft.client import signed_openai_client

    base_url = target.gateway_url.rstrip("/") + "/v1"
    client = signed_openai_client(
        base_url, region=target.region, session=target.session, max_retries=0, timeout=30.0
    )
    try:
        listed = client.models.list()
    except Exception as exc:  # openai's APIError family: the status and the gateway's message
        status = getattr(exc, "status_code", None)
        return Check(
            "gateway",
            FAIL,
            f"signed GET {base_url}/models failed"
            + (f" with HTTP {status}" if status else "")
            + f": {getattr(exc, 'message', None) or exc}",
            "check the gateway's logs and that your identity may call execute-api:Invoke on it",
        )
    models = [model.id for model in listed.data]
    return Check("gateway", OK, f"signed GET /v1/models answered with {len(models)} model(s)")


# --- topic, budget, alarms ---------------------------------------------------------------------


def topic_subscriptions(target: Environment) -> Check:
    sns = target.client("sns")
    subscriptions: list[dict[str, Any]] = []
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=target.topic_arn):
        subscriptions.extend(page.get("Subscriptions", []))
    confirmed = [s for s in subscriptions if str(s.get("SubscriptionArn", "")).startswith("arn:")]
    pending = [s for s in subscriptions if s not in confirmed]
    if confirmed:
        extra = f" ({len(pending)} pending)" if pending else ""
        return Check("topic", OK, f"{len(confirmed)} confirmed subscription(s){extra}")
    if pending:
        return Check(
            "topic",
            WARN,
            f"{len(pending)} subscription(s) pending confirmation, none confirmed: nobody hears of failures",
            "open the 'AWS Notification - Subscription Confirmation' mail and confirm it",
        )
    return Check(
        "topic",
        WARN,
        "the notification topic has no subscription: nobody hears of failures",
        "add notification_emails to the environment in cdk.json and deploy",
    )


def budget_exists(target: Environment) -> Check:
    from botocore.exceptions import ClientError

    name = target.output(names.OPERATIONS_STACK, names.BUDGET_OUTPUT)
    account = str(target.client("sts").get_caller_identity()["Account"])
    try:
        budget = target.client("budgets").describe_budget(AccountId=account, BudgetName=name)["Budget"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NotFoundException":
            return Check("budget", FAIL, f"budget {name} does not exist", "deploy the operations stack")
        raise
    limit = budget.get("BudgetLimit") or {}
    return Check(
        "budget", OK, f"budget {name}: {limit.get('Amount', '?')} {limit.get('Unit', '')} a month".strip()
    )


def alarms_exist(target: Environment) -> Check:
    expected = json.loads(target.output(names.OPERATIONS_STACK, names.ALARMS_OUTPUT))
    if not expected:
        return Check(
            "alarms",
            WARN,
            "the environment has no alarms (operations.alarms_enabled is false)",
            "set alarms_enabled to true in cdk.json and deploy",
        )
    cloudwatch = target.client("cloudwatch")
    found: dict[str, str] = {}
    for start in range(0, len(expected), ALARMS_PER_CALL):
        for page in cloudwatch.get_paginator("describe_alarms").paginate(
            AlarmNames=expected[start : start + ALARMS_PER_CALL], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
        ):
            for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                found[alarm["AlarmName"]] = alarm.get("StateValue", "")
    missing = [name for name in expected if name not in found]
    if missing:
        return Check(
            "alarms",
            FAIL,
            f"{len(missing)} of {len(expected)} alarms do not exist: {', '.join(missing[:5])}",
            "deploy the operations stack",
        )
    firing = sorted(name for name, state in found.items() if state == "ALARM")
    if firing:
        return Check(
            "alarms",
            WARN,
            f"{len(expected)} alarms exist; in ALARM: {', '.join(firing[:5])}",
            "look at the dashboard (output DashboardUrl of the operations stack)",
        )
    return Check("alarms", OK, f"{len(expected)} alarms exist, none in ALARM")
