"""RFT dataset rules: one JSON object per line, validated while streaming.

The validator reads any stream in fixed-size chunks (a file, a BytesIO, a boto3 S3
``StreamingBody``), never holds more than one line plus one chunk, collects every problem but keeps
only the first few with their line numbers, and reports the total. The same rules run in the
workflow's validate step, in ``rft data validate`` and before ``rft data upload``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rft import assumptions, strict_json
from rft.errors import Problem, ValidationError
from rft.quoting import kind as _json_type
from rft.quoting import quote

ROLES = ("system", "user", "assistant")
MESSAGE_KEYS = frozenset({"role", "content"})
PART_KEYS = frozenset({"type", "text"})

CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class DatasetLimits:
    """The limits a dataset must meet, in one place.

    - ``min_prompts``/``max_prompts``: the service's documented range per job (100 to 20,000).
    - ``max_line_bytes`` (our policy, 128 KiB): the grader receives each prompt again with every
      rollout; at the assumed ``GRADER_SAMPLES_PER_INVOCATION`` (16) a batch of the largest prompts
      stays near 2 MiB, leaving room for the rollouts under Lambda's 6 MB payload limit. It also keeps
      the validator's memory bounded on a file with no line breaks.
    - ``max_total_bytes``: the Mantle Files API's assumed per-file limit (512 MiB), applied to both
      planes so a dataset that passes can go to either.
    - ``max_problems``: how many problems a report keeps (the total is always counted).
    """

    min_prompts: int = 100
    max_prompts: int = 20_000
    max_line_bytes: int = 128 * 1024
    max_total_bytes: int = assumptions.MANTLE_MAX_FILE_BYTES
    max_problems: int = 20


DEFAULT_LIMITS = DatasetLimits()


@dataclass(frozen=True)
class DatasetReport:
    prompts: int  # non-blank lines
    lines: int  # lines read, blank ones included
    blank_lines: int
    bytes: int  # bytes read
    problems: tuple[Problem, ...]  # the first ``max_problems`` line problems, after dataset-level ones
    problem_count: int  # all problems found
    complete: bool = True  # False when reading stopped at the total size limit
    # sha256 (hex) of every byte read, when the whole stream was read: the recipe pins the file by
    # it, so the validate step reads each dataset once.
    sha256: str | None = None
    limits: DatasetLimits = field(default=DEFAULT_LIMITS, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def truncated(self) -> bool:
        return self.problem_count > len(self.problems)

    def summary(self) -> str:
        size = f"{self.prompts:,} prompts, {self.bytes:,} bytes"
        if self.ok:
            return f"The dataset is valid: {size}."
        more = f" (showing the first {len(self.problems)})" if self.truncated else ""
        return f"The dataset has {self.problem_count:,} problems{more}: {size}."

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "prompts": self.prompts,
            "lines": self.lines,
            "blank_lines": self.blank_lines,
            "bytes": self.bytes,
            "complete": self.complete,
            "problem_count": self.problem_count,
            "problems": [p.to_dict() for p in self.problems],
            "summary": self.summary(),
        }

    def raise_for_problems(self, what: str = "The dataset") -> None:
        if not self.ok:
            raise ValidationError(what, self.problems, self.problem_count)


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes | str: ...


class _HashingReader:
    """A stream that hashes the bytes read through it (a text stream's as UTF-8)."""

    def __init__(self, stream: _Readable) -> None:
        self._stream = stream
        self.digest = hashlib.sha256()

    def read(self, size: int = -1, /) -> bytes:
        chunk = self._stream.read(size)
        data = chunk.encode("utf-8") if isinstance(chunk, str) else chunk
        self.digest.update(data)
        return data


# --- Line splitting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    number: int  # 1-based
    data: bytes | None  # None when longer than the limit (its bytes were skipped, not kept)
    size: int  # bytes without the line break
    terminated: bool = True  # False for a last line with no line break after it


def iter_lines(
    stream: _Readable, *, max_line_bytes: int = DEFAULT_LIMITS.max_line_bytes, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[Line]:
    """Split a stream into lines in constant memory; a text stream is re-encoded as UTF-8.

    A line longer than ``max_line_bytes`` is yielded with ``data=None`` and its true size, so the
    caller can report it without the validator ever buffering it.
    """
    number = 0
    pending: list[bytes] = []
    pending_size = 0
    oversized = False
    while True:
        chunk = stream.read(chunk_bytes)
        if not chunk:
            break
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8")
        pieces = chunk.split(b"\n")
        for piece in pieces[:-1]:
            number += 1
            size = pending_size + len(piece)
            if oversized or size > max_line_bytes:
                yield Line(number, None, size)
            else:
                data = b"".join((*pending, piece)) if pending else piece
                yield Line(number, data, size)
            pending, pending_size, oversized = [], 0, False
        tail = pieces[-1]
        pending_size += len(tail)
        if oversized or pending_size > max_line_bytes:
            pending, oversized = [], True
        elif tail:
            pending.append(tail)
    if pending_size or oversized:
        number += 1
        yield Line(number, None if oversized else b"".join(pending), pending_size, terminated=False)


# --- Record rules --------------------------------------------------------------------------------


def check_record(record: object) -> list[tuple[str, str]]:
    """The problems of one parsed line as (field, message) pairs; empty when the record is valid."""
    if not isinstance(record, dict):
        return [("", f"must be a JSON object, not {_json_type(record)}")]
    problems: list[tuple[str, str]] = []
    messages = record.get("messages")
    if "messages" not in record:
        problems.append(("messages", "is missing (the chat prompt: a list of role/content messages)"))
    elif not isinstance(messages, list) or not messages:
        problems.append(("messages", f"must be a non-empty list, not {_json_type(messages)}"))
    else:
        for index, message in enumerate(messages):
            problems.extend(_check_message(index, message))
        last = messages[-1]
        if isinstance(last, dict) and last.get("role") in ROLES and last.get("role") != "user":
            problems.append(
                (
                    "messages",
                    "must end with a user turn (the model writes the answer); "
                    f"the last is {quote(last['role'])}",
                )
            )
    if "reference_answer" not in record:
        problems.append(("reference_answer", "is missing (the grader's ground truth, any JSON value)"))
    elif record["reference_answer"] is None:
        problems.append(("reference_answer", "is null (the grader needs a ground truth)"))
    return problems


def _check_message(index: int, message: object) -> list[tuple[str, str]]:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        return [(where, f"must be an object with role and content, not {_json_type(message)}")]
    problems: list[tuple[str, str]] = []
    extra = sorted(set(message) - MESSAGE_KEYS)
    if extra:
        problems.append(
            (where, f"unexpected key {quote(extra[0])} (only role and content; RFT data is text only)")
        )
    role = message.get("role")
    if not isinstance(role, str) or role not in ROLES:
        problems.append((f"{where}.role", f"must be one of {', '.join(ROLES)}, not {quote(role)}"))
    elif role == "system" and index > 0:
        problems.append((f"{where}.role", "a system message may only come first"))
    content = message.get("content")
    if "content" not in message:
        problems.append((f"{where}.content", "is missing"))
    elif isinstance(content, str):
        if not content.strip():
            problems.append((f"{where}.content", "is empty"))
    elif isinstance(content, list):
        if not content:
            problems.append((f"{where}.content", "is an empty list"))
        for part_index, part in enumerate(content):
            problems.extend(_check_part(f"{where}.content[{part_index}]", part))
    else:
        problems.append(
            (f"{where}.content", f"must be a string or a list of text parts, not {_json_type(content)}")
        )
    return problems


def _check_part(where: str, part: object) -> list[tuple[str, str]]:
    if not isinstance(part, dict):
        return [(where, f'must be {{"type": "text", "text": ...}}, not {_json_type(part)}')]
    if part.get("type") != "text":
        return [(f"{where}.type", f"text only: part type {quote(part.get('type'))} is not supported")]
    extra = sorted(set(part) - PART_KEYS)
    if extra:
        return [(where, f"unexpected key {quote(extra[0])} (a text part has only type and text)")]
    text = part.get("text")
    if not isinstance(text, str):
        return [(f"{where}.text", f"must be a string, not {_json_type(text)}")]
    if not text.strip():
        # The same rule as a string content: an empty prompt part is a mistake, not a prompt.
        return [(f"{where}.text", "is empty")]
    return []


# --- Validation ----------------------------------------------------------------------------------


def validate_stream(stream: _Readable, *, limits: DatasetLimits = DEFAULT_LIMITS) -> DatasetReport:
    """Validate a dataset read from a binary or text stream; never raises for bad data."""
    reader = _HashingReader(stream)
    kept: list[Problem] = []
    count = 0

    def add(problem: Problem) -> None:
        nonlocal count
        count += 1
        if len(kept) < limits.max_problems:
            kept.append(problem)

    prompts = blank = total = lines = 0
    complete = True
    for line in iter_lines(reader, max_line_bytes=limits.max_line_bytes):
        lines = line.number
        total += line.size + line.terminated
        if total > limits.max_total_bytes:
            complete = False
            break
        if line.data is None:
            prompts += 1
            add(
                Problem(
                    line.number, "", f"line is {line.size:,} bytes; the limit is {limits.max_line_bytes:,}"
                )
            )
            continue
        data = line.data[:-1] if line.data.endswith(b"\r") else line.data
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            prompts += 1
            add(
                Problem(
                    line.number, "", f"not valid UTF-8 (bad byte at position {exc.start + 1} of the line)"
                )
            )
            continue
        if not text.strip():
            blank += 1
            continue
        prompts += 1
        try:
            record = strict_json.loads(text)
        except strict_json.JsonInputError as exc:
            add(Problem(line.number, "", str(exc)))
            continue
        for field_name, message in check_record(record):
            add(Problem(line.number, field_name, message))
    dataset_problems = _dataset_problems(prompts, total, complete, lines, limits)
    return DatasetReport(
        prompts=prompts,
        lines=lines,
        blank_lines=blank,
        bytes=total,
        problems=tuple(dataset_problems) + tuple(kept),
        problem_count=count + len(dataset_problems),
        complete=complete,
        limits=limits,
        sha256=reader.digest.hexdigest() if complete else None,
    )


def _dataset_problems(
    prompts: int, total: int, complete: bool, lines: int, limits: DatasetLimits
) -> list[Problem]:
    problems = []
    if not complete:
        problems.append(
            Problem(
                None,
                "dataset",
                f"larger than {limits.max_total_bytes:,} bytes; reading stopped at line {lines:,}",
            )
        )
    if prompts < limits.min_prompts:
        problems.append(
            Problem(None, "dataset", f"has {prompts:,} prompts; a job needs at least {limits.min_prompts:,}")
        )
    elif prompts > limits.max_prompts:
        counted = "" if complete else " or more"
        problems.append(
            Problem(
                None,
                "dataset",
                f"has {prompts:,}{counted} prompts; a job takes at most {limits.max_prompts:,}",
            )
        )
    return problems


def validate_bytes(data: bytes | str, *, limits: DatasetLimits = DEFAULT_LIMITS) -> DatasetReport:
    import io

    raw = data.encode("utf-8") if isinstance(data, str) else data
    return validate_stream(io.BytesIO(raw), limits=limits)


def validate_file(path: str | os.PathLike[str], *, limits: DatasetLimits = DEFAULT_LIMITS) -> DatasetReport:
    with Path(path).open("rb") as stream:
        return validate_stream(stream, limits=limits)


def validate_s3_object(s3_client: Any, uri: str, *, limits: DatasetLimits = DEFAULT_LIMITS) -> DatasetReport:
    """Stream ``s3://bucket/key`` through the validator (GetObject errors propagate as botocore's)."""
    from rft.aws import parse_s3_uri

    location = parse_s3_uri(uri)
    body = s3_client.get_object(Bucket=location.bucket, Key=location.key)["Body"]
    try:
        return validate_stream(body, limits=limits)
    finally:
        body.close()


# --- The prompt of a record ----------------------------------------------------------------------


def ends_with_answer(messages: object) -> bool:
    """Whether `messages` ends with an assistant turn (a rollout, or a record with its answer)."""
    return (
        isinstance(messages, list)
        and bool(messages)
        and isinstance(messages[-1], dict)
        and messages[-1].get("role") == "assistant"
    )


def prompt_of(messages: list[Any]) -> list[Any]:
    """What the model is asked: the messages up to, not including, a final assistant turn."""
    return messages[:-1] if ends_with_answer(messages) else messages
