"""Run the synthesized training workflow offline: moto's Step Functions interpreter executes the
state machine definition exactly as `cdk synth` writes it, and the workflow's Lambda steps run
in this process with the environment variables the template gives them.

`WorkflowHarness(stage)` (a context manager) starts `mock_aws` with `execute_state_machine`,
creates in moto every resource the definition and the functions refer to (buckets, key, topic
and its subscriptions, roles, functions and their aliases, the graders' aliases in the rewards
stack), resolves `Ref` / `Fn::GetAtt` / `Fn::Join` / `Fn::ImportValue` to those resources, and
creates the state machine from the resolved definition.

The adapter: what moto 5.2.5 lacks or gets wrong, fixed on the test side only (pinned moto; see
getmoto/moto#10076 and PR #10101, which may change this code):

1. aws-sdk tasks: moto hands the ASL `Parameters` (PascalCase, as real Step Functions takes them)
   to boto3 unchanged and returns boto3's camelCase. `_normalise_parameters` /
   `_normalise_response` of `StateTaskServiceAwsSdk` are stubs; here they convert both ways from
   botocore's operation model with the interpreter's own `_to_boto_request` /
   `_from_boto_response` helpers.
2. Error names: moto says `bedrock.XxxException`; Step Functions says `Bedrock.XxxException`.
3. `GetModelCustomizationJob` / `StopModelCustomizationJob` by ARN: moto does not URL-decode the
   identifier; the backend gets the job's name (moto's key) for the decoded ARN. moto also forms
   job and custom model ARNs as `.../model-customization-job/<job name>`, which Bedrock's own
   patterns refuse (tests/conftest.py checks every call against them): here they take the real
   form, `.../model-customization-job/<base model id>/<12 characters>`.
4. Timestamps: moto's Choice compares only `YYYY-MM-DDTHH:MM:SSZ`, so `$$.State.EnteredTime`
   (fractional seconds, an offset) never compares; here any RFC 3339 timestamp does.
5. Lambda tasks: moto answers with a canned payload; here the invoke reaches the real handler
   (`Handler` of the function in the template) in process, with the function's environment.
6. Retry intervals really sleep in moto; here they are recorded (`retry_sleeps`) instead.
7. Bedrock statuses and deployments: moto keeps a job `InProgress` forever and has no custom model
   deployment APIs. `FakeBedrock` scripts the job statuses the state machine's Get task reads
   (and throttling), and serves CreateCustomModelDeployment / GetCustomModelDeployment.
8. Speed only: the parsed definition is reused (moto parses it on create and on every start), and
   so are boto3 clients (moto builds one per task; building one takes ~0.1 s).

Wait states keep their real semantics (tests pass zero seconds); `virtual_waits=True` records
the seconds on a virtual clock instead of sleeping (the benchmark's 24-hour job).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import importlib
import io
import itertools
import json
import os
import threading
import time
import traceback
import types
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from unittest import mock
from urllib.parse import unquote

import boto3
import botocore.session
from moto import mock_aws
from moto.bedrock.models import BedrockBackend, ModelCustomizationJob, bedrock_backends
from moto.moto_api._internal import mock_random
from moto.sns.models import sns_backends
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations import (
    is_operator,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk as aws_sdk,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_callback,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_events as events_task,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_sns as sns_task,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client as sfn_boto_client

from tests.fakes.pseudo_parameters import ACCOUNT, PARTITION, pseudo_parameters

_BOTOCORE = botocore.session.get_session()
_HANDLER_LOCK = threading.Lock()
_ORIGINAL_PARSE = AmazonStateLanguageParser.parse
_PARSED: dict[str, Any] = {}
_ORIGINAL_CLIENT_FOR = sfn_boto_client.boto_client_for
_CLIENTS: dict[tuple[str, ...], Any] = {}


def _cached_client(service: str, region: str) -> Any:
    """boto3 clients are slow to build (~0.1 s); moto's hooks reach every client, whenever built."""
    key = ("test", service, region)
    if key not in _CLIENTS:
        _CLIENTS[key] = boto3.client(service, region_name=region)
    return _CLIENTS[key]


