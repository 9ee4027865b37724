"""The health guard inside the training workflow: where a run's per-step metrics are read from, what
the watch step does with the verdict of `rft.health.assess`, and the CloudWatch records of the
metrics.

Each time the watch looks at a running job, the guard Lambda reads the run's whole metrics series
(it is small: a few hundred bytes a step), assesses it, and answers a `GuardState`. The state
machine keeps only that state (`$.guard`: the verdict, the finding codes already notified, the last
step seen), never the metrics: a Step Functions state is limited to 256 KiB.

- `warn`: each finding code is notified once per run (`sent` remembers which were).
- `stop`: with `training.auto_stop` (the default) the workflow stops the job and fails the run with
  the findings as its cause; without it the stop findings are notified like warnings, once.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rft import assumptions
from rft.aws import parse_s3_uri
from rft.health import ENTROPY, GRAD_NORM, LENGTH, REWARD, Assessment, Verdict

# CloudWatch: one metric per signal, dimension = the run's name (the dashboard's training row).
TRAINING_NAMESPACE = "RftStack/Training"
RUN_DIMENSION = "Run"
CLOUDWATCH_METRICS: Mapping[str, str] = {
    REWARD: "Reward",
    LENGTH: "ResponseLength",
    ENTROPY: "Entropy",
    GRAD_NORM: "GradNorm",
}
# A notification or a cause is a few sentences; bound them so the state stays small whatever the
# findings say.
MAX_TEXT = 4000
# CloudWatch refuses EMF timestamps older than 14 days; older steps are stamped now.
_EMF_MAX_AGE_SECONDS = 13 * 24 * 3600


@dataclass(frozen=True)
class GuardState:
    """What the state machine keeps of the guard between looks (`$.guard`)."""

    verdict: str
    sent: tuple[str, ...]
    last_step: int
    notify: bool
    message: str
    stop: bool
    cause: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "sent": list(self.sent),
            "last_step": self.last_step,
            "notify": self.notify,
            "message": self.message,
            "stop": self.stop,
            "cause": self.cause,
        }


def initial_state() -> dict[str, Any]:
    """`$.guard` before the first look (the workflow sets it when the job has started)."""
    return GuardState(Verdict.HEALTHY.value, (), 0, False, "", False, "").to_dict()


def decide(
    assessment: Assessment, *, run: str, sent: Sequence[str], auto_stop: bool, last_step: int
) -> GuardState:
    """The watch step's action on `assessment`, given the finding codes already notified and the
    last step whose metrics were read."""
    already = [str(code) for code in sent]
    new = [f for f in assessment.findings if f.code.value not in already]
    stop = assessment.verdict is Verdict.STOP and auto_stop
    cause = ""
    if stop:
        cause = _bounded(
            f"The training health guard stopped run {run} after {assessment.steps} steps: "
            + assessment.cause()
        )
    message = ""
    if new and not stop:
        held_back = (
            " The guard would stop this run, but training.auto_stop is false in this environment."
            if assessment.verdict is Verdict.STOP
            else ""
        )
        lines = "\n".join(f"[{f.code.value}] step {f.step}: {f.message}" for f in new)
        message = _bounded(f"Training run {run}: the health guard reports{held_back}\n{lines}")
    return GuardState(
        verdict=assessment.verdict.value,
        sent=tuple(already + [f.code.value for f in new]),
        last_step=last_step,
        notify=bool(message),
        message=message,
        stop=stop,
        cause=cause,
    )


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


# --- Where the metrics are ----------------------------------------------------------------------


def read_steps(s3: Any, plan: Mapping[str, Any], job_id: str) -> list[dict[str, Any]]:
    """The run's per-step metrics so far (oldest first), or [] when none are published yet."""
    if plan.get("provider") == "mantle":
        return _mantle_steps(s3, str(plan.get("metrics_s3_uri") or ""))
    return _bedrock_steps(s3, str(plan.get("output_s3_uri") or ""), job_id)


