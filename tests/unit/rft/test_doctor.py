"""rft doctor's checks against moto, botocore Stubbers (every request checked against the service
model) and a local gateway that insists on a SigV4 signature."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws

from rft import canaries, doctor, names
from rft.environment import Environment

REGION = "us-west-2"
GRADERS = {
    "math_answer": "arn:aws:lambda:us-west-2:123456789012:function:math:live",
    "json_schema": "arn:aws:lambda:us-west-2:123456789012:function:json:live",
}


def environment(outputs: dict[str, dict[str, str]] | None = None) -> Environment:
    target = Environment(name="staging", region=REGION, session=boto3.session.Session(region_name=REGION))
    target._outputs.update(outputs or {})
    return target


def stub(target: Environment, service: str) -> Stubber:
    stubber = Stubber(target.client(service))
    stubber.activate()
    return stubber


# --- stacks ------------------------------------------------------------------------------------


def stack_outputs(versions: dict[str, str | None]) -> dict[str, dict[str, str]]:
    return {
        stack: ({names.VERSION_OUTPUT: version} if version else {}) for stack, version in versions.items()
    }


def test_doctor_stacks_at_one_version_are_ok():
    target = environment(stack_outputs(dict.fromkeys(names.STACKS, "0.1.0+abc")))
    check = doctor.stack_versions(target)
    assert check.status == doctor.OK and "0.1.0+abc" in check.detail


def test_doctor_stacks_at_two_versions_fail_naming_each():
    versions = dict.fromkeys(names.STACKS, "0.1.0+abc")
    versions[names.REWARDS_STACK] = "0.1.0+def"
    check = doctor.stack_versions(environment(stack_outputs(versions)))
    assert check.status == doctor.FAIL
    assert "staging-Rewards 0.1.0+def" in check.detail and "staging-Data 0.1.0+abc" in check.detail


def test_doctor_an_unversioned_stack_is_a_warning():
    versions = dict.fromkeys(names.STACKS, "0.1.0+abc")
    versions[names.SERVING_STACK] = None
    check = doctor.stack_versions(environment(stack_outputs(versions)))
    assert check.status == doctor.WARN and "staging-Serving" in check.detail


def test_doctor_reads_the_versions_from_the_deployed_stacks():
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {names.VERSION_OUTPUT: {"Value": "0.1.0+abc"}},
    }
    with mock_aws():
        target = environment()
        for stack in names.STACKS:
            target.client("cloudformation").create_stack(
                StackName=target.stack_name(stack), TemplateBody=json.dumps(template)
            )
        assert doctor.stack_versions(target).status == doctor.OK
        # A missing stack is a failed check in the report, not a crash that hides the others.
        target.client("cloudformation").delete_stack(StackName="staging-Operations")
        failed = [c for c in doctor.examine(environment()) if c.name == "stacks"]
        assert failed[0].status == doctor.FAIL and "not deployed" in failed[0].detail


# --- graders -----------------------------------------------------------------------------------


def grader_answer(name: str) -> list[dict]:
    """What the grader's own handler answers to its canary batch (run here, in process)."""
    import importlib

    handler = importlib.import_module(f"lambda_rewards.{name}.handler").handler
    return handler(canaries.canary_for(name).batch(), None)


def payload(value: object) -> StreamingBody:
    raw = json.dumps(value).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def expect_invoke(stubber: Stubber, arn: str, answer: object, function_error: str | None = None) -> None:
    response = {"StatusCode": 200, "Payload": payload(answer)}
    if function_error:
        response["FunctionError"] = function_error
    stubber.add_response(
        "invoke",
        response,
        {
            "FunctionName": arn,
            "InvocationType": "RequestResponse",
            "Payload": json.dumps(canaries.canary_for(_grader(arn)).batch()).encode(),
        },
    )


def _grader(arn: str) -> str:
    return next(name for name, known in GRADERS.items() if known == arn)


def test_doctor_graders_that_score_their_canaries_are_ok(capsys):
    target = environment({names.REWARDS_STACK: {names.GRADERS_OUTPUT: json.dumps(GRADERS)}})
    lam = stub(target, "lambda")
    for name, arn in sorted(GRADERS.items()):
        expect_invoke(lam, arn, grader_answer(name))
    checks = list(doctor.grader_canaries(target))
    lam.assert_no_pending_responses()
    assert [(c.name, c.status) for c in checks] == [
        ("grader json_schema", "ok"),
        ("grader math_answer", "ok"),
    ]


def test_doctor_a_grader_that_scores_a_wrong_answer_fails():
    target = environment({names.REWARDS_STACK: {names.GRADERS_OUTPUT: json.dumps(GRADERS)}})
    lam = stub(target, "lambda")
    lenient = [
        {"id": canaries.RIGHT_ID, "aggregate_reward_score": 1.0},
        {"id": canaries.WRONG_ID, "aggregate_reward_score": 1.0},
    ]
    expect_invoke(lam, GRADERS["math_answer"], lenient)
    check = doctor.grader_canary(target, "math_answer", GRADERS["math_answer"])
    assert check.status == doctor.FAIL and "the wrong answer scored 1" in check.detail


def test_doctor_a_grader_that_raises_fails_with_its_message():
    target = environment()
    lam = stub(target, "lambda")
    expect_invoke(lam, GRADERS["math_answer"], {"errorMessage": "No module named sympy"}, "Unhandled")
    check = doctor.grader_canary(target, "math_answer", GRADERS["math_answer"])
    assert check.status == doctor.FAIL and "No module named sympy" in check.detail


