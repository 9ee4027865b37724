"""The training workflow's state document: the one JSON object its states pass along, and how to read
it back from an execution's history.

`Validate request` replaces the execution input with ``{"valid", "plan", "dataset", "watch"}``
(or ``{"valid": false, "error", "cause", ...}``); each later state adds one key and never removes one.
The `TypedDict`s below are the contract: `stacks/constructs/training_workflow.py` builds every
JSONPath with `path()`, which checks each key against them at synth time, and the publish and
cleanup Lambdas and the CLI read documents with the same names, so a renamed key breaks synth or a
type check instead of silently reading nothing.

`ExecutionHistory` is the one reader of Step Functions' execution history: the state each state
left (newest first), the state entered last, the failure the execution ended with.
"""

from __future__ import annotations

import json
import types
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import (
    Any,
    Literal,
    NotRequired,
    TypedDict,
    Union,
    cast,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)

from rft.status import JobState, job_state

Provider = Literal["bedrock", "mantle"]


# --- The plan (rft.job_plan.plan_job): what the state machine needs for a run --------------------------


class PlanWatch(TypedDict):
    first_wait_seconds: int
    max_wait_seconds: int
    time_limit_seconds: int


class BedrockPlan(TypedDict):
    # CreateModelCustomizationJob and CreateCustomModelDeployment parameters in the PascalCase of
    # Step Functions' AWS SDK integrations (botocore's shapes are their contract, not this module).
    create_job: dict[str, Any]
    create_deployment: dict[str, Any]


class MantleMetadata(TypedDict):
    rft_name: str
    rft_environment: str
    rft_request_token: str


class MantlePlan(TypedDict):
    base_url: str
    model: str
    training_data: str
    validation_data: str | None
    grader_arn: str
    hyperparameters: dict[str, Any]
    request_token: str
    start_record: str  # s3:// URI of the start step's record (rft.mantle_start.start_job)
    # Sent only while rft.assumptions says Mantle accepts them.
    suffix: NotRequired[str]
    metadata: NotRequired[MantleMetadata]


class Plan(TypedDict):
    name: str
    environment: str
    region: str
    provider: Provider
    base_model: str
    reward: str
    grader_arn: str
    training_data: str
    validation_data: str | None
    serve: bool
    validate_only: bool  # stop after Validate with success: nothing starts (rft doctor's canary)
    deploy: bool
    execution_name: str
    job_name: str
    custom_model_name: str
    deployment_name: str
    client_request_token: str
    output_s3_uri: str
    metrics_s3_uri: str
    hyperparameters: dict[str, Any]
    watch: PlanWatch
    tags: dict[str, str]
    bedrock: BedrockPlan | None
    mantle: MantlePlan | None
    recipe: dict[str, Any] | None  # rft.recipes.pin, set by the validate step


# --- What the states add ----------------------------------------------------------------------------


class Watch(TypedDict):
    """The watch loops' backoff: `wait_seconds` doubles up to `max_wait_seconds`; `deadline` (ISO
    8601) is when the run's time limit ends."""

    wait_seconds: int
    max_wait_seconds: int
    deadline: str


class DatasetSummary(TypedDict):
    prompts: int
    bytes: int


class Training(TypedDict, total=False):
    """What a start step returned: the job's id (a Bedrock job ARN or a Mantle job id)."""

    job_id: str
    provider: Provider
    status: str  # Mantle's status when the job was created


class BedrockJob(TypedDict, total=False):
    """GetModelCustomizationJob's response (Step Functions keeps the SDK's PascalCase): the members
    the workflow and its readers use."""

    JobArn: str
    Status: str
    OutputModelArn: str
    FailureMessage: str
    EndTime: str
    TrainingMetrics: dict[str, Any]


class MantleJob(TypedDict):
    """What the `Get Mantle job` step keeps of the Mantle status handler's answer (every key is
    always present: the state machine's ResultSelector fails on a missing one)."""

    id: str
    status: str
    state: str  # rft.status.JobState
    fine_tuned_model: str | None
    failure_message: str | None
    finished_at: int | None
    metrics: dict[str, Any]
    metrics_uri: str


class Guard(TypedDict):
    """The health guard's state between looks (rft.guard.GuardState): the verdict, the finding codes
    already notified, the last step read; `notify`/`message` and `stop`/`cause` say what to do now."""

    verdict: str  # rft.health.Verdict
    sent: list[str]
    last_step: int
    notify: bool
    message: str
    stop: bool
    cause: str


