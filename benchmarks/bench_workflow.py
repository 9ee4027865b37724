"""State transitions (and the Step Functions bill) of watching a 24-hour training job.

Two independent counts of one run (Bedrock plane, default watch settings, served):

1. from the backoff schedule: the waits the watch loop takes (first wait, doubled up to the cap)
   until 24 hours have passed, times the states each poll enters, plus the fixed states before
   and after the watch;
2. from an execution of the synthesized state machine under moto (tests/workflow/offline.py) with
   a scripted job that completes once 24 hours of (virtual) waiting have passed: the states
   entered in the execution history.

They must agree. Standard workflows bill $0.025 per 1,000 state transitions; the figures are
printed for the default schedule and for fixed-interval polling, for comparison.

Run: python benchmarks/bench_workflow.py
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rft.jobs import WATCH_LIMITS

PRICE_PER_TRANSITION = 0.025 / 1000
JOB_SECONDS = 24 * 3600
FIRST_WAIT = WATCH_LIMITS["first_wait_seconds"][0]
MAX_WAIT = WATCH_LIMITS["max_wait_seconds"][0]

# The states of one Bedrock run outside the watch loop (names in stacks/constructs/training_workflow.py).
BEFORE_WATCH = (
    "Validate request",
    "Request valid?",
    "Validate only?",
    "Which control plane?",
    "Validation data given?",
    "Start Bedrock job",
)
PER_POLL = ("Wait for Bedrock job", "Get Bedrock job", "Bedrock job status?")
BACK_OFF = ("Bedrock: double the wait", "Bedrock: wait above the cap?")
CAP = ("Bedrock: cap the wait",)
SERVE = ("Deploy the model?", "Create deployment")
PER_DEPLOYMENT_POLL = ("Wait for deployment", "Get deployment", "Deployment status?")
PUBLISH = ("Publish model record", "Announce model ready", "Notify model ready", "Succeeded")


@dataclass(frozen=True)
class Schedule:
    polls: int
    waits: tuple[int, ...]
    transitions: int

    @property
    def cost(self) -> float:
        return self.transitions * PRICE_PER_TRANSITION


def watch_schedule(first: int, cap: int, job_seconds: int, deployment_polls: int = 2) -> Schedule:
    """Transitions of a run whose job completes at the first poll after `job_seconds` of waiting."""
    waits: list[int] = []
    transitions = len(BEFORE_WATCH)
    wait, waited = first, 0
    while True:
        waits.append(wait)
        waited += wait
        transitions += len(PER_POLL)
        if waited >= job_seconds:
            break
        if wait < cap:  # the Choice sends the loop through the back-off states
            transitions += len(BACK_OFF)
            wait *= 2
            if wait > cap:
                transitions += len(CAP)
                wait = cap
    transitions += len(SERVE) + deployment_polls * len(PER_DEPLOYMENT_POLL) + len(PUBLISH)
    return Schedule(polls=len(waits), waits=tuple(waits), transitions=transitions)


def moto_run(first: int, cap: int, job_seconds: int) -> tuple[int, int, float]:
    """(transitions, polls, wall seconds) of the synthesized workflow under moto, waits virtual."""
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
        uri = upload(h, "bench/train.jsonl", dataset_lines(120))
        request = job_request("bench-24h", NOVA, uri, first_wait_seconds=first, max_wait_seconds=cap)
        started = time.perf_counter()
        result = h.run(request, timeout=300)
        elapsed = time.perf_counter() - started
        assert result.status == "SUCCEEDED", result.cause
        return result.transitions, result.path.count("Get Bedrock job"), elapsed


def main() -> int:
    # moto logs the Choice's IsPresent probe of an absent path as an error; it is not one.
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    hours = JOB_SECONDS // 3600
    print(f"A {hours}-hour Bedrock RFT job, served; Step Functions at $0.025 per 1,000 transitions")
    default = watch_schedule(FIRST_WAIT, MAX_WAIT, JOB_SECONDS)
    transitions, polls, elapsed = moto_run(FIRST_WAIT, MAX_WAIT, JOB_SECONDS)
    print(f"\nDefault watch (first wait {FIRST_WAIT} s, doubling to {MAX_WAIT} s):")
    moto_cost = transitions * PRICE_PER_TRANSITION
    schedule = f"{default.polls} polls, {default.transitions} transitions, ${default.cost:.4f}"
    print(f"  from the backoff schedule: {schedule}")
    print(f"  from a moto execution:     {polls} polls, {transitions} transitions, ${moto_cost:.4f}")
    print(f"  (the moto run took {elapsed:.1f} s of wall time for 24 h of virtual waiting)")
    print(f"  first waits: {', '.join(str(w) for w in default.waits[:6])}, ... s")
    if (polls, transitions) != (default.polls, default.transitions):
        print("MISMATCH between the schedule and the execution", file=sys.stderr)
        return 1

    print("\nFor comparison (schedule only):")
    print(f"  {'watch':<34}{'polls':>7}{'transitions':>13}{'cost':>10}")
    for label, first, cap in (
        ("default (60 s doubling to 900 s)", FIRST_WAIT, MAX_WAIT),
        ("fixed 60 s", 60, 60),
        ("fixed 300 s", 300, 300),
        ("fixed 900 s", 900, 900),
        ("60 s doubling to 3600 s", 60, 3600),
    ):
        s = watch_schedule(first, cap, JOB_SECONDS)
        print(f"  {label:<34}{s.polls:>7}{s.transitions:>13}{'$' + format(s.cost, '.4f'):>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