def _sfn_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    key = ("sfn", service, region)
    if key not in _CLIENTS:
        _CLIENTS[key] = _ORIGINAL_CLIENT_FOR(
            region=region, service=service, state_credentials=state_credentials
        )
    return _CLIENTS[key]


def _parse_once(definition: str) -> Any:
    """moto parses a definition (pure Python ANTLR, ~0.3 s here) on create and on every execution;
    the parsed program keeps no execution state (that lives in the execution's environment)."""
    if definition not in _PARSED:
        _PARSED[definition] = _ORIGINAL_PARSE(definition)
    return _PARSED[definition]


# --- CloudFormation intrinsics -------------------------------------------------------------------


class Resolver:
    """Resolves a stage's templates against the physical resources created for them."""

    def __init__(self, templates: Mapping[str, dict[str, Any]], region: str) -> None:
        self.templates = templates
        self.region = region
        self.physical: dict[tuple[str, str], dict[str, Any]] = {}
        self.exports: dict[str, tuple[str, Any]] = {}
        for stack, template in templates.items():
            for output in template.get("Outputs", {}).values():
                name = (output.get("Export") or {}).get("Name")
                if name:
                    self.exports[name] = (stack, output["Value"])

    def bind(self, stack: str, logical_id: str, ref: Any, **attributes: Any) -> None:
        self.physical[(stack, logical_id)] = {"Ref": ref, **attributes}

    def resolve(self, stack: str, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(stack, item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(stack, arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self._get_att(stack, logical_id, attribute)
            if key == "Fn::Join":
                separator, parts = arg
                return separator.join(str(part) for part in self.resolve(stack, parts))
            if key == "Fn::ImportValue":
                owner, exported = self.exports[self.resolve(stack, arg)]
                return self.resolve(owner, exported)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(stack, items)[int(index)]
            if key == "Fn::Split":
                separator, text = arg
                return str(self.resolve(stack, text)).split(separator)
            if key.startswith("Fn::"):
                raise NotImplementedError(f"intrinsic {key} is not resolved offline")
        return {key: self.resolve(stack, item) for key, item in value.items()}

    def _ref(self, stack: str, name: str) -> Any:
        pseudo = pseudo_parameters(stack, self.region)
        if name in pseudo:
            return pseudo[name]
        bound = self.physical.get((stack, name))
        return bound["Ref"] if bound else f"{stack}-{name}"

    def _get_att(self, stack: str, logical_id: str, attribute: str) -> Any:
        bound = self.physical.get((stack, logical_id)) or {}
        if attribute in bound:
            return bound[attribute]
        return f"arn:{PARTITION}:offline:{self.region}:{ACCOUNT}:{stack}/{logical_id}/{attribute}"


# --- Bedrock: scripted statuses and the deployment APIs moto lacks ------------------------------


THROTTLE = "throttle"


@dataclass
class FakeBedrock:
    """What the state machine's Bedrock tasks see beyond moto.

    `job_statuses`: the `status` each GetModelCustomizationJob returns, in order (the last one
    repeats); `"throttle"` answers ThrottlingException instead. `create_throttles`: how many
    CreateModelCustomizationJob calls are throttled first. `deployment_statuses`: likewise for
    GetCustomModelDeployment. `status_at(clock)`, when set, replaces `job_statuses` (virtual time).
    """

    job_statuses: list[str] = field(default_factory=lambda: ["InProgress", "Completed"])
    failure_message: str | None = "The reward function returned invalid scores."
    create_throttles: int = 0
    deployment_statuses: list[str] = field(default_factory=lambda: ["Creating", "Active"])
    deployment_failure_message: str | None = "Insufficient capacity for the custom model deployment."
    status_at: Callable[[float], str] | None = None
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    _job_polls: int = 0
    _deployment_polls: int = 0

    def next_job_status(self, clock: float) -> str:
        if self.status_at is not None:
            return self.status_at(clock)
        status = self.job_statuses[min(self._job_polls, len(self.job_statuses) - 1)]
        self._job_polls += 1
        return status

    def next_deployment_status(self) -> str:
        status = self.deployment_statuses[min(self._deployment_polls, len(self.deployment_statuses) - 1)]
        self._deployment_polls += 1
        return status


def _client_error(service: str, operation: str, code: str, message: str, status: int) -> Exception:
    client = _cached_client(service, "us-east-1")
    error_class = getattr(client.exceptions, code)
    return error_class(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "offline"},
        },
        operation,
    )


# --- Results -------------------------------------------------------------------------------------


@dataclass
class ExecutionResult:
    arn: str
    status: str
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    events: list[dict[str, Any]]

    @property
    def path(self) -> list[str]:
        """The states entered, in order."""
        return [e["stateEnteredEventDetails"]["name"] for e in self.events if "stateEnteredEventDetails" in e]

    @property
    def transitions(self) -> int:
        """State transitions as Step Functions bills them: one per state entered."""
        return len(self.path)

    def outputs_of(self, state: str) -> list[Any]:
        return [
            json.loads(e["stateExitedEventDetails"]["output"])
            for e in self.events
            if e.get("stateExitedEventDetails", {}).get("name") == state
        ]


@dataclass
class LambdaTarget:
    stack: str
    logical_id: str
    name: str
    handler: str
    environment: dict[str, str]
    arn: str


# --- The harness ---------------------------------------------------------------------------------


class WorkflowHarness:
    """The synthesized workflow of `stage` in moto, with the adapter above installed."""

    def __init__(
        self,
        templates: Mapping[str, dict[str, Any]],
        *,
        region: str,
        training_stack: str,
        bedrock: FakeBedrock | None = None,
        function_environment: Mapping[str, Mapping[str, str]] | None = None,
        virtual_waits: bool = False,
    ) -> None:
        self.templates = templates
        self.region = region
        self.training_stack = training_stack
        self.bedrock = bedrock or FakeBedrock()
        self.function_environment = {k: dict(v) for k, v in (function_environment or {}).items()}
        self.virtual_waits = virtual_waits
        self.clock = 0.0  # seconds waited (virtual_waits)
        self.waits: list[int] = []  # each Wait state's seconds (virtual_waits)
        self.retry_sleeps: list[float] = []
        self.sdk_calls: list[tuple[str, str, dict[str, Any]]] = []
        self.invocations: list[tuple[str, dict[str, Any]]] = []
        self.before_invoke: Callable[[str, dict[str, Any]], None] | None = None
        self.resolver = Resolver(templates, region)
        self.functions: dict[str, LambdaTarget] = {}  # by function name, function ARN and alias ARN
        self._queues: list[str] = []
        self._stack = contextlib.ExitStack()

    # --- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> WorkflowHarness:
        try:
            self._stack.enter_context(mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": self.region}))
            self._stack.enter_context(mock_aws(config={"stepfunctions": {"execute_state_machine": True}}))
            self._install_adapter()
            mock_random.seed(0)  # the same ids every time: the same definition, parsed once
            _cold_start()
            self._create_resources()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        _cold_start()

    def client(self, service: str) -> Any:
        return _cached_client(service, self.region)

    # --- running ---------------------------------------------------------------------------------

    @property
    def state_machine_arn(self) -> str:
        (logical_id,) = self._resources_of(self.training_stack, "AWS::StepFunctions::StateMachine")
        return self.resolver.physical[(self.training_stack, logical_id)]["Ref"]

    def start(self, request: Mapping[str, Any], *, name: str | None = None) -> str:
        name = name or str(request.get("name"))
        response = self.client("stepfunctions").start_execution(
            stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(request)
        )
        return response["executionArn"]

    def run(
        self, request: Mapping[str, Any], *, name: str | None = None, timeout: float = 30.0
    ) -> ExecutionResult:
        return self.wait(self.start(request, name=name), timeout=timeout)

    def wait(
        self,
        execution_arn: str,
        *,
        timeout: float = 30.0,
        until: Callable[[ExecutionResult], bool] | None = None,
    ) -> ExecutionResult:
        deadline = time.monotonic() + timeout
        sfn = self.client("stepfunctions")
        while True:
            if until is None:
                done = sfn.describe_execution(executionArn=execution_arn)["status"] != "RUNNING"
                result = None
            else:
                result = self.result(execution_arn)
                done = until(result)
            if done or time.monotonic() > deadline:
                return result or self.result(execution_arn)
            time.sleep(0.005)

    def result(self, execution_arn: str) -> ExecutionResult:
        sfn = self.client("stepfunctions")
        description = sfn.describe_execution(executionArn=execution_arn)
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = sfn.get_execution_history(**kwargs)
            events.extend(page["events"])
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        output = description.get("output")
        return ExecutionResult(
            arn=execution_arn,
            status=description["status"],
            output=json.loads(output) if output else None,
            error=description.get("error"),
            cause=description.get("cause"),
            events=events,
        )

    def invoke(self, logical_prefix: str, event: Mapping[str, Any]) -> Any:
        """Call a function of the training stack (e.g. "Cleanup") the way Lambda would."""
        target = next(
            t
            for t in {id(t): t for t in self.functions.values()}.values()
            if t.logical_id.startswith(logical_prefix)
        )
        payload, error = self._call_handler(target, dict(event))
        if error:
            raise AssertionError(f"{target.logical_id} raised: {payload}")
        return payload

    # --- what the tests read ---------------------------------------------------------------------

    def topic_arn(self) -> str:
        (logical_id,) = self._resources_of(self.training_stack, "AWS::SNS::Topic")
        return self.resolver.physical[(self.training_stack, logical_id)]["Ref"]

    def notifications(self) -> list[dict[str, Any]]:
        """Messages published to the environment's topic: {"subject", "message"}."""
        topic = sns_backends[ACCOUNT][self.region].topics[self.topic_arn()]
        return [
            {"subject": subject, "message": message} for _, message, subject, *_ in topic.sent_notifications
        ]

    def bucket(self, stack: str, logical_prefix: str) -> str:
        logical_id = next(
            lid for lid in self._resources_of(stack, "AWS::S3::Bucket") if lid.startswith(logical_prefix)
        )
        return self.resolver.physical[(stack, logical_id)]["Ref"]

    def capture_events(self, pattern: Mapping[str, Any]) -> str:
        """An SQS queue that receives the default bus's events matching `pattern` (read with `events`)."""
        sqs, events = self.client("sqs"), self.client("events")
        queue_url = sqs.create_queue(QueueName=f"captured-{len(self._queues)}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        rule = f"capture-{len(self._queues)}"
        events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=rule, Targets=[{"Id": "queue", "Arn": queue_arn}])
        self._queues.append(queue_url)
        return queue_url

    def events(self, queue_url: str) -> list[dict[str, Any]]:
        messages = (
            self.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        )
        return [json.loads(m["Body"]) for m in messages]

    def bedrock_job(self, name: str) -> Any:
        return bedrock_backends[ACCOUNT][self.region].model_customization_jobs[name]

    def sdk_calls_to(self, action: str) -> list[dict[str, Any]]:
        return [params for _, called, params in self.sdk_calls if called == action]

    def environment_of(self, logical_prefix: str) -> dict[str, str]:
        for target in self.functions.values():
            if target.stack == self.training_stack and target.logical_id.startswith(logical_prefix):
                return dict(target.environment)
        raise KeyError(logical_prefix)

    # --- resources -------------------------------------------------------------------------------

    def _resources_of(self, stack: str, kind: str) -> list[str]:
        return [lid for lid, r in self.templates[stack]["Resources"].items() if r["Type"] == kind]

    def _create_resources(self) -> None:
        s3, kms, sns, iam, lam = (self.client(s) for s in ("s3", "kms", "sns", "iam", "lambda"))
        lambda_role = iam.create_role(RoleName="offline-lambda", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        # Pass 1: resources nothing else is needed to create.
        for stack, template in self.templates.items():
            short = stack.rsplit("-", 1)[-1].lower()
            for logical_id, resource in template["Resources"].items():
                kind = resource["Type"]
                if kind == "AWS::S3::Bucket":
                    name = f"{short}-{logical_id}".lower()[:63]
                    kwargs: dict[str, Any] = {"Bucket": name}
                    if self.region != "us-east-1":
                        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
                    s3.create_bucket(**kwargs)
                    self.resolver.bind(stack, logical_id, name, Arn=f"arn:{PARTITION}:s3:::{name}")
                elif kind == "AWS::KMS::Key":
                    key = kms.create_key(Description=logical_id)["KeyMetadata"]
                    self.resolver.bind(stack, logical_id, key["KeyId"], Arn=key["Arn"])
                elif kind == "AWS::SNS::Topic":
                    arn = sns.create_topic(Name=f"{short}-{logical_id}")["TopicArn"]
                    self.resolver.bind(stack, logical_id, arn, TopicArn=arn, TopicName=arn.rsplit(":", 1)[1])
                elif kind == "AWS::IAM::Role":
                    name = f"{short}-{logical_id}"[:64]
                    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]
                    self.resolver.bind(stack, logical_id, name, Arn=role["Arn"])
                elif kind == "AWS::DynamoDB::Table":
                    name = f"{short}-{logical_id}"
                    properties = resource["Properties"]
                    table = self.client("dynamodb").create_table(
                        TableName=name,
                        KeySchema=properties["KeySchema"],
                        AttributeDefinitions=properties["AttributeDefinitions"],
                        BillingMode="PAY_PER_REQUEST",
                    )["TableDescription"]
                    self.resolver.bind(stack, logical_id, name, Arn=table["TableArn"])
                elif kind == "AWS::Logs::LogGroup":
                    name = f"/offline/{short}/{logical_id}"
                    self.resolver.bind(
                        stack,
                        logical_id,
                        name,
                        Arn=f"arn:{PARTITION}:logs:{self.region}:{ACCOUNT}:log-group:{name}:*",
                    )
        # Pass 2: functions (they refer to roles, buckets, the key, the topic).
        for stack, template in self.templates.items():
            short = stack.rsplit("-", 1)[-1].lower()
            for logical_id, resource in template["Resources"].items():
                if resource["Type"] != "AWS::Lambda::Function":
                    continue
                properties = resource["Properties"]
                name = f"{short}-{logical_id}"[:64]
                arn = lam.create_function(
                    FunctionName=name,
                    Runtime="python3.12",
                    Role=lambda_role,
                    Handler=properties["Handler"],
                    Code={"ZipFile": _empty_zip()},
                )["FunctionArn"]
                self.resolver.bind(stack, logical_id, name, Arn=arn)
        # Pass 3: aliases and subscriptions.
        aliases: list[tuple[str, str]] = []
        for stack, template in self.templates.items():
            for logical_id, resource in template["Resources"].items():
                properties = resource.get("Properties", {})
                if resource["Type"] == "AWS::Lambda::Alias":
                    function_name = self.resolver.resolve(stack, properties["FunctionName"])
                    alias = lam.create_alias(
                        FunctionName=function_name, Name=properties["Name"], FunctionVersion="$LATEST"
                    )
                    self.resolver.bind(stack, logical_id, alias["AliasArn"])
                    aliases.append((alias["AliasArn"], function_name))
                elif resource["Type"] == "AWS::SNS::Subscription":
                    sns.subscribe(
                        TopicArn=self.resolver.resolve(stack, properties["TopicArn"]),
                        Protocol=properties["Protocol"],
                        Endpoint=self.resolver.resolve(stack, properties["Endpoint"]),
                    )
        # Pass 4: what each function runs with (aliases are bound now), then the state machine.
        for stack, template in self.templates.items():
            for logical_id, resource in template["Resources"].items():
                if resource["Type"] != "AWS::Lambda::Function":
                    continue
                properties = resource["Properties"]
                environment = self.resolver.resolve(
                    stack, (properties.get("Environment") or {}).get("Variables", {})
                )
                name = self.resolver.physical[(stack, logical_id)]["Ref"]
                short_id = logical_id
                overrides = next(
                    (
                        v
                        for k, v in self.function_environment.items()
                        if stack == self.training_stack and short_id.startswith(k)
                    ),
                    {},
                )
                target = LambdaTarget(
                    stack=stack,
                    logical_id=logical_id,
                    name=name,
                    handler=properties["Handler"],
                    environment={**{k: str(v) for k, v in environment.items()}, **overrides},
                    arn=self.resolver.physical[(stack, logical_id)]["Arn"],
                )
                self.functions[name] = target
                self.functions[target.arn] = target
        for alias_arn, function_name in aliases:
            self.functions[alias_arn] = self.functions[function_name]
        (logical_id,) = self._resources_of(self.training_stack, "AWS::StepFunctions::StateMachine")
        properties = self.templates[self.training_stack]["Resources"][logical_id]["Properties"]
        definition = self.resolver.resolve(self.training_stack, properties["DefinitionString"])
        json.loads(definition)  # fully resolved, valid JSON
        arn = self.client("stepfunctions").create_state_machine(
            name=f"training-{logical_id}"[:80],
            definition=definition,
            roleArn=self.resolver.resolve(self.training_stack, properties["RoleArn"]),
        )["stateMachineArn"]
        self.resolver.bind(self.training_stack, logical_id, arn, Name=arn.rsplit(":", 1)[1], Arn=arn)
        self.definition = json.loads(definition)

    # --- the adapter -----------------------------------------------------------------------------

    def _install_adapter(self) -> None:
        harness = self
        patch = self._stack.enter_context

        def normalise_parameters(task, parameters, boto_service_name=None, service_action_name=None):
            operation = _operation(task._get_boto_service_name(boto_service_name), task.resource.api_action)
            task._to_boto_request(parameters, operation.input_shape)

        def normalise_response(task, response, boto_service_name=None, service_action_name=None):
            operation = _operation(task._get_boto_service_name(boto_service_name), task.resource.api_action)
            task._from_boto_response(response, operation.output_shape)
            _stringify_timestamps(response)

        original_eval = aws_sdk.StateTaskServiceAwsSdk._eval_service_task

        def eval_service_task(task, env, resource_runtime_part, normalised_parameters, state_credentials):
            service = task._get_boto_service_name()
            action = task.resource.api_action
            harness.sdk_calls.append(
                (service, action, json.loads(json.dumps(normalised_parameters, default=str)))
            )
            fake = harness._fake_sdk(service, action, normalised_parameters)
            if fake is not None:
                env.stack.append(fake)
                return None
            return original_eval(task, env, resource_runtime_part, normalised_parameters, state_credentials)

        patch(
            mock.patch.object(aws_sdk.StateTaskServiceAwsSdk, "_normalise_parameters", normalise_parameters)
        )
        patch(mock.patch.object(aws_sdk.StateTaskServiceAwsSdk, "_normalise_response", normalise_response))
        patch(mock.patch.object(aws_sdk.StateTaskServiceAwsSdk, "_eval_service_task", eval_service_task))
        patch(mock.patch.dict(aws_sdk._SERVICE_ERROR_NAMES, {"bedrock": "Bedrock"}))

        original_init = ModelCustomizationJob.__init__

        def init_job(job, *args, **kwargs):
            original_init(job, *args, **kwargs)
            _real_form_arns(job)

        patch(mock.patch.object(ModelCustomizationJob, "__init__", init_job))
        original_get = BedrockBackend.get_model_customization_job
        original_stop = BedrockBackend.stop_model_customization_job
        patch(
            mock.patch.object(
                BedrockBackend,
                "get_model_customization_job",
                lambda backend, job_identifier: original_get(backend, _job_name(backend, job_identifier)),
            )
        )
        patch(
            mock.patch.object(
                BedrockBackend,
                "stop_model_customization_job",
                lambda backend, job_identifier: original_stop(backend, _job_name(backend, job_identifier)),
            )
        )
        patch(
            mock.patch.object(is_operator.IsTimestamp, "string_to_timestamp", staticmethod(_parse_timestamp))
        )
        patch(mock.patch.object(lambda_eval_utils, "_invoke_lambda_function", self._invoke_lambda))
        patch(mock.patch.object(AmazonStateLanguageParser, "parse", staticmethod(_parse_once)))
        for module in (aws_sdk, lambda_eval_utils, sns_task, events_task):
            patch(mock.patch.object(module, "boto_client_for", _sfn_client_for))
        patch(mock.patch.object(retrier_decl, "time", types.SimpleNamespace(sleep=self.retry_sleeps.append)))
        if self.virtual_waits:

            def wait_interval(function, env, wait_seconds):
                harness.waits.append(wait_seconds)
                harness.clock += wait_seconds

            patch(mock.patch.object(wait_function.WaitFunction, "_wait_interval", wait_interval))

            def wait_for_token(task, timeout_seconds, callback_endpoint):
                """A task-token wait in virtual time: an answer already sent, else a timeout."""
                outcome = callback_endpoint.get_outcome()
                if outcome is None:
                    harness.waits.append(timeout_seconds)
                    harness.clock += timeout_seconds
                return outcome

            patch(
                mock.patch.object(
                    state_task_service_callback.StateTaskServiceCallback,
                    "_wait_for_task_token_timeout",
                    wait_for_token,
                )
            )

    def _fake_sdk(self, service: str, action: str, parameters: dict[str, Any]) -> dict[str, Any] | None:
        if service != "bedrock":
            return None
        fake = self.bedrock
        if action == "createModelCustomizationJob" and fake.create_throttles > 0:
            fake.create_throttles -= 1
            raise _client_error(
                "bedrock", "CreateModelCustomizationJob", "ThrottlingException", "Rate exceeded", 429
            )
        if action == "getModelCustomizationJob":
            status = fake.next_job_status(self.clock)
            if status == THROTTLE:
                raise _client_error(
                    "bedrock", "GetModelCustomizationJob", "ThrottlingException", "Rate exceeded", 429
                )
            backend = bedrock_backends[ACCOUNT][self.region]
            job = self.bedrock_job(_job_name(backend, parameters["jobIdentifier"]))
            job.status = status
            job.failure_message = fake.failure_message if status == "Failed" else None
            return None  # moto answers, with the scripted status
        if action == "createCustomModelDeployment":
            number = f"{len(fake.deployments):012d}"
            arn = f"arn:{PARTITION}:bedrock:{self.region}:{ACCOUNT}:custom-model-deployment/{number}"
            fake.deployments[arn] = {**parameters, "customModelDeploymentArn": arn, "status": "Creating"}
            return {"customModelDeploymentArn": arn}
        if action == "getCustomModelDeployment":
            deployment = fake.deployments[parameters["customModelDeploymentIdentifier"]]
            status = fake.next_deployment_status()
            if status == THROTTLE:
                raise _client_error(
                    "bedrock", "GetCustomModelDeployment", "ThrottlingException", "Rate exceeded", 429
                )
            deployment["status"] = status
            response = {
                "customModelDeploymentArn": deployment["customModelDeploymentArn"],
                "modelDeploymentName": deployment["modelDeploymentName"],
                "modelArn": deployment["modelArn"],
                "createdAt": "2026-01-01T00:00:00Z",
                "status": status,
            }
            if status == "Failed" and fake.deployment_failure_message:
                response["failureMessage"] = fake.deployment_failure_message
            return response
        return None

    # --- Lambda, in process ----------------------------------------------------------------------

    def _invoke_lambda(
        self, parameters: dict[str, Any], region: str, state_credentials: Any
    ) -> dict[str, Any]:
        target = self.functions[parameters["FunctionName"]]
        raw = parameters.get("Payload") or b"{}"
        event = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        payload, error = self._call_handler(target, event)
        response: dict[str, Any] = {"StatusCode": 200, "Payload": payload, "ExecutedVersion": "1"}
        if error:
            response["FunctionError"] = "Unhandled"
        return response

    def _call_handler(self, target: LambdaTarget, event: dict[str, Any]) -> tuple[Any, bool]:
        self.invocations.append((target.logical_id, event))
        module_name, function_name = target.handler.rsplit(".", 1)
        handler = getattr(importlib.import_module(module_name), function_name)
        context = types.SimpleNamespace(
            function_name=target.name,
            invoked_function_arn=target.arn,
            aws_request_id="offline",
            memory_limit_in_mb=512,
            get_remaining_time_in_millis=lambda: 300_000,
        )
        with _HANDLER_LOCK, _environment({**target.environment, "AWS_REGION": self.region}):
            try:
                if self.before_invoke is not None:  # a hook that raises is a handler that raises
                    self.before_invoke(target.logical_id, event)
                return json.loads(json.dumps(handler(event, context), default=str)), False
            except Exception as exc:  # Lambda reports every exception as the function's error
                return {
                    "errorType": type(exc).__name__,
                    "errorMessage": str(exc),
                    "stackTrace": traceback.format_exception(exc)[-3:],
                }, True


# --- helpers -------------------------------------------------------------------------------------


def _operation(service: str, api_action: str) -> Any:
    model = _BOTOCORE.get_service_model(service)
    return model.operation_model(api_action[:1].upper() + api_action[1:])


def _stringify_timestamps(value: Any) -> None:
    """Step Functions returns timestamps as ISO 8601 strings (boto3 parses them to datetimes)."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in list(items):
        if isinstance(item, dt.datetime):
            value[key] = item.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        else:
            _stringify_timestamps(item)


def _job_name(backend: Any, identifier: str) -> str:
    """moto keys jobs by name; the identifier is a name or a job ARN (URL-encoded or not)."""
    identifier = unquote(identifier)
    for name, job in backend.model_customization_jobs.items():
        if identifier in (name, job.job_arn):
            return name
    return identifier.rsplit("/", 1)[-1]


def _real_form_arns(job: Any) -> None:
    """Job and custom model ARNs as Bedrock forms them: `<base model id>/<12 lower-case characters>`."""
    digest = hashlib.sha256(job.job_name.encode()).hexdigest()
    prefix = job.job_arn.split(":model-customization-job/", 1)[0]
    job.job_arn = f"{prefix}:model-customization-job/{job.base_model_identifier}/{digest[:12]}"
    job.output_model_arn = f"{prefix}:custom-model/{job.base_model_identifier}/{digest[12:24]}"


def _parse_timestamp(text: Any) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _empty_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


def _cold_start() -> None:
    """Forget the Mantle clients of warm containers (each test has its own fake endpoint). The
    boto3 clients may stay: moto reaches every client, and they are keyed by region."""
    from lambda_workflow import mantle

    mantle._client.cache_clear()


# --- datasets ------------------------------------------------------------------------------------


def dataset_lines(count: int = 120, *, start: int = 1) -> list[str]:
    """Valid RFT JSONL lines (GSM8K-style arithmetic)."""
    return [
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "Answer with '#### <number>'."},
                    {"role": "user", "content": f"What is {i} + {i}?"},
                ],
                "reference_answer": {"answer": str(2 * i)},
                "task_id": f"sum-{i:05d}",
            }
        )
        for i in itertools.islice(itertools.count(start), count)
    ]
