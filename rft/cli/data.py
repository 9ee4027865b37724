"""`rft data`: validate, convert and upload training datasets (the rules live in rft.datasets)."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from rft import converters, datasets
from rft.cli import files
from rft.cli.common import (
    DEFAULT_ENVIRONMENT,
    EnvOption,
    JsonOption,
    ProfileOption,
    RegionOption,
    Scope,
    console,
    environment,
    err_console,
    plural,
    print_json,
    say,
    scoped,
    shown,
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
    # Spelled out rather than @scoped: --json comes first here, since a local file needs no --env.
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


def _print_report(report: datasets.DatasetReport, *, to: Console = console) -> None:
    """The problems table and the summary; ``to`` is stderr where stdout is a command's result."""
    if report.problems:
        table = Table("line", "field", "problem", title="Problems", title_justify="left")
        for problem in report.problems:
            table.add_row(
                "" if problem.line is None else str(problem.line),
                shown(problem.field),
                shown(problem.message),
            )
        to.print(table)
    style = "green" if report.ok else "red"
    to.print(f"[{style}]{shown(report.summary())}[/]")


SourceFile = Annotated[
    Path,
    typer.Argument(exists=True, dir_okay=False, help="The source JSONL (a .gz file is read as gzip)."),
]
TargetFile = Annotated[
    str, typer.Argument(help="Where to write the RFT JSONL; - writes to stdout.", show_default=False)
]
LimitOption = Annotated[
    int | None, typer.Option(min=1, help="Convert only the first N lines (e.g. a held-out set).")
]
ForceOption = Annotated[bool, typer.Option("--force", help="Overwrite TARGET if it exists.")]


def _convert(source: Path, target: str, to_record: converters.ToRecord, **options: Any) -> None:
    """Run one converter from ``source`` into ``target`` and say what was written (on stderr)."""
    limit, force, json_output = options["limit"], options["force"], options["json_output"]
    files.check_target(target, force=force)  # before reading anything
    opener = gzip.open if source.suffix == ".gz" else open
    with opener(source, "rb") as lines:
        converted = converters.convert(lines, to_record, source=f"{source}")
        count = files.write_lines(target, itertools.islice(converted, limit), force=force)
    where = "stdout" if target == files.STDOUT else target
    if json_output and target != files.STDOUT:
        print_json({"prompts": count, "output": where})
    else:
        say(f"Wrote {plural(count, 'prompt')} to {shown(where)}.")


@convert_app.command("gsm8k")
def convert_gsm8k(
    source: SourceFile,
    target: TargetFile,
    limit: LimitOption = None,
    id_prefix: Annotated[str, typer.Option(help="Prefix of each line's task_id.")] = "gsm8k",
    force: ForceOption = False,
    json_output: JsonOption = False,
) -> None:
    """Turn GSM8K lines (`question`, `answer`) into RFT JSONL for the math_answer grader.

    The prompt asks for a final line `#### <answer>`; the number after `####` in the dataset's
    answer becomes the reference_answer. Nothing is written if any line is bad.

    Example: rft data convert gsm8k gsm8k/train.jsonl train.jsonl
    """
    _convert(source, target, converters.gsm8k(id_prefix=id_prefix), **_flags(limit, force, json_output))


@convert_app.command("humaneval")
def convert_humaneval(
    source: SourceFile,
    target: TargetFile,
    limit: LimitOption = None,
    force: ForceOption = False,
    json_output: JsonOption = False,
) -> None:
    """Turn HumanEval problems (`prompt`, `entry_point`, `test`) into RFT JSONL for the code_tests grader.

    The prompt shows the function to complete; the reference is HumanEval's own `test`,
    `entry_point` and `prompt`, as the dataset has them (the canonical solution is left out).

    Example: rft data convert humaneval HumanEval.jsonl.gz code.jsonl
    """
    _convert(source, target, converters.humaneval(), **_flags(limit, force, json_output))


@convert_app.command("jsonl")
def convert_jsonl(
    source: SourceFile,
    target: TargetFile,
    prompt_field: Annotated[
        str,
        typer.Option(
            help="The field holding the prompt: a string, or a list of chat messages (a.b for nested)."
        ),
    ],
    reference_field: Annotated[
        str, typer.Option(help="The field holding the grader's reference answer (any JSON value).")
    ],
    id_field: Annotated[
        str | None, typer.Option(help="The field holding each line's task_id (default: numbered).")
    ] = None,
    system_prompt: Annotated[
        str | None, typer.Option(help="A system message to put before every prompt.")
    ] = None,
    id_prefix: Annotated[str, typer.Option(help="Prefix of numbered task_ids.")] = "task",
    limit: LimitOption = None,
    force: ForceOption = False,
    json_output: JsonOption = False,
) -> None:
    """Turn any JSONL into RFT JSONL by naming its prompt and reference fields.

    Example: rft data convert jsonl qa.jsonl train.jsonl --prompt-field question --reference-field answer
    """
    mapping = converters.FieldMapping(
        prompt_field=prompt_field,
        reference_field=reference_field,
        id_field=id_field,
        system_prompt=system_prompt,
        id_prefix=id_prefix,
    )
    _convert(source, target, converters.mapped(mapping), **_flags(limit, force, json_output))


def _flags(limit: int | None, force: bool, json_output: bool) -> dict[str, Any]:
    return {"limit": limit, "force": force, "json_output": json_output}


@app.command("upload")
@scoped
def upload(
    path: ExistingFile,
    *,
    scope: Scope,
) -> None:
    """Validate a dataset, then upload it to the environment's datasets bucket (SSE-KMS).

    The key holds the content's SHA-256, so uploading the same file again changes nothing. Prints
    the S3 URI to pass to 'rft train start --data'.

    Example: rft data upload train.jsonl --env staging
    """
    report = checked_for_upload(path)
    target = scope.environment()
    result = upload_dataset(target, path)
    result.update(prompts=report.prompts)
    if scope.json:
        print_json(result)
        return
    say(
        f"{'Uploaded' if result['uploaded'] else 'Already uploaded'}: {report.prompts:,} prompts "
        f"to environment {target.name!r}."
    )
    typer.echo(result["uri"])


def checked_for_upload(path: Path) -> datasets.DatasetReport:
    """The dataset's report; its problems are printed on stderr and raised (nothing is uploaded) if
    it has any, so stdout holds only the uploaded URI."""
    report = datasets.validate_file(path)
    if not report.ok:
        _print_report(report, to=err_console)
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
