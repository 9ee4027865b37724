"""State transitions, the Step Functions bill, and how soon the model is published after a 24-hour
training job ends: polling versus event-driven completion.

One Bedrock run (default watch settings, served) is counted two independent ways:

1. from the backoff schedule: the waits the watch loop takes (first wait, doubled up to the cap)
   until 24 hours have passed, times the states each look enters (the health guard's check on each
   look at a running job included), plus the fixed states before and after the watch;
2. from an execution of the synthesized state machine under moto (tests/workflow/offline.py, waits
   and task-token timeouts in virtual time) with a scripted job that completes after 24 hours.

They must agree. Two executions are made: every job-end event lost (the watch polls: each wait
for the event times out), and the event delivered when the job ends (the wait in progress is
answered at once). "Delay" is the virtual time from the job's end to the model record being
published: the deployment's own polls are in both; the event's delivery latency (EventBridge to
the job-events function to SendTaskSuccess) cannot be measured offline and is not included.

Standard workflows bill $0.025 per 1,000 state transitions.

Run: python benchmarks/bench_workflow.py
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rft.jobs import WATCH_LIMITS

PRICE_PER_TRANSITION = 0.025 / 1000
# A 24-hour job whose end falls in the middle of a capped poll interval (the average case).
JOB_SECONDS = 24 * 3600 + WATCH_LIMITS["max_wait_seconds"][0] // 2
FIRST_WAIT = WATCH_LIMITS["first_wait_seconds"][0]
MAX_WAIT = WATCH_LIMITS["max_wait_seconds"][0]
DEPLOYMENT_POLLS = 2

# The states of one Bedrock run outside the watch loop (names in stacks/constructs/).
BEFORE_WATCH = (
    "Validate request",
    "Request valid?",
    "Validate only?",
    "Which control plane?",
    "Validation data given?",
    "Start Bedrock job",
    "Bedrock: guard starts",
)
PER_LOOK = (
    "Bedrock: wait for the job's event?",
    "Wait for Bedrock job event",
    "Get Bedrock job",
    "Bedrock job status?",
)
GUARD = ("Check Bedrock training health", "Bedrock training healthy?")
BACK_OFF = ("Bedrock: double the wait", "Bedrock: wait above the cap?")
CAP = ("Bedrock: cap the wait",)
SERVE = ("Deploy the model?", "Create deployment")
PER_DEPLOYMENT_POLL = ("Wait for deployment", "Get deployment", "Deployment status?")
PUBLISH = ("Publish model record", "Announce model ready", "Notify model ready", "Succeeded")


@dataclass(frozen=True)
class Schedule:
    looks: int
    waits: tuple[int, ...]
    transitions: int
    delay: int  # seconds from the job's end to the model published

    @property
    def cost(self) -> float:
        return self.transitions * PRICE_PER_TRANSITION


def watch_schedule(first: int, cap: int, job_seconds: int, *, events: bool) -> Schedule:
    """A run whose job completes after `job_seconds`: with `events` the wait in progress ends then,
    without, the job is seen at the first look after it."""
    waits: list[int] = []
    transitions = len(BEFORE_WATCH)
    wait, waited = first, 0
    while True:
        if events and waited + wait >= job_seconds:
            waits.append(job_seconds - waited)
            waited = job_seconds
        else:
            waits.append(wait)
            waited += wait
        transitions += len(PER_LOOK)
        if waited >= job_seconds:
            break
        transitions += len(GUARD)
        if wait < cap:  # the Choice sends the loop through the back-off states
            transitions += len(BACK_OFF)
            wait *= 2
            if wait > cap:
                transitions += len(CAP)
                wait = cap
    transitions += len(SERVE) + DEPLOYMENT_POLLS * len(PER_DEPLOYMENT_POLL) + len(PUBLISH)
    delay = waited - job_seconds + DEPLOYMENT_POLLS * first
    return Schedule(looks=len(waits), waits=tuple(waits), transitions=transitions, delay=delay)


def moto_run(first: int, cap: int, job_seconds: int, *, events: bool) -> tuple[int, int, int, float]:
    """(transitions, looks, delay seconds, wall seconds) of the synthesized workflow under moto."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        os.environ.setdefault(key, "testing")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the steps' own logs are not the figures
    from tests.workflow.conftest import NOVA, job_request, synthesized, upload
    from tests.workflow.offline import FakeBedrock, WorkflowHarness, dataset_lines

    templates, region, training = synthesized("bedrock")
    fake = FakeBedrock(
        status_at=lambda clock: "Completed" if clock >= job_seconds else "InProgress",
        deployment_statuses=["Creating", "Active"],
    )
    with WorkflowHarness(
        templates, region=region, training_stack=training, bedrock=fake, virtual_waits=True
    ) as h:
        if events:
            h.before_invoke = _job_ends_during_the_wait(h, job_seconds)
        uri = upload(h, "bench/train.jsonl", dataset_lines(120))
        request = job_request("bench-24h", NOVA, uri, first_wait_seconds=first, max_wait_seconds=cap)
        started = time.perf_counter()
        result = h.run(request, timeout=300)
        elapsed = time.perf_counter() - started
        assert result.status == "SUCCEEDED", result.cause
        delay = int(h.clock) - job_seconds
        return result.transitions, result.path.count("Get Bedrock job"), delay, elapsed