class Deployment(TypedDict):
    arn: str


class DeploymentStatus(TypedDict, total=False):
    """GetCustomModelDeployment's response: the members the workflow reads."""

    Status: str
    FailureMessage: str


class Published(TypedDict):
    record: dict[str, Any]  # rft.records.ModelRecord.to_dict()
    parameter: str


class Failure(TypedDict):
    step: str  # one of STEPS
    error: str
    cause: str


class StateDocument(TypedDict, total=False):
    valid: bool
    plan: Plan
    dataset: dict[str, DatasetSummary]
    watch: Watch
    training: Training
    bedrock_job: BedrockJob
    mantle_job: MantleJob
    guard: Guard
    # What ended a wait for the Bedrock job's event ({"job_arn", "status"}), or why registering failed.
    job_event: dict[str, Any]
    job_event_error: dict[str, Any]
    guard_error: dict[str, Any]  # a guard step's error object: the run goes on unjudged
    deployment: Deployment
    deployment_status: DeploymentStatus
    published: Published
    failure: Failure
    caught: dict[str, Any]  # a Catch's error object ({"Error", "Cause"}) before it becomes `failure`
    notification_error: dict[str, Any]
    # A rejected request (valid false): the error name, the cause sentence, the first problems.
    error: str
    cause: str
    problems: list[dict[str, Any]]
    total: int


# The workflow's steps, as `failure.step` names them.
STEPS = ("Validate", "Start", "Watch", "Serve", "Publish")
MANTLE_JOB_FIELDS: tuple[str, ...] = tuple(MantleJob.__annotations__)
GUARD_FIELDS: tuple[str, ...] = tuple(Guard.__annotations__)


# --- JSONPaths -----------------------------------------------------------------------------------


class UnknownStateKeyError(KeyError):
    """A JSONPath into the state document names a key the document does not have."""


def path(*keys: str) -> str:
    """``$.k1.k2...``, each key checked against the document's types down to the first level that
    is not a TypedDict (an SDK response's free-form part)."""
    shape: Any = StateDocument
    for depth, key in enumerate(keys):
        fields = _fields(shape)
        if fields is None:
            break
        if key not in fields:
            where = ".".join(keys[:depth]) or "the state document"
            raise UnknownStateKeyError(f"{key!r} is not a key of {where} ({', '.join(fields)})")
        shape = fields[key]
    return "$." + ".".join(keys) if keys else "$"


@cache
def _fields(shape: Any) -> Mapping[str, Any] | None:
    shape = _without_none(shape)
    return get_type_hints(shape) if is_typeddict(shape) else None


def _without_none(shape: Any) -> Any:
    if get_origin(shape) in (Union, types.UnionType):
        members = [arg for arg in get_args(shape) if arg is not type(None)]
        return members[0] if len(members) == 1 else shape
    return shape


# --- Reading documents ---------------------------------------------------------------------------


@dataclass(frozen=True)
class JobSeen:
    """The training job as a state document last saw it."""

    job_id: str | None
    status: str | None  # the service's own status word
    provider: str | None

    @property
    def state(self) -> JobState | None:
        if self.status is None or self.provider not in ("bedrock", "mantle"):
            return None
        return job_state(self.provider, self.status)


def job_seen(document: Mapping[str, Any]) -> JobSeen | None:
    """The latest status check of either plane, else what the start step returned, else None."""
    training = _mapping(document.get("training"))
    provider = training.get("provider")
    for key, status_key, id_key, plane in (
        ("mantle_job", "status", "id", "mantle"),
        ("bedrock_job", "Status", "JobArn", "bedrock"),
        ("training", "status", "job_id", provider),
    ):
        job = _mapping(document.get(key))
        if job.get(status_key) or job.get(id_key):
            return JobSeen(
                job_id=_str_or_none(job.get(id_key)) or _str_or_none(training.get("job_id")),
                status=_str_or_none(job.get(status_key)),
                provider=plane,
            )
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str_or_none(value: Any) -> str | None:
    return str(value) if value else None


