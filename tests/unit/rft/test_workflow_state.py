"""The workflow's state document: checked JSONPaths, and the one reader of an execution's history."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rft.status import JobState
from rft.workflow_state import (
    MANTLE_JOB_FIELDS,
    ExecutionHistory,
    JobSeen,
    UnknownStateKeyError,
    job_seen,
    path,
    readable_cause,
)

JOB_ARN = "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.nova/abc123def456"


# --- path ------------------------------------------------------------------------------------------


def test_a_path_names_keys_of_the_document() -> None:
    assert path("training", "job_id") == "$.training.job_id"
    assert path("plan", "watch", "first_wait_seconds") == "$.plan.watch.first_wait_seconds"
    assert path("plan") == "$.plan"


def test_a_misspelled_key_fails_naming_it_and_where() -> None:
    with pytest.raises(
        UnknownStateKeyError, match=r"'jobid' is not a key of training \(job_id, provider, status\)"
    ):
        path("training", "jobid")
    with pytest.raises(UnknownStateKeyError, match="'bedrockjob' is not a key of the state document"):
        path("bedrockjob")
    with pytest.raises(UnknownStateKeyError, match=r"'first_wait' is not a key of plan\.watch"):
        path("plan", "watch", "first_wait")


def test_optional_parts_are_checked_and_free_form_sdk_parameters_are_not() -> None:
    # `plan.bedrock` is None on the Mantle plane: its keys are still checked.
    with pytest.raises(UnknownStateKeyError, match=r"'create' is not a key of plan\.bedrock"):
        path("plan", "bedrock", "create")
    # Below `create_job` are CreateModelCustomizationJob's parameters: botocore's contract, not ours.
    assert path("plan", "bedrock", "create_job", "JobName") == "$.plan.bedrock.create_job.JobName"
    assert path("caught", "Error") == "$.caught.Error"


def test_the_mantle_status_keeps_when_the_job_finished() -> None:
    # The model record's completed_at comes from it (a dropped key used to leave it empty).
    assert "finished_at" in MANTLE_JOB_FIELDS
    assert {"id", "status", "state", "fine_tuned_model", "failure_message"} <= set(MANTLE_JOB_FIELDS)


# --- documents -----------------------------------------------------------------------------------


def test_the_job_is_the_latest_status_check_else_what_the_start_step_returned() -> None:
    started = {"training": {"job_id": JOB_ARN, "provider": "bedrock"}}
    polled = {**started, "bedrock_job": {"JobArn": JOB_ARN, "Status": "InProgress"}}
    assert job_seen(polled) == JobSeen(job_id=JOB_ARN, status="InProgress", provider="bedrock")
    assert job_seen(started) == JobSeen(job_id=JOB_ARN, status=None, provider="bedrock")
    assert job_seen(polled).state is JobState.RUNNING  # type: ignore[union-attr]
    assert job_seen({"plan": {}}) is None


def test_a_mantle_job_speaks_the_common_vocabulary() -> None:
    document = {
        "training": {"job_id": "ftjob-9", "status": "queued", "provider": "mantle"},
        "mantle_job": {"id": "ftjob-9", "status": "cancelled"},
    }
    seen = job_seen(document)
    assert seen == JobSeen(job_id="ftjob-9", status="cancelled", provider="mantle")
    assert seen.state is JobState.STOPPED  # type: ignore[union-attr]


def test_causes_read_as_sentences() -> None:
    assert readable_cause('{"errorMessage": "boom", "errorType": "X"}') == "boom"
    assert readable_cause("plain  text") == "plain text"
    caught = json.dumps({"Error": "Bedrock.ValidationException", "Cause": '{"errorMessage": "bad role"}'})
    assert readable_cause(caught) == "bad role"
    assert readable_cause(None) is None


# --- the history ---------------------------------------------------------------------------------


def _exited(event_id: int, state: str, output: Any) -> dict[str, Any]:
    text = output if isinstance(output, str) else json.dumps(output)
    return {"id": event_id, "stateExitedEventDetails": {"name": state, "output": text}}


def _entered(event_id: int, state: str) -> dict[str, Any]:
    return {"id": event_id, "stateEnteredEventDetails": {"name": state}}


def test_the_history_reads_newest_first_whatever_order_events_came_in() -> None:
    started = {"training": {"job_id": JOB_ARN, "provider": "bedrock"}}
    polled = {**started, "bedrock_job": {"JobArn": JOB_ARN, "Status": "InProgress"}}
    history = ExecutionHistory.of(
        [
            _exited(5, "Start Bedrock job", started),
            _entered(10, "Wait for Bedrock job"),
            _exited(9, "Get", polled),
        ]
    )
    assert history.current_state() == "Wait for Bedrock job"
    assert history.job() == JobSeen(job_id=JOB_ARN, status="InProgress", provider="bedrock")
    assert ExecutionHistory.of([_exited(5, "Start", started)]).job() == JobSeen(JOB_ARN, None, "bedrock")


def test_outputs_that_are_not_documents_are_skipped() -> None:
    history = ExecutionHistory.of(
        [
            _exited(3, "A", "not json"),
            _exited(2, "B", [1, 2]),
            _exited(1, "Validate request", {"plan": {"name": "r"}}),
        ]
    )
    assert history.plan() == {"name": "r"}
    assert history.job() is None and history.started_job_id() is None


def test_find_string_looks_at_any_depth_of_the_newest_documents() -> None:
    history = ExecutionHistory.of(
        [_exited(1, "Validate request", {"plan": {"metrics_s3_uri": "s3://b/jobs/r/metrics.jsonl"}})]
    )
    assert history.find_string("metrics_s3_uri") == "s3://b/jobs/r/metrics.jsonl"
    assert history.find_string("missing") is None


def test_the_ending_is_the_failure_abort_or_time_out_event() -> None:
    aborted = {"id": 7, "executionAbortedEventDetails": {"error": "StoppedByUser", "cause": "wrong data"}}
    assert ExecutionHistory.of([_entered(6, "Wait"), aborted]).ending() == ("StoppedByUser", "wrong data")
    assert ExecutionHistory.of([_entered(6, "Wait")]).ending() == (None, None)


class PagedStates:
    """GetExecutionHistory as the service pages it (newest first with reverseOrder), counting calls."""

    def __init__(self, events: list[dict[str, Any]], page_size: int) -> None:
        self.events = events
        self.page_size = page_size
        self.calls: list[dict[str, Any]] = []

    def get_execution_history(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        ordered = sorted(self.events, key=lambda e: e["id"], reverse=kwargs.get("reverseOrder", False))
        start = int(kwargs.get("nextToken", 0))
        size = min(self.page_size, kwargs["maxResults"])
        page: dict[str, Any] = {"events": ordered[start : start + size]}
        if start + size < len(ordered):
            page["nextToken"] = str(start + size)
        return page


def _long_run(polls: int) -> list[dict[str, Any]]:
    events = [_exited(1, "Validate request", {"plan": {"name": "r", "provider": "bedrock"}})]
    started = {"plan": {"name": "r", "provider": "bedrock"}, "training": {"job_id": JOB_ARN}}
    events.append(_exited(2, "Start Bedrock job", started))
    for poll in range(polls):
        events.append(_entered(3 + 2 * poll, "Wait for Bedrock job"))
        events.append(
            _exited(4 + 2 * poll, "Get Bedrock job", {**started, "bedrock_job": {"Status": "InProgress"}})
        )
    return events


def test_the_reader_pages_back_only_as_far_as_it_needs() -> None:
    states = PagedStates(_long_run(polls=50), page_size=10)
    history = ExecutionHistory.read(states, "arn:execution")
    assert history.started_job_id() == JOB_ARN
    assert len(states.calls) == 1  # the newest page already holds the job
    assert states.calls[0]["reverseOrder"] is True and states.calls[0]["includeExecutionData"] is True


def test_the_reader_follows_pages_to_the_oldest_event() -> None:
    events = _long_run(polls=0) + [_entered(3 + i, f"state {i}") for i in range(35)]
    states = PagedStates(events, page_size=10)
    history = ExecutionHistory.read(states, "arn:execution")
    assert history.started_job_id() == JOB_ARN and history.plan() == {"name": "r", "provider": "bedrock"}
    assert len(states.calls) == 4
    assert [call.get("nextToken") for call in states.calls] == [None, "10", "20", "30"]


def test_max_events_bounds_how_far_back_it_reads() -> None:
    states = PagedStates(_long_run(polls=300), page_size=1000)
    history = ExecutionHistory.read(states, "arn:execution", max_events=200)
    assert sum(1 for _ in history.events()) == 200
    assert states.calls[0]["maxResults"] == 200
    assert history.plan() is not None  # every document carries the plan
    assert ExecutionHistory.read(PagedStates(_long_run(0), 10), "arn", max_events=1).plan() is not None


def test_events_are_read_once_and_replayed() -> None:
    states = PagedStates(_long_run(polls=3), page_size=2)
    history = ExecutionHistory.read(states, "arn:execution")
    first = list(history.events())
    calls = len(states.calls)
    assert list(history.events()) == first and len(states.calls) == calls
