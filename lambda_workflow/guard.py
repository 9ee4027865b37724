"""The watch step's health guard: reads the run's per-step metrics, judges them with
`rft.health.assess`, sends each new step's figures to CloudWatch (EMF in this function's log), and
answers the small `rft.guard.GuardState` the state machine keeps.

Event: ``{"plan": <rft.jobs plan>, "job_id": ..., "guard": <the previous GuardState>}``.
Environment: ``GUARD_SETTINGS`` (JSON, `training.guard` of cdk.json), ``AUTO_STOP`` (true/false).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from typing import Any

from lambda_workflow import common
from rft import guard as rft_guard
from rft.health import GuardSettings, assess


def handler(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    plan = event.get("plan") or {}
    previous = event.get("guard") or {}
    run = str(plan.get("name") or "")
    steps = rft_guard.read_steps(common.client("s3"), plan, str(event.get("job_id") or ""))
    assessment = assess(steps, settings())
    for record in rft_guard.metric_records(run, steps, after=int(previous.get("last_step") or 0)):
        sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
    state = rft_guard.decide(
        assessment,
        run=run,
        sent=list(previous.get("sent") or []),
        auto_stop=auto_stop(),
        last_step=rft_guard.last_step(steps),
    )
    common.logger.info(
        "training health",
        extra={"run": run, "steps": len(steps), "verdict": state.verdict, "codes": list(state.sent)},
    )
    return state.to_dict()


def settings(env: Mapping[str, str] | None = None) -> GuardSettings:
    env = os.environ if env is None else env
    return GuardSettings.from_mapping(json.loads(env.get("GUARD_SETTINGS") or "{}"))


def auto_stop(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    value = env.get("AUTO_STOP", "true").strip().lower()
    if value not in ("true", "false"):
        raise RuntimeError(f"AUTO_STOP must be true or false, got {value!r} (the training stack sets it)")
    return value == "true"