def parse_json(text: Any) -> Any:
    """``text`` parsed, or None when it is not a JSON string."""
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def readable_cause(cause: Any) -> str | None:
    """A Step Functions cause as a sentence: Lambda errors arrive as JSON with errorMessage, and a
    caught error as the Catch's error object with its own Cause inside."""
    if not cause:
        return None
    parsed = parse_json(cause)
    if isinstance(parsed, Mapping):
        for key in ("errorMessage", "message", "Message", "cause", "Cause"):
            if isinstance(parsed.get(key), str) and parsed[key]:
                return readable_cause(parsed[key]) or parsed[key]
    return " ".join(str(cause).split())


# --- The execution history -----------------------------------------------------------------------

_END_DETAILS = (
    "executionFailedEventDetails",
    "executionAbortedEventDetails",
    "executionTimedOutEventDetails",
)
# GetExecutionHistory's largest page.
_PAGE_SIZE = 1000


class ExecutionHistory:
    """One execution's history events, newest first, fetched a page at a time as they are read.

    `max_events` bounds how far back a reader looks (the CLI's status line needs only the latest
    events; the cleanup Lambda reads back until it has found the plan and the job).
    """

    def __init__(self, events: Iterable[Mapping[str, Any]]) -> None:
        self._source = iter(events)
        self._read: list[Mapping[str, Any]] = []

    @classmethod
    def read(cls, states: Any, execution_arn: str, *, max_events: int | None = None) -> ExecutionHistory:
        """The history of `execution_arn` through a boto3 `stepfunctions` client."""
        return cls(_pages(states, execution_arn, max_events))

    @classmethod
    def of(cls, events: Iterable[Mapping[str, Any]]) -> ExecutionHistory:
        """Events already fetched, in any order (event ids increase with time)."""
        return cls(sorted(events, key=lambda event: event.get("id", 0), reverse=True))

    def events(self) -> Iterator[Mapping[str, Any]]:
        yield from self._read
        for event in self._source:
            self._read.append(event)
            yield event

    def documents(self) -> Iterator[dict[str, Any]]:
        """The state document as each state left it, newest first."""
        for event in self.events():
            details = event.get("stateExitedEventDetails")
            if details and "output" in details:
                document = parse_json(details["output"])
                if isinstance(document, dict):
                    yield document

    def current_state(self) -> str | None:
        """The state entered last."""
        for event in self.events():
            details = event.get("stateEnteredEventDetails")
            if details:
                name = details.get("name")
                return name if isinstance(name, str) else None
        return None

    def latest(self, key: str) -> Any:
        """The newest value of a top-level key of the document (None if no state wrote it)."""
        for document in self.documents():
            if document.get(key):
                return document[key]
        return None

    def plan(self) -> Plan | None:
        plan = self.latest("plan")
        # The validate step wrote it from rft.job_plan.plan_job; the history is read, not re-checked.
        return cast(Plan, plan) if isinstance(plan, dict) else None

    def job(self) -> JobSeen | None:
        """The job as the newest document that holds one saw it."""
        for document in self.documents():
            seen = job_seen(document)
            if seen is not None:
                return seen
        return None

    def started_job_id(self) -> str | None:
        """The id a start step returned (None while the job is being created, or if it never was)."""
        for document in self.documents():
            job_id = _mapping(document.get("training")).get("job_id")
            if job_id:
                return str(job_id)
        return None

    def find_string(self, key: str) -> str | None:
        """The newest string value of `key` at any depth of a document."""
        for document in self.documents():
            for obj in _walk(document):
                value = obj.get(key)
                if isinstance(value, str):
                    return value
        return None

    def ending(self) -> tuple[str | None, str | None]:
        """The error and cause the execution failed, was aborted or timed out with."""
        for event in self.events():
            for key in _END_DETAILS:
                details = event.get(key)
                if details and (details.get("error") or details.get("cause")):
                    return details.get("error"), details.get("cause")
        return None, None


def _pages(states: Any, execution_arn: str, max_events: int | None) -> Iterator[Mapping[str, Any]]:
    kwargs: dict[str, Any] = {
        "executionArn": execution_arn,
        "reverseOrder": True,
        "includeExecutionData": True,
        "maxResults": min(_PAGE_SIZE, max_events or _PAGE_SIZE),
    }
    seen = 0
    while True:
        page = states.get_execution_history(**kwargs)
        # Newest first, whatever order the page came in.
        for event in sorted(page.get("events", []), key=lambda event: event.get("id", 0), reverse=True):
            yield event
            seen += 1
            if max_events is not None and seen >= max_events:
                return
        if not page.get("nextToken"):
            return
        kwargs["nextToken"] = page["nextToken"]


def _walk(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)
