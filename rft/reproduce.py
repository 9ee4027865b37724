"""Start a recorded run again in another environment (`rft train reproduce`).

The source run's record holds its recipe (rft.recipes). Reproducing it: the target's grader of
the same name must run the same code (its `live` alias's CodeSha256), unless the caller accepts a
change; each dataset is copied into the target's datasets bucket under the same key when absent,
its sha256 verified against the recipe (a present object is verified too); then the same request
starts there, under a new name if given, carrying ``reproduced_from: "<env>/<name>"``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rft import recipes
from rft.aws import parse_s3_uri
from rft.environment import Environment
from rft.errors import RftError
from rft.jobs import JobRequest
from rft.registry import ModelRegistry

SPOOL_BYTES = 64 << 20  # datasets up to this size are copied in memory, larger ones through a file
SHA256_METADATA = "sha256"  # object metadata the copy carries, so the next reproduce need not re-read


class ReproduceError(RftError):
    """The run cannot be reproduced as asked (no recipe, another grader, a dataset that changed)."""


@dataclass
class Reproduction:
    source: str  # "<env>/<name>"
    request: JobRequest
    copied: list[str] = field(default_factory=list)  # target URIs written
    reused: list[str] = field(default_factory=list)  # target URIs already there, verified
    grader_changed: bool = False


def recipe_of(source: Environment, name: str) -> Mapping[str, Any]:
    record = ModelRegistry(source.client("ssm"), source.name).find_model(name)
    if record is None:
        raise ReproduceError(f"No model named {name!r} in environment {source.name!r}: nothing to reproduce.")
    if not record.recipe:
        raise ReproduceError(
            f"Model {name!r} of {source.name!r} was trained before runs pinned their recipe; "
            "start it again with rft train start."
        )
    return record.recipe


def check_grader(recipe: Mapping[str, Any], target: Environment, *, allow_change: bool) -> bool:
    """True when the target's grader runs other code than the recorded one (and that is allowed)."""
    pinned = recipe.get("grader") or {}
    name = str(pinned.get("name"))
    alias = target.graders().get(name)
    if alias is None:
        raise ReproduceError(f"Environment {target.name!r} has no grader {name!r}: deploy it there first.")
    here = recipes.grader_pin(target.client("lambda"), name, alias)
    if here.code_sha256 == pinned.get("code_sha256"):
        return False
    if allow_change:
        return True
    raise ReproduceError(
        f"Grader {name!r} in {target.name!r} runs other code than the run used: recorded sha256 "
        f"{recipes.code_sha256_hex(str(pinned.get('code_sha256')))}, {target.name!r} has "
        f"{recipes.code_sha256_hex(here.code_sha256)} (version {here.version}); deploy the same grader, "
        "or pass --allow-grader-change."
    )


def copy_dataset(source: Environment, target: Environment, pinned: Mapping[str, Any]) -> tuple[str, bool]:
    """The dataset's URI in the target's bucket, and whether it was copied (False: already there)."""
    from botocore.exceptions import ClientError

    uri, sha256 = str(pinned["uri"]), str(pinned["sha256"])
    key = parse_s3_uri(uri).key
    bucket = target.datasets_bucket
    target_uri = f"s3://{bucket}/{key}"
    s3 = target.client("s3")
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
        head = None
    if head is not None:
        present = head.get("Metadata", {}).get(SHA256_METADATA) or recipes.s3_digest(s3, target_uri).sha256
        if present != sha256:
            raise ReproduceError(
                f"{target_uri} exists with sha256 {present}, not the recorded {sha256}: "
                "the run's data there differs; move it away or reproduce under another key."
            )
        return target_uri, False
    body = source.client("s3").get_object(**_location(uri))["Body"]
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        digest = recipes.digest_chunks(_tee(body, spool))
        if digest.sha256 != sha256:
            raise ReproduceError(
                f"{uri} now has sha256 {digest.sha256}, not the recorded {sha256}: the source data changed."
            )
        spool.seek(0)
        s3.upload_fileobj(
            spool,
            bucket,
            key,
            ExtraArgs={"Metadata": {SHA256_METADATA: sha256}, "ContentType": "application/jsonl"},
        )
    return target_uri, True


def _location(uri: str) -> dict[str, str]:
    location = parse_s3_uri(uri)
    return {"Bucket": location.bucket, "Key": location.key}


def _tee(body: Any, spool: Any) -> Any:
    for chunk in recipes.read_chunks(body):
        spool.write(chunk)
        yield chunk


def prepare(
    source: Environment,
    target: Environment,
    name: str,
    *,
    new_name: str | None = None,
    allow_grader_change: bool = False,
) -> Reproduction:
    """Check the grader, copy the datasets, and build the request to start in `target`."""
    recipe = recipe_of(source, name)
    changed = check_grader(recipe, target, allow_change=allow_grader_change)
    request = dict(recipe.get("request") or {})
    reproduction_of = f"{source.name}/{name}"
    copied: list[str] = []
    reused: list[str] = []
    for field_name, pinned in (recipe.get("datasets") or {}).items():
        target_uri, was_copied = copy_dataset(source, target, pinned)
        request[field_name] = target_uri
        (copied if was_copied else reused).append(target_uri)
    if recipe.get("hyperparameters"):
        request["hyperparameters"] = dict(recipe["hyperparameters"])  # as resolved when it ran
    request.update({"name": new_name or name, "reproduced_from": reproduction_of})
    request.pop("validate_only", None)
    job = JobRequest.from_dict(request, region=target.region, datasets_bucket=target.datasets_bucket)
    return Reproduction(reproduction_of, job, copied, reused, changed)