def _mantle_steps(s3: Any, uri: str) -> list[dict[str, Any]]:
    """The JSON lines the Mantle status step writes (rft.mantle_metrics.metrics_jsonl) on each look."""
    if not uri:
        return []
    text = _read_text(s3, uri)
    return [] if text is None else list(parse_jsonl(text))


def parse_jsonl(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn or foreign line: the guard judges the steps it can read
        if isinstance(entry, dict):
            yield entry


def _bedrock_steps(s3: Any, output_uri: str, job_id: str) -> list[dict[str, Any]]:
    """The metrics file a Nova RFT job writes under its output location (rft.assumptions: where and
    under which column names is unconfirmed; nothing found reads as no steps yet)."""
    if not output_uri:
        return []
    location = parse_s3_uri(output_uri)
    job_suffix = job_id.rsplit("/", 1)[-1]
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=location.key)
    found = sorted(
        item["Key"]
        for page in pages
        for item in page.get("Contents", [])
        if item["Key"].rsplit("/", 1)[-1] in assumptions.BEDROCK_RFT_METRICS_FILES
    )
    # The output prefix is the run's own; a job-id folder under it, when there is one, is preferred.
    keys = [key for key in found if job_suffix and job_suffix in key] or found
    if not keys:
        return []
    text = _read_text(s3, f"s3://{location.bucket}/{keys[-1]}")
    return [] if text is None else parse_metrics_csv(text)


def parse_metrics_csv(text: str) -> list[dict[str, Any]]:
    """Rows of a metrics CSV under the guard's names (rft.assumptions.BEDROCK_RFT_METRIC_COLUMNS)."""
    reader = csv.DictReader(io.StringIO(text))
    columns = {
        name: assumptions.BEDROCK_RFT_METRIC_COLUMNS.get(name.strip().lower(), name.strip().lower())
        for name in reader.fieldnames or []
    }
    rows = []
    for row in reader:
        entry: dict[str, Any] = {}
        for column, value in row.items():
            if column is None or value is None:
                continue
            number = _number(value)
            if number is not None:
                entry[columns[column]] = int(number) if columns[column] == "step" else number
        if "step" in entry:
            rows.append(entry)
    return rows


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _read_text(s3: Any, uri: str) -> str | None:
    location = parse_s3_uri(uri)
    try:
        body: bytes = s3.get_object(Bucket=location.bucket, Key=location.key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return body.decode("utf-8", errors="replace")


# --- CloudWatch -----------------------------------------------------------------------------------


def last_step(steps: Iterable[Mapping[str, Any]]) -> int:
    numbers = [s.get("step") for s in steps]
    return max((n for n in numbers if isinstance(n, int) and not isinstance(n, bool)), default=0)


def metric_records(run: str, steps: Iterable[Mapping[str, Any]], *, after: int) -> list[dict[str, Any]]:
    """One embedded-metric-format record per step later than `after` (the steps not yet sent)."""
    now_ms = int(time.time() * 1000)
    records = []
    for step in steps:
        number = step.get("step")
        if not isinstance(number, int) or isinstance(number, bool) or number <= after:
            continue
        values = {
            name: float(step[key])
            for key, name in CLOUDWATCH_METRICS.items()
            if isinstance(step.get(key), int | float) and not isinstance(step.get(key), bool)
        }
        if not values:
            continue
        records.append(
            {
                "_aws": {
                    "Timestamp": _timestamp_ms(step.get("created_at"), now_ms),
                    "CloudWatchMetrics": [
                        {
                            "Namespace": TRAINING_NAMESPACE,
                            "Dimensions": [[RUN_DIMENSION]],
                            "Metrics": [{"Name": name, "Unit": "None"} for name in values],
                        }
                    ],
                },
                RUN_DIMENSION: run,
                "step": number,
                **values,
            }
        )
    return records


def _timestamp_ms(created_at: Any, now_ms: int) -> int:
    if isinstance(created_at, int | float) and not isinstance(created_at, bool):
        stamp = int(created_at * 1000)
        if now_ms - _EMF_MAX_AGE_SECONDS * 1000 < stamp <= now_ms:
            return stamp
    return now_ms