def _job_ends_during_the_wait(harness: Any, job_seconds: int) -> Any:
    """Bedrock's side: when a wait registers that the job's end falls into, the end event arrives
    (virtual time moves to the job's end, and the event is handed over)."""

    def hook(logical_id: str, event: dict[str, Any]) -> None:
        if not (logical_id.startswith("JobEvents") and event.get("action") == "register"):
            return
        if harness.clock + int(event["wait_seconds"]) < job_seconds:
            return
        harness.clock = job_seconds
        from lambda_workflow import job_events
        from rft import assumptions

        job_events.handler(
            {
                "detail-type": assumptions.BEDROCK_JOB_EVENT_DETAIL_TYPE,
                "detail": {"jobArn": event["job_id"], "jobStatus": "Completed"},
            }
        )

    return hook


def main() -> int:
    # moto logs the Choice's IsPresent probe of an absent path as an error; it is not one.
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    hours = round(JOB_SECONDS / 3600)
    print(f"A {hours}-hour Bedrock RFT job, served; Step Functions at $0.025 per 1,000 transitions")
    print(
        f"Default watch: first wait {FIRST_WAIT} s, doubling to {MAX_WAIT} s; "
        f"{DEPLOYMENT_POLLS} deployment polls"
    )
    failed = False
    rows = []
    for label, events in (("polling (every event lost)", False), ("event-driven", True)):
        schedule = watch_schedule(FIRST_WAIT, MAX_WAIT, JOB_SECONDS, events=events)
        transitions, looks, delay, elapsed = moto_run(FIRST_WAIT, MAX_WAIT, JOB_SECONDS, events=events)
        print(f"\n{label}:")
        print(
            f"  from the schedule:     {schedule.looks} looks, {schedule.transitions} transitions, "
            f"${schedule.cost:.4f}, job end to model published {schedule.delay} s"
        )
        print(
            f"  from a moto execution: {looks} looks, {transitions} transitions, "
            f"${transitions * PRICE_PER_TRANSITION:.4f}, job end to model published {delay} s "
            f"({elapsed:.1f} s of wall time)"
        )
        if (looks, transitions, delay) != (schedule.looks, schedule.transitions, schedule.delay):
            print("MISMATCH between the schedule and the execution", file=sys.stderr)
            failed = True
        rows.append((label, schedule))
    print(
        "\nThe job's end falls at a random point of the poll interval in practice: polling notices it "
        f"{MAX_WAIT // 2} s later on average and {MAX_WAIT} s at worst once the wait is capped; the "
        "event-driven watch as soon as the event is delivered (best effort; its latency is not measured "
        f"here). The deployment's polls add {DEPLOYMENT_POLLS * FIRST_WAIT} s to both."
    )
    print("\nFor comparison (schedule only, every event lost / every event delivered):")
    print(f"  {'watch':<34}{'looks':>7}{'transitions':>13}{'cost':>10}{'delay lost':>12}{'delay event':>13}")
    for label, first, cap in (
        ("default (60 s doubling to 900 s)", FIRST_WAIT, MAX_WAIT),
        ("fixed 60 s", 60, 60),
        ("fixed 300 s", 300, 300),
        ("60 s doubling to 3600 s", 60, 3600),
    ):
        lost = watch_schedule(first, cap, JOB_SECONDS, events=False)
        evented = watch_schedule(first, cap, JOB_SECONDS, events=True)
        print(
            f"  {label:<34}{lost.looks:>7}{lost.transitions:>13}{'$' + format(lost.cost, '.4f'):>10}"
            f"{str(lost.delay) + ' s':>12}{str(evented.delay) + ' s':>13}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
