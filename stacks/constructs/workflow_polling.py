"""One builder for "poll an SDK resource until a status": Wait ─▶ Get ─▶ status? ─┬─ a final status ─▶ ...
                                                                             ├─ past the deadline ─▶ ...
                                                                             └─ otherwise ─▶ Wait
The Bedrock job, the Mantle job and the Bedrock deployment are all watched this way. With backoff,
each round doubles `watch.wait_seconds` (States.MathAdd of it with itself) up to
`watch.max_wait_seconds`; every Wait takes its seconds from the state, so tests run with zero waits.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from rft.workflow_state import path
from stacks.constructs.workflow_states import MAX_WAIT_SECONDS, PAST_DEADLINE, WAIT_SECONDS


def poll_until(
    scope: Construct,
    name: str,
    *,
    wait: sfn.IChainable,
    status_path: str,
    outcomes: Sequence[tuple[str, sfn.IChainable]],
    on_time_limit: sfn.IChainable,
    backoff: str | None = None,
) -> sfn.Choice:
    """The Choice that ends the poll on a status of `outcomes` (in order) or on the run's deadline,
    and otherwise goes on to `wait` (the loop's Wait, or what runs before it), doubling the wait
    first when `backoff` names the loop."""
    choice = sfn.Choice(scope, name)
    for status, then in outcomes:
        choice.when(sfn.Condition.string_equals(status_path, status), then)
    choice.when(sfn.Condition.timestamp_greater_than_equals_json_path(*PAST_DEADLINE), on_time_limit)
    if backoff is None:
        return choice.otherwise(wait)
    return choice.when(
        sfn.Condition.number_greater_than_equals_json_path(WAIT_SECONDS, MAX_WAIT_SECONDS), wait
    ).otherwise(_double_the_wait(scope, backoff, wait))


def _double_the_wait(scope: Construct, prefix: str, wait: sfn.IChainable) -> sfn.IChainable:
    watch = {
        "max_wait_seconds.$": MAX_WAIT_SECONDS,
        "deadline.$": path("watch", "deadline"),
    }
    back_off = sfn.Pass(
        scope,
        f"{prefix}: double the wait",
        parameters={"wait_seconds.$": f"States.MathAdd({WAIT_SECONDS}, {WAIT_SECONDS})", **watch},
        result_path=path("watch"),
    )
    cap = sfn.Pass(
        scope,
        f"{prefix}: cap the wait",
        parameters={"wait_seconds.$": MAX_WAIT_SECONDS, **watch},
        result_path=path("watch"),
    )
    return back_off.next(
        sfn.Choice(scope, f"{prefix}: wait above the cap?")
        .when(sfn.Condition.number_greater_than_json_path(WAIT_SECONDS, MAX_WAIT_SECONDS), cap.next(wait))
        .otherwise(wait)
    )
