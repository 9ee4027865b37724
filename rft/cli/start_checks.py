"""`rft train start`'s checks, in the order that wastes nothing: first everything that can be
checked here (the request's rules, as the workflow's validate step applies them; local datasets;
the reward's folder), all at once; then what needs the environment (deployed, the name free, the
reward deployed, each s3:// dataset present in the datasets bucket and valid). Only a request that
passes both is uploaded and started.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rft import datasets
from rft import hyperparameters as hyperparameter_rules
from rft.environment import Environment
from rft.errors import Problem, RftError, ValidationError
from rft.jobs import JobRequest, is_valid_name

DATA_FIELDS = ("training_data", "validation_data")
# Stands in for the datasets bucket while nothing is known of the environment: a local file's
# request is checked with the URI it will have, in a bucket checked later.
LOCAL_BUCKET = "local-file-to-upload"
PROBLEMS_PER_FILE = 5


@dataclass
class StartRequest:
    """The request as the options give it, and the local files it will upload."""

    data: dict[str, Any]
    local_files: dict[str, Path] = field(default_factory=dict)  # request field -> file
    problems: list[Problem] = field(default_factory=list)


def parse_hyperparameter_options(values: Iterable[str]) -> dict[str, Any]:
    """Each value is a JSON file of hyperparameters or a ``name=value``; later ones win."""
    merged: dict[str, Any] = {}
    assignments: list[str] = []
    for value in values:
        if "=" not in value and Path(value).is_file():
            merged.update(hyperparameter_rules.load_file(value))
        elif "=" not in value:
            raise RftError(
                f"--hyperparameters {value!r} is neither a file nor name=value (e.g. epochCount=3)."
            )
        else:
            assignments.append(value)
    merged.update(hyperparameter_rules.parse_assignments(assignments))
    return merged


def parse_tags(values: Iterable[str]) -> dict[str, str]:
    tags = {}
    for value in values:
        key, sep, tag_value = value.partition("=")
        if not sep or not key.strip():
            raise RftError(f"--tag {value!r} is not key=value.")
        tags[key.strip()] = tag_value.strip()
    return tags


def check_locally(
    options: dict[str, Any], *, hyperparameters: Iterable[str], tags: Iterable[str], region: str
) -> StartRequest:
    """Every check that needs no AWS call; ``options`` holds the request's fields."""
    request = StartRequest(data={key: value for key, value in options.items() if value is not None})
    for what, parse, values in (
        ("hyperparameters", parse_hyperparameter_options, list(hyperparameters)),
        ("tags", parse_tags, list(tags)),
    ):
        if values:
            try:
                request.data[what] = parse(values)
            except ValidationError as exc:
                request.problems.extend(exc.problems)
            except RftError as exc:
                request.problems.append(Problem(None, what, str(exc).rstrip(".")))
    for key in DATA_FIELDS:
        value = request.data.get(key)
        if isinstance(value, str) and not value.startswith("s3://"):
            _check_local_file(request, key, Path(value))
    request.problems.extend(_reward_problems(request.data.get("reward")))
    try:
        JobRequest.from_dict(request.data, region=region)
    except ValidationError as exc:
        request.problems.extend(exc.problems)
    return request


def _check_local_file(request: StartRequest, key: str, path: Path) -> None:
    if not path.is_file():
        request.problems.append(Problem(None, key, f"{str(path)!r} is neither an s3:// URI nor a file"))
        request.data.pop(key)
        return
    report = datasets.validate_file(path)
    for problem in report.problems[:PROBLEMS_PER_FILE]:
        where = f"line {problem.line}: " if problem.line is not None else ""
        field_name = f"{problem.field}: " if problem.field else ""
        request.problems.append(Problem(None, key, f"{path}: {where}{field_name}{problem.message}"))
    if report.problem_count > PROBLEMS_PER_FILE:
        more = report.problem_count - PROBLEMS_PER_FILE
        request.problems.append(
            Problem(None, key, f"{path}: {more} more problems ('rft data validate {path}')")
        )
    request.local_files[key] = path
    request.data[key] = local_uri(path)


def local_uri(path: Path, bucket: str = LOCAL_BUCKET) -> str:
    """The URI ``rft data upload`` gives the file (content-hashed key) in ``bucket``."""
    from rft.cli.data import dataset_key, sha256_of

    return f"s3://{bucket}/{dataset_key(path, sha256_of(path))}"


def _reward_problems(reward: Any) -> list[Problem]:
    """A reward this checkout has no folder for cannot be deployed in any environment built from it."""
    from rft.preflight import PreflightError, load_handler

    if not isinstance(reward, str) or not reward:
        return []
    try:
        load_handler(reward)
    except PreflightError as exc:
        return [Problem(None, "reward", str(exc))]
    except Exception:  # a reward whose handler does not import here is for the environment to judge
        return []
    return []


def check_environment(
    request: StartRequest, target: Environment, *, name_check: Callable[[Environment, str], None]
) -> JobRequest | None:
    """The checks that need the environment: name free, reward deployed, data where it belongs,
    present and valid. Adds to ``request.problems``; the request when there are none."""
    name = request.data.get("name")
    if isinstance(name, str) and is_valid_name(name):
        try:
            name_check(target, name)
        except RftError as exc:
            request.problems.append(Problem(None, "name", str(exc).rstrip(".")))
    for key, path in request.local_files.items():
        request.data[key] = local_uri(path, target.datasets_bucket)
    try:
        job = JobRequest.from_dict(
            request.data,
            region=target.region,
            datasets_bucket=target.datasets_bucket,
            rewards=target.graders().keys(),
        )
    except ValidationError as exc:
        request.problems.extend(p for p in exc.problems if p not in request.problems)
        job = None
    for key in DATA_FIELDS:
        uri = request.data.get(key)
        if isinstance(uri, str) and key not in request.local_files and job is not None:
            request.problems.extend(_s3_dataset_problems(target, key, uri))
    return job if not request.problems else None


def _s3_dataset_problems(target: Environment, key: str, uri: str) -> list[Problem]:
    from botocore.exceptions import ClientError

    try:
        report = datasets.validate_s3_object(target.client("s3"), uri)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("NoSuchKey", "404", "NotFound"):
            return [Problem(None, key, f"{uri} does not exist ('rft data upload FILE' puts it there)")]
        raise
    problems = [Problem(None, key, f"{uri}: {problem}") for problem in report.problems[:PROBLEMS_PER_FILE]]
    if report.problem_count > PROBLEMS_PER_FILE:
        more = report.problem_count - PROBLEMS_PER_FILE
        problems.append(Problem(None, key, f"{uri}: {more} more problems ('rft data validate {uri}')"))
    return problems
