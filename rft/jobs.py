"""The training request (the workflow's execution input): its fields and their rules.

``JobRequest.from_dict`` checks a request and names the field of every problem; ``rft.job_plan``
turns a valid request plus the environment's settings into the run's plan.

Request fields (JSON object)::

    name                 required  run name: also the execution name, job name, model name
    base_model           required  a catalog id offered in the environment's region
    training_data        required  s3://<datasets bucket>/<key>
    validation_data      optional  s3://<datasets bucket>/<key>
    reward               required  name of a deployed grader
    hyperparameters      optional  Bedrock names (see rft.hyperparameters)
    serve                optional  make the model callable (default true)
    first_wait_seconds   optional  first status check after start (default 60; 0 in tests)
    max_wait_seconds     optional  cap of the doubling wait between checks (default 900)
    time_limit_seconds   optional  stop the job after this long (default 3 days)
    tags                 optional  {key: value} added to the job, the model and the deployment
    validate_only        optional  true: stop after Validate with success; no job starts (rft doctor)
    reproduced_from      optional  "<env>/<run name>": the run this one repeats (rft train reproduce)
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from rft import assumptions, catalog
from rft.aws import S3_URI_MAX_CHARS, is_bedrock_s3_uri, parse_s3_uri
from rft.errors import Problem, RftError, UnknownBaseModelError, ValidationError
from rft.hyperparameters import Hyperparameters
from rft.names import is_environment_name
from rft.quoting import quote
from rft.workflow_state import PlanWatch

# The run name becomes the execution name (1-80, no spaces or punctuation beyond - and _ for
# logging), the Bedrock job name (`[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*`, 1-63), the custom model and
# deployment names (`([0-9a-zA-Z][_-]?){1,63}`) and the Mantle suffix. The intersection: letters,
# digits and single hyphens, starting and ending with a letter or digit, at most 63 characters.
NAME_PATTERN = re.compile(r"[a-zA-Z0-9]+(?:-[a-zA-Z0-9]+)*")
NAME_MAX_LENGTH = 63
NAME_RULE = "1-63 letters, digits and single hyphens, starting and ending with a letter or digit"

FIELDS = (
    "name",
    "base_model",
    "training_data",
    "validation_data",
    "reward",
    "hyperparameters",
    "serve",
    "first_wait_seconds",
    "max_wait_seconds",
    "time_limit_seconds",
    "tags",
    "validate_only",
    "reproduced_from",
)
REQUIRED_FIELDS = ("name", "base_model", "training_data", "reward")

DAY = 24 * 3600
# (default, maximum); minimum 0 everywhere so tests run without waiting.
WATCH_LIMITS: Mapping[str, tuple[int, int]] = {
    "first_wait_seconds": (60, 3600),
    "max_wait_seconds": (900, DAY),
    "time_limit_seconds": (3 * DAY, 30 * DAY),
}

# Bedrock tag rules (botocore TagKey/TagValue); `aws:` is AWS's and `rft:` is ours.
BUCKET_PATTERN = re.compile(r"[a-z0-9][-.a-z0-9]{1,61}[a-z0-9]")
# botocore's pattern has `\s`, which in Python (and Java) also takes newlines, tabs and Unicode
# spaces: AWS's tagging rules allow spaces, and a newline would split a cost report's row. So: ' '.
TAG_PATTERN = re.compile(r"[a-zA-Z0-9 ._:/=+@-]*")
RESERVED_TAG_PREFIXES = ("aws:", "rft:")
# Tags every run carries (`run_tags`): a request's own value would be silently replaced, and the
# budget counts runs by them, so they are refused rather than overridden.
RESERVED_TAG_KEYS = frozenset({"project", "environment"})
MAX_USER_TAGS = 40
MANTLE_VALIDATION_REFUSED = (
    "is not accepted for Mantle models yet: no AWS source shows a Mantle job taking a validation "
    "file (rft.assumptions.MANTLE_VALIDATION_FILE_SUPPORTED); leave it out"
)


def is_valid_name(name: object) -> bool:
    """Whether ``name`` can be a run name (and so a model name or an alias)."""
    return isinstance(name, str) and len(name) <= NAME_MAX_LENGTH and NAME_PATTERN.fullmatch(name) is not None


def is_run_reference(value: object) -> bool:
    """``<environment>/<run name>``: where a reproduced run came from."""
    if not isinstance(value, str):
        return False
    environment, sep, name = value.partition("/")
    return bool(sep) and is_environment_name(environment) and is_valid_name(name)


@dataclass(frozen=True)
class WatchSettings:
    first_wait_seconds: int = WATCH_LIMITS["first_wait_seconds"][0]
    max_wait_seconds: int = WATCH_LIMITS["max_wait_seconds"][0]
    time_limit_seconds: int = WATCH_LIMITS["time_limit_seconds"][0]

    def to_dict(self) -> PlanWatch:
        return {
            "first_wait_seconds": self.first_wait_seconds,
            "max_wait_seconds": self.max_wait_seconds,
            "time_limit_seconds": self.time_limit_seconds,
        }


@dataclass(frozen=True)
class JobRequest:
    name: str
    base_model: str
    training_data: str
    reward: str
    validation_data: str | None = None
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    serve: bool = True
    watch: WatchSettings = field(default_factory=WatchSettings)
    tags: Mapping[str, str] = field(default_factory=dict)
    validate_only: bool = False
    reproduced_from: str | None = None

    @property
    def model(self) -> catalog.BaseModel:
        return catalog.get_model(self.base_model)

    @classmethod
    def from_dict(
        cls,
        data: object,
        *,
        region: str | None = None,
        datasets_bucket: str | None = None,
        rewards: Collection[str] | None = None,
    ) -> JobRequest:
        """Validate a request; raise ValidationError listing every problem by field.

        ``region``, ``datasets_bucket`` and ``rewards`` (the deployed grader names) are the
        environment's; a check whose setting is None is skipped (the workflow passes all three).
        """
        if not isinstance(data, Mapping):
            raise ValidationError("The job request", [Problem(None, "", "must be a JSON object")])
        problems: list[Problem] = []
        for key in data:
            if key not in FIELDS:
                problems.append(Problem(None, str(key), f"unknown field (known: {', '.join(FIELDS)})"))
        for key in REQUIRED_FIELDS:
            if data.get(key) in (None, ""):
                problems.append(Problem(None, key, "is required"))

        name = data.get("name")
        if name not in (None, "") and not is_valid_name(name):
            problems.append(Problem(None, "name", f"{quote(name)} is not a valid run name: {NAME_RULE}"))

        model: catalog.BaseModel | None = None
        base_model = data.get("base_model")
        if base_model not in (None, ""):
            try:
                model = catalog.get_model(base_model, region)  # it checks the type
            except UnknownBaseModelError as exc:
                problems.append(Problem(None, "base_model", str(exc)))

        for key in ("training_data", "validation_data"):
            uri = data.get(key)
            if uri not in (None, ""):
                message = _check_data_uri(uri, datasets_bucket)
                if message:
                    problems.append(Problem(None, key, message))
        if (
            model is not None
            and model.provider == "mantle"
            and data.get("validation_data") not in (None, "")
            and not assumptions.MANTLE_VALIDATION_FILE_SUPPORTED
        ):
            problems.append(Problem(None, "validation_data", MANTLE_VALIDATION_REFUSED))

        reward = data.get("reward")
        if reward not in (None, ""):
            if not isinstance(reward, str):
                problems.append(Problem(None, "reward", "must be a string (a grader name)"))
            elif rewards is not None and reward not in rewards:
                known = ", ".join(sorted(rewards)) or "none deployed"
                problems.append(
                    Problem(None, "reward", f"{quote(reward)} is not a deployed grader (known: {known})")
                )

        hyperparameters = Hyperparameters()
        try:
            hyperparameters = Hyperparameters.from_dict(
                data.get("hyperparameters"),
                applicable=model.hyperparameters if model else None,
                model_id=model.id if model else None,
            )
        except ValidationError as exc:
            problems.extend(exc.problems)

        serve = data.get("serve", True)
        if not isinstance(serve, bool):
            problems.append(Problem(None, "serve", f"must be true or false, not {quote(serve)}"))

        watch_values: dict[str, int] = {}
        for key, (default, maximum) in WATCH_LIMITS.items():
            value = data.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
                problems.append(
                    Problem(None, key, f"must be a whole number of seconds from 0 to {maximum:,}")
                )
            else:
                watch_values[key] = value
        if (
            "first_wait_seconds" in watch_values
            and "max_wait_seconds" in watch_values
            and watch_values["max_wait_seconds"] < watch_values["first_wait_seconds"]
        ):
            problems.append(Problem(None, "max_wait_seconds", "must not be less than first_wait_seconds"))

        tags = data.get("tags") or {}
        problems.extend(_check_tags(tags))

        validate_only = data.get("validate_only", False)
        if not isinstance(validate_only, bool):
            problems.append(Problem(None, "validate_only", f"must be true or false, not {validate_only!r}"))

        reproduced_from = data.get("reproduced_from")
        if reproduced_from is not None and not is_run_reference(reproduced_from):
            problems.append(
                Problem(None, "reproduced_from", f"{reproduced_from!r} is not '<environment>/<run name>'")
            )

        if problems:
            raise ValidationError("The job request", problems)
        return cls(
            name=str(name),
            base_model=model.id if model else str(base_model),  # the catalog's spelling of an alias
            training_data=str(data["training_data"]),
            validation_data=data.get("validation_data") or None,
            reward=str(reward),
            hyperparameters=hyperparameters,
            serve=bool(serve),
            watch=WatchSettings(**watch_values),
            tags=dict(tags),
            validate_only=bool(validate_only),
            reproduced_from=reproduced_from,
        )

    def to_dict(self) -> dict[str, Any]:
        """The request as JSON input (what ``from_dict`` reads back to an equal request)."""
        out: dict[str, Any] = {
            "name": self.name,
            "base_model": self.base_model,
            "training_data": self.training_data,
            "reward": self.reward,
        }
        if self.validation_data:
            out["validation_data"] = self.validation_data
        if self.hyperparameters.values:
            out["hyperparameters"] = self.hyperparameters.to_dict()
        out["serve"] = self.serve
        out.update(self.watch.to_dict())
        if self.tags:
            out["tags"] = dict(self.tags)
        if self.validate_only:
            out["validate_only"] = True
        if self.reproduced_from:
            out["reproduced_from"] = self.reproduced_from
        return out


def _check_data_uri(uri: object, datasets_bucket: str | None) -> str | None:
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        return f"{quote(uri)} is not an S3 URI (s3://bucket/key)"
    if len(uri) > S3_URI_MAX_CHARS:
        return f"is {len(uri):,} characters long; Bedrock accepts S3 URIs of at most {S3_URI_MAX_CHARS:,}"
    try:
        location = parse_s3_uri(uri)
    except RftError as exc:  # `s3://`, `s3:///key`: no bucket
        return str(exc).rstrip(".")
    if not BUCKET_PATTERN.fullmatch(location.bucket):
        return f"{quote(location.bucket)} is not a valid S3 bucket name"
    if datasets_bucket is not None and location.bucket != datasets_bucket:
        return f"must be in this environment's datasets bucket ({datasets_bucket}), not {location.bucket}"
    if not location.key or uri.endswith("/"):
        return f"{quote(uri)} names a folder; give the JSONL file's key"
    if not is_bedrock_s3_uri(uri):
        return f"{quote(uri)} has characters Bedrock does not accept in S3 keys (letters, digits, -_.!*'()/)"
    return None


def _check_tags(tags: object) -> list[Problem]:
    if not isinstance(tags, Mapping):
        return [Problem(None, "tags", "must be an object of key: value strings")]
    if len(tags) > MAX_USER_TAGS:
        return [Problem(None, "tags", f"has {len(tags):,} tags; at most {MAX_USER_TAGS}")]
    problems = []
    for key, value in tags.items():
        where = f"tags.{key}"
        if not isinstance(key, str) or not 1 <= len(key) <= 128 or not TAG_PATTERN.fullmatch(key):
            problems.append(Problem(None, where, "a tag key has 1-128 letters, digits, spaces or ._:/=+@-"))
        elif key.lower().startswith(RESERVED_TAG_PREFIXES):
            problems.append(Problem(None, where, "tag keys starting with aws: or rft: are reserved"))
        elif key.lower() in RESERVED_TAG_KEYS:
            problems.append(
                Problem(None, where, f"{key!r} is set by rft-stack on every run (the budget counts by it)")
            )
        if not isinstance(value, str) or len(value) > 256 or not TAG_PATTERN.fullmatch(value):
            problems.append(
                Problem(None, where, "a tag value is a string of 0-256 letters, digits, spaces or ._:/=+@-")
            )
    return problems