def test_doctor_a_grader_without_a_canary_is_a_warning():
    check = doctor.grader_canary(environment(), "new_grader", "arn:aws:lambda:us-west-2:1:function:x:live")
    assert check.status == doctor.WARN and "rft/canaries.py" in (check.action or "")


def test_doctor_canary_scores_are_read_strictly():
    canary = canaries.canary_for("math_answer")
    assert canary.problems({"not": "a list"})[0].startswith("the answer is not a JSON array")
    assert canary.problems([{"id": canaries.RIGHT_ID, "aggregate_reward_score": True}])
    assert canary.problems([{"id": canaries.RIGHT_ID, "aggregate_reward_score": 1}]) == [
        f"no score for {canaries.WRONG_ID}"
    ]


# --- gateway -----------------------------------------------------------------------------------


class SigV4Gateway(BaseHTTPRequestHandler):
    """GET /v1/models, answered only when the request carries an execute-api SigV4 signature."""

    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        type(self).seen.append({"path": self.path, "authorization": auth})
        signed = auth.startswith("AWS4-HMAC-SHA256 ") and f"/{REGION}/execute-api/aws4_request" in auth
        status, body = (
            (200, {"object": "list", "data": [{"id": "prod", "object": "model", "owned_by": "rft"}]})
            if signed and self.path == "/v1/models"
            else (403, {"message": "Forbidden"})
        )
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def gateway_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), SigV4Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    SigV4Gateway.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_doctor_gateway_answers_a_signed_models_request(gateway_url):
    target = environment({names.SERVING_STACK: {names.GATEWAY_URL_OUTPUT: gateway_url}})
    check = doctor.gateway_models(target)
    assert check.status == doctor.OK and "1 model" in check.detail
    (request,) = SigV4Gateway.seen
    assert request["path"] == "/v1/models" and "execute-api" in request["authorization"]


def test_doctor_gateway_refusing_the_request_fails_with_the_status(gateway_url):
    target = environment({names.SERVING_STACK: {names.GATEWAY_URL_OUTPUT: gateway_url + "wrong-stage/"}})
    check = doctor.gateway_models(target)
    assert check.status == doctor.FAIL and "HTTP 403" in check.detail


# --- topic, budget, alarms ---------------------------------------------------------------------

TOPIC = "arn:aws:sns:us-west-2:123456789012:staging-topic"


def subscriptions(*arns: str) -> dict:
    return {
        "Subscriptions": [
            {"SubscriptionArn": arn, "Protocol": "email", "Endpoint": "a@example.com", "TopicArn": TOPIC}
            for arn in arns
        ]
    }


@pytest.mark.parametrize(
    ("arns", "status"),
    [
        ((f"{TOPIC}:1f2e", "PendingConfirmation"), doctor.OK),
        (("PendingConfirmation",), doctor.WARN),
        ((), doctor.WARN),
    ],
)
def test_doctor_topic_needs_a_confirmed_subscription(arns, status):
    target = environment({names.TRAINING_STACK: {names.TOPIC_OUTPUT: TOPIC}})
    sns = stub(target, "sns")
    sns.add_response("list_subscriptions_by_topic", subscriptions(*arns), {"TopicArn": TOPIC})
    check = doctor.topic_subscriptions(target)
    assert check.status == status
    if status == doctor.WARN:
        assert check.action


def operations_outputs(budget: str, alarms: list[str]) -> dict[str, dict[str, str]]:
    return {names.OPERATIONS_STACK: {names.BUDGET_OUTPUT: budget, names.ALARMS_OUTPUT: json.dumps(alarms)}}


@mock_aws
def test_doctor_budget_and_alarms_exist():
    target = environment(
        operations_outputs("staging-budget", ["staging-grader-errors", "staging-run-failed"])
    )
    account = target.client("sts").get_caller_identity()["Account"]
    target.client("budgets").create_budget(
        AccountId=account,
        Budget={
            "BudgetName": "staging-budget",
            "BudgetLimit": {"Amount": "500", "Unit": "USD"},
            "TimeUnit": "MONTHLY",
            "BudgetType": "COST",
        },
    )
    for name in ("staging-grader-errors", "staging-run-failed"):
        target.client("cloudwatch").put_metric_alarm(
            AlarmName=name,
            MetricName="Errors",
            Namespace="AWS/Lambda",
            Statistic="Sum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
    assert doctor.budget_exists(target).status == doctor.OK
    assert doctor.alarms_exist(target).status == doctor.OK
    target.client("cloudwatch").set_alarm_state(
        AlarmName="staging-run-failed", StateValue="ALARM", StateReason="a run failed"
    )
    firing = doctor.alarms_exist(target)
    assert firing.status == doctor.WARN and "staging-run-failed" in firing.detail


@mock_aws
def test_doctor_a_missing_budget_or_alarm_fails():
    target = environment(operations_outputs("staging-budget", ["staging-grader-errors"]))
    budget = doctor.budget_exists(target)
    alarms = doctor.alarms_exist(target)
    assert budget.status == doctor.FAIL and "staging-budget" in budget.detail
    assert alarms.status == doctor.FAIL and "staging-grader-errors" in alarms.detail


def test_doctor_no_alarms_at_all_is_a_warning():
    check = doctor.alarms_exist(environment(operations_outputs("b", [])))
    assert check.status == doctor.WARN and "alarms_enabled" in check.detail


def test_doctor_canary_dataset_is_a_valid_training_set():
    from rft import datasets

    report = datasets.validate_bytes(doctor.canary_dataset())
    assert report.ok and report.prompts == doctor.CANARY_PROMPTS
    assert doctor.canary_dataset() == doctor.canary_dataset()  # content-addressed: same key each time
