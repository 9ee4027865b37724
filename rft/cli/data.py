"""`rft data`: validate, convert and upload training datasets (the rules live in rft.datasets)."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rft import datasets
from rft.cli.common import (
    DEFAULT_ENVIRONMENT,
    EnvOption,
    JsonOption,
    ProfileOption,
    RegionOption,
    console,
    environment,
    print_json,
    say,
)
from rft.cli.errors import EXIT_CHECK_FAILED
from rft.environment import Environment
from rft.errors import ValidationError

app = typer.Typer(
    help="Validate, convert and upload training datasets.\n\nExample: rft data validate train.jsonl",
    no_args_is_help=True,
)
convert_app = typer.Typer(
    help="Convert public datasets into RFT JSONL.\n\n"
    "Example: rft data convert gsm8k gsm8k/train.jsonl train.jsonl",
    no_args_is_help=True,
)
app.add_typer(convert_app, name="convert")

DATASETS_PREFIX = "datasets"
_KEY_UNSAFE = re.compile(r"[^-_.a-zA-Z0-9]+")

ExistingFile = Annotated[
    Path,
    typer.Argument(exists=True, dir_okay=False, readable=True, help="A JSONL file, one prompt per line."),
]


@app.command("validate")
def validate(
    source: Annotated[
        str, typer.Argument(help="A local JSONL file, or an s3:// URI (read with --env's credentials).")
    ],
    json_output: JsonOption = False,
    env: EnvOption = DEFAULT_ENVIRONMENT,
    region: RegionOption = None,
    profile: ProfileOption = None,
) -> None:
    """Check a dataset against the same rules as the workflow's validation step.

    Prints every problem with its line number; exits 1 when there is any.

    Example: rft data validate train.jsonl
    """
    if source.startswith("s3://"):
        report = datasets.validate_s3_object(environment(env, region, profile).client("s3"), source)
    else:
        path = Path(source)
        if not path.is_file():
            raise typer.BadParameter(f"{source} is not a file", param_hint="SOURCE")
        report = datasets.validate_file(path)
    if json_output:
        print_json(report.to_dict())
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(EXIT_CHECK_FAILED)


def _print_report(report: datasets.DatasetReport) -> None:
    if report.problems:
        table = Table("line", "field", "problem", title="Problems", title_justify="left")
        for problem in report.problems:
            table.add_row("" if problem.line is None else str(problem.line), problem.field, problem.message)
        console.print(table)
    style = "green" if report.ok else "red"
    console.print(f"[{style}]{report.summary()}[/]", soft_wrap=True)


@convert_app.command("gsm8k")
def convert_gsm8k(
    source: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="GSM8K JSONL (question, answer).")
    ],
    target: Annotated[Path, typer.Argument(dir_okay=False, help="Where to write the RFT JSONL.")],
    limit: Annotated[
        int | None, typer.Option(min=1, help="Convert only the first N problems (e.g. a held-out set).")
    ] = None,
    id_prefix: Annotated[str, typer.Option(help="Prefix of each line's task_id.")] = "gsm8k",
    json_output: JsonOption = False,
) -> None:
    """Turn GSM8K lines into RFT JSONL with a prompt asking for a checkable final answer ('#### <n>').

    The answer after '####' becomes the reference_answer; nothing is written if any line is bad.

    Example: rft data convert gsm8k gsm8k/train.jsonl train.jsonl
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    count = 0
    try:
        with source.open("rb") as lines, os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            for line in datasets.convert_gsm8k(lines, id_prefix=id_prefix):
                out.write(line + "\n")
                count += 1
                if limit is not None and count >= limit:
                    break
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    if json_output:
        print_json({"prompts": count, "output": str(target)})
    else:
        say(f"Wrote {count:,} prompts to {target}.")


@app.command("upload")
def upload(
    path: ExistingFile,
    env: EnvOption = DEFAULT_ENVIRONMENT,
    region: RegionOption = None,
    profile: ProfileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Validate a dataset, then upload it to the environment's datasets bucket (SSE-KMS).

    The key holds the content's SHA-256, so uploading the same file again changes nothing. Prints
    the S3 URI to pass to 'rft train start --data'.

    Example: rft data upload train.jsonl --env staging
    """
    report = checked_for_upload(path)
    target = environment(env, region, profile)
    result = upload_dataset(target, path)
    result.update(prompts=report.prompts)
    if json_output:
        print_json(result)
        return
    say(
        f"{'Uploaded' if result['uploaded'] else 'Already uploaded'}: {report.prompts:,} prompts "
        f"to environment {target.name!r}."
    )
    typer.echo(result["uri"])


def checked_for_upload(path: Path) -> datasets.DatasetReport:
    """The dataset's report; its problems are printed and raised (nothing is uploaded) if it has any."""
    report = datasets.validate_file(path)
    if not report.ok:
        _print_report(report)
        raise ValidationError(f"{path} (not uploaded)", report.problems, report.problem_count)
    return report


def dataset_key(path: Path, digest: str) -> str:
    """``datasets/<stem>-<sha256[:16]>.jsonl``: a readable name and the content's hash."""
    stem = _KEY_UNSAFE.sub("-", path.stem).strip("-.") or "dataset"
    return f"{DATASETS_PREFIX}/{stem[:80]}-{digest[:16]}.jsonl"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def upload_dataset(target: Environment, path: Path) -> dict[str, object]:
    """Upload ``path`` unless an object with its content hash is already there."""
    from botocore.exceptions import ClientError

    digest = sha256_of(path)
    bucket, key = target.datasets_bucket, dataset_key(path, digest)
    s3 = target.client("s3")
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
        uploaded = head.get("Metadata", {}).get("sha256") != digest
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
        uploaded = True
    if uploaded:
        s3.upload_file(
            str(path),
            bucket,
            key,
            ExtraArgs={
                "ServerSideEncryption": "aws:kms",
                "SSEKMSKeyId": target.data_key_arn,
                "ContentType": "application/jsonl",
                "Metadata": {"sha256": digest},
            },
        )
    return {
        "uri": f"s3://{bucket}/{key}",
        "bucket": bucket,
        "key": key,
        "sha256": digest,
        "bytes": path.stat().st_size,
        "uploaded": uploaded,
    }
