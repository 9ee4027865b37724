"""The model record (what a trained model is and where to call it) and evaluation summaries.

Both are stored as JSON in SSM Parameter Store under the environment's prefix::

    /rft/<environment>/models/<name>         ModelRecord, written by the workflow's publish step
    /rft/<environment>/evaluations/<name>    EvaluationSummary, written by `rft eval`
    /rft/<environment>/aliases/<alias>       alias entry (see rft.registry)
    /rft/<environment>/locks/aliases/<alias> held while the alias moves (rft.locks)

Each value carries ``schema_version``; a reader refuses a newer major version with a clear error and
ignores fields it does not know. A value must fit an Advanced-tier parameter (8 KB): the record's
metrics summary is thinned, then dropped, to fit (``fit_to_parameter``), and says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from rft import names
from rft.errors import RecordTooLargeError, RftError
from rft.jobs import NAME_MAX_LENGTH, NAME_PATTERN

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

SCHEMA_VERSION = 1
STANDARD_PARAMETER_BYTES = 4096
MAX_PARAMETER_BYTES = 8192  # Advanced tier

STATUS_READY = "ready"  # callable: a Mantle model id or an Active Bedrock deployment
STATUS_TRAINED = "trained"  # a Bedrock custom model that was not deployed (serve=false)
STATUSES = (STATUS_READY, STATUS_TRAINED)


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- Parameter names -----------------------------------------------------------------------------


def environment_prefix(environment: str) -> str:
    """``/rft/<environment>`` (rft.names), an RftError for a name no environment can have."""
    if not names.is_environment_name(environment):
        raise RftError(f"{environment!r} is not a valid environment name ({names.ENVIRONMENT_NAME_RULE}).")
    return names.environment_prefix(environment)


def _name(kind: str, environment: str, name: str) -> str:
    # Model names are run names (rft.jobs.NAME_PATTERN); aliases follow the same rule.
    if not isinstance(name, str) or len(name) > NAME_MAX_LENGTH or not NAME_PATTERN.fullmatch(name):
        label = "alias" if kind == names.ALIASES else "model name"
        raise RftError(f"{name!r} is not a valid {label} (letters, digits and single hyphens, at most 63).")
    return f"{environment_prefix(environment)}/{kind}/{name}"


def model_parameter_name(environment: str, name: str) -> str:
    return _name(names.MODELS, environment, name)


def alias_parameter_name(environment: str, alias: str) -> str:
    return _name(names.ALIASES, environment, alias)


def evaluation_parameter_name(environment: str, name: str) -> str:
    return _name(names.EVALUATIONS, environment, name)


def alias_lock_parameter_name(environment: str, alias: str) -> str:
    """The lock that serialises moves of one alias (rft.locks); outside ``aliases/`` so listings skip it."""
    return _name("locks/aliases", environment, alias)


# --- Model record --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRecord:
    name: str
    environment: str
    provider: str  # "bedrock" | "mantle"
    region: str
    model_id: str  # what to call: Mantle fine-tuned model id, deployment ARN, or custom model ARN
    base_model: str
    reward: str
    job_id: str  # Bedrock job ARN or Mantle job id
    status: str = STATUS_READY
    base_url: str | None = None  # Mantle's OpenAI-compatible base URL
    custom_model_arn: str | None = None
    deployment_arn: str | None = None
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)  # training metrics summary
    training_data: str | None = None
    execution_arn: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    published_at: str | None = None
    # What ran (rft.recipes): datasets by sha256, the grader's version and code hash, the version.
    recipe: Mapping[str, Any] = field(default_factory=dict)
    reproduced_from: str | None = None  # "<env>/<run name>" this run repeated
    # Where a model copied from another account came from (rft.model_copy.Provenance), else empty.
    copied_from: Mapping[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    @property
    def callable(self) -> bool:
        return self.status == STATUS_READY

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["hyperparameters"] = dict(self.hyperparameters)
        data["metrics"] = dict(self.metrics)
        data["recipe"] = dict(self.recipe)
        data["copied_from"] = dict(self.copied_from)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelRecord:
        return _from_dict(cls, data, "model record")

    @classmethod
    def from_json(cls, text: str) -> ModelRecord:
        return cls.from_dict(_loads(text, "model record"))

    def fit_to_parameter(self, limit: int = MAX_PARAMETER_BYTES) -> ModelRecord:
        """This record, its metrics summary thinned until the JSON fits ``limit`` bytes.

        Order: halve every series in ``metrics`` (keeping first and last points) until each has 2
        points; then drop the series; then drop the whole summary. The result's
        ``metrics["trimmed"]`` says what happened. Raise RecordTooLargeError when even a record
        without metrics is too large.
        """
        if _size(self) <= limit:
            return self
        metrics = dict(self.metrics)
        while any(isinstance(v, list) and len(v) > 2 for v in _series(metrics).values()):
            metrics = _thin(metrics)
            candidate = replace(self, metrics={**metrics, "trimmed": "series thinned"})
            if _size(candidate) <= limit:
                return candidate
        without_series = {k: v for k, v in metrics.items() if k != "series"}
        candidate = replace(self, metrics={**without_series, "trimmed": "series dropped"})
        if _size(candidate) <= limit:
            return candidate
        candidate = replace(self, metrics={"trimmed": "summary dropped"})
        if _size(candidate) <= limit:
            return candidate
        raise RecordTooLargeError(
            f"The model record for {self.name!r} is {_size(candidate):,} bytes without metrics; "
            f"an SSM parameter holds at most {limit:,}."
        )


def _series(metrics: Mapping[str, Any]) -> Mapping[str, Any]:
    series = metrics.get("series")
    return series if isinstance(series, Mapping) else {}


def _thin(metrics: dict[str, Any]) -> dict[str, Any]:
    thinned = {}
    for key, points in _series(metrics).items():
        if isinstance(points, list) and len(points) > 2:
            # Keep every other point, and always the last one.
            kept = points[::2]
            if kept[-1] is not points[-1]:
                kept.append(points[-1])
            thinned[key] = kept
        else:
            thinned[key] = points
    return {**metrics, "series": thinned}


def _size(record: ModelRecord) -> int:
    return len(record.to_json().encode("utf-8"))


def record_from_run(
    plan: Mapping[str, Any],
    *,
    job_id: str,
    model_id: str,
    custom_model_arn: str | None = None,
    deployment_arn: str | None = None,
    metrics: Mapping[str, Any] | None = None,
    execution_arn: str | None = None,
    started_at: str | None = None,
    completed_at: str | None = None,
    published_at: str | None = None,
) -> ModelRecord:
    """The record of a finished run, from ``rft.job_plan.plan_job``'s plan and what the run produced.

    ``model_id`` is the Mantle fine-tuned model id, the deployment ARN, or (not served) the custom
    model ARN; the status follows: a Bedrock model without a deployment is ``trained``.
    """
    provider = plan["provider"]
    ready = provider == "mantle" or deployment_arn is not None
    return ModelRecord(
        name=plan["name"],
        environment=plan["environment"],
        provider=provider,
        region=plan["region"],
        model_id=model_id,
        base_model=plan["base_model"],
        reward=plan["reward"],
        job_id=job_id,
        status=STATUS_READY if ready else STATUS_TRAINED,
        base_url=(plan.get("mantle") or {}).get("base_url"),
        custom_model_arn=custom_model_arn,
        deployment_arn=deployment_arn,
        hyperparameters=dict(plan.get("hyperparameters") or {}),
        metrics=dict(metrics or {}),
        training_data=plan.get("training_data"),
        execution_arn=execution_arn,
        started_at=started_at,
        completed_at=completed_at,
        published_at=published_at or now_iso(),
        recipe=dict(plan.get("recipe") or {}),
        reproduced_from=(plan.get("recipe") or {}).get("reproduced_from"),
    )


# --- Evaluation summary --------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationSummary:
    """What `rft eval` found for a trained model; the promotion gate compares ``mean_reward``."""

    name: str  # the trained model's name
    reward: str  # the grader that scored it
    mean_reward: float
    samples: int
    dataset: str  # where the held-out prompts came from (URI or path)
    evaluated_at: str = field(default_factory=now_iso)
    base_mean_reward: float | None = None  # the base model's mean on the same prompts
    ci95: tuple[float, float] | None = None  # 95% interval of the trained-minus-base difference
    report_uri: str | None = None
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ci95"] = list(self.ci95) if self.ci95 is not None else None
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationSummary:
        summary = _from_dict(cls, data, "evaluation summary")
        if summary.ci95 is not None:
            summary = replace(summary, ci95=(float(summary.ci95[0]), float(summary.ci95[1])))
        return summary

    @classmethod
    def from_json(cls, text: str) -> EvaluationSummary:
        return cls.from_dict(_loads(text, "evaluation summary"))


# --- Shared (de)serialisation --------------------------------------------------------------------


def _loads(text: str, what: str) -> Mapping[str, Any]:
    try:
        data = json.loads(text)
    except (TypeError, json.JSONDecodeError) as exc:
        raise RftError(f"The stored {what} is not valid JSON: {exc}.") from exc
    if not isinstance(data, Mapping):
        raise RftError(f"The stored {what} is not a JSON object.")
    return data


RecordT = TypeVar("RecordT", bound="DataclassInstance")


def _from_dict(cls: type[RecordT], data: Mapping[str, Any], what: str) -> RecordT:
    version = data.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise RftError(
            f"The stored {what} has schema version {version!r}; this rft reads up to "
            f"{SCHEMA_VERSION}: upgrade rft."
        )
    known = {f.name for f in fields(cls)}
    values = {key: value for key, value in data.items() if key in known}
    try:
        return cls(**values)
    except TypeError as exc:
        missing = sorted(
            f.name
            for f in fields(cls)
            if f.name not in values and f.default is MISSING and f.default_factory is MISSING
        )
        raise RftError(f"The stored {what} lacks required fields: {', '.join(missing) or exc}.") from exc
