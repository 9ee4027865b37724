"""Public datasets and any JSONL into RFT JSONL: GSM8K, HumanEval, and a generic field mapping.

Every converter is one function from a source line (a JSON object) to an RFT record, run by the
same loop (``convert``): blank lines are skipped, each produced record is checked with the dataset
rules (``rft.datasets.check_record``), and bad lines are collected and raised together, with their
line numbers, once the input is exhausted, so a caller writing to a temporary file keeps nothing
from a bad input.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from rft import strict_json
from rft.datasets import check_record
from rft.errors import Problem, ValidationError
from rft.quoting import kind, quote

MAX_PROBLEMS = 20


class SourceProblem(ValueError):
    """A source line cannot be converted: ``field`` names the source field, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# A source line (already parsed) and its index among good lines (1-based) -> one RFT record.
ToRecord = Callable[[Mapping[str, Any], int], dict[str, Any]]


def convert(lines: Iterable[str | bytes], to_record: ToRecord, *, source: str) -> Iterator[str]:
    """RFT JSONL lines (without line breaks) from ``lines``; ``source`` names the input in errors."""
    problems: list[Problem] = []
    count = 0
    index = 0
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = _record(raw, to_record, index + 1)
        except SourceProblem as problem:
            count += 1
            if len(problems) < MAX_PROBLEMS:
                problems.append(Problem(number, problem.field, str(problem)))
            continue
        index += 1
        yield json.dumps(record, ensure_ascii=False)
    if problems:
        raise ValidationError(source, problems, count)


def _record(raw: str | bytes, to_record: ToRecord, index: int) -> dict[str, Any]:
    try:
        # Bytes are decoded strictly: a line that is not UTF-8 is refused, not silently altered.
        item = strict_json.loads(raw)
    except strict_json.JsonInputError as exc:
        raise SourceProblem("", str(exc)) from None
    if not isinstance(item, dict):
        raise SourceProblem("", f"a line must be a JSON object, not {kind(item)}")
    record = to_record(item, index)
    checked = check_record(record)  # the dataset rules: what is written is what upload accepts
    if checked:
        field, message = checked[0]
        raise SourceProblem(field, f"the converted line would be invalid: {field} {message}")
    return record


def _string(item: Mapping[str, Any], field: str, what: str) -> str:
    value = item.get(field)
    if not isinstance(value, str) or not value.strip():
        raise SourceProblem(field, f"needs a non-empty string {quote(field)} ({what})")
    return value


def _messages(system: str | None, user: str) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": user}]


# --- GSM8K --------------------------------------------------------------------------------------

GSM8K_SYSTEM_PROMPT = (
    "You are a careful math tutor. Solve the problem step by step. "
    "End your response with a final line of the form '#### <answer>', where <answer> is the final "
    "numeric answer only: no units, no commas, no other text on that line."
)
# ASCII digits only: `\d` also matches Arabic-Indic, Devanagari, fullwidth... digits, which a grader
# comparing with the model's '#### 42' would not read as the same number.
_FINAL_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def gsm8k_answer(solution: str) -> str | None:
    """The final answer of a GSM8K solution (the number after the last ``####``), normalized."""
    if "####" not in solution:
        return None
    final = solution.rsplit("####", 1)[1].strip().replace(",", "").replace("$", "")
    return final if _FINAL_NUMBER.fullmatch(final) else None


def gsm8k(*, id_prefix: str = "gsm8k") -> ToRecord:
    """GSM8K ``{"question", "answer"}``: the number after ``####`` is the reference answer."""

    def to_record(item: Mapping[str, Any], index: int) -> dict[str, Any]:
        question = _string(item, "question", "the problem")
        solution = item.get("answer")
        answer = gsm8k_answer(solution) if isinstance(solution, str) else None
        if answer is None:
            raise SourceProblem("answer", "a GSM8K answer must end with '#### <number>'")
        return {
            "messages": _messages(GSM8K_SYSTEM_PROMPT, question.strip()),
            "reference_answer": {"answer": answer},
            "task_id": f"{id_prefix}-{index:05d}",
        }

    return to_record


# --- HumanEval ----------------------------------------------------------------------------------

HUMANEVAL_SYSTEM_PROMPT = (
    "You are an expert Python programmer. Complete the function below. Answer with the complete "
    "function (its signature, the imports it needs and its body) in one ```python code block; "
    "the block is run against hidden tests, so print nothing and read no input."
)
HUMANEVAL_FIELDS = ("prompt", "entry_point", "test")


def humaneval(*, id_prefix: str = "humaneval") -> ToRecord:
    """HumanEval ``{"task_id", "prompt", "entry_point", "test"}``: the reference is the code_tests
    grader's HumanEval form as the dataset gives it (``test`` with ``check(candidate)``,
    ``entry_point``, and the ``prompt`` whose helpers some tests use); the canonical solution is
    left out, so the model never sees an answer."""

    def to_record(item: Mapping[str, Any], index: int) -> dict[str, Any]:
        prompt, entry, test = (_string(item, field, "HumanEval") for field in HUMANEVAL_FIELDS)
        if not entry.isidentifier():
            raise SourceProblem("entry_point", f"{quote(entry)} is not a Python function name")
        if "def check(" not in test:
            raise SourceProblem("test", "defines no check(candidate) function")
        task = item.get("task_id")
        task_id = (
            str(task) if isinstance(task, str | int) and str(task).strip() else f"{id_prefix}-{index:05d}"
        )
        return {
            "messages": _messages(HUMANEVAL_SYSTEM_PROMPT, f"```python\n{prompt.rstrip()}\n```"),
            "reference_answer": {"prompt": prompt, "entry_point": entry, "test": test},
            "task_id": task_id,
        }

    return to_record


# --- any JSONL: a field mapping -----------------------------------------------------------------


@dataclass(frozen=True)
class FieldMapping:
    """Which source fields hold the prompt, the reference answer and (optionally) the task id.

    A field is a key, or a dotted path into nested objects (``meta.answer``). The prompt field holds
    a string (the user's turn) or a list of chat messages; the reference is any JSON value.
    """

    prompt_field: str
    reference_field: str
    id_field: str | None = None
    system_prompt: str | None = None
    id_prefix: str = "task"


def field_value(item: Mapping[str, Any], path: str) -> Any:
    """``item[path]`` (a key with dots is tried whole first), else the dotted path; raises
    SourceProblem naming the path when it is missing."""
    if path in item:
        return item[path]
    value: Any = item
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise SourceProblem(path, f"has no field {quote(path)}")
        value = value[part]
    return value


def mapped(mapping: FieldMapping) -> ToRecord:
    def to_record(item: Mapping[str, Any], index: int) -> dict[str, Any]:
        prompt = field_value(item, mapping.prompt_field)
        if isinstance(prompt, str) and prompt.strip():
            messages: list[Any] = _messages(mapping.system_prompt, prompt)
        elif isinstance(prompt, list) and prompt:
            system = [{"role": "system", "content": mapping.system_prompt}] if mapping.system_prompt else []
            messages = [*system, *prompt]
        else:
            raise SourceProblem(
                mapping.prompt_field, "the prompt must be a non-empty string or a list of chat messages"
            )
        reference = field_value(item, mapping.reference_field)
        if reference is None:
            raise SourceProblem(mapping.reference_field, "the reference answer is null")
        task_id = f"{mapping.id_prefix}-{index:05d}"
        if mapping.id_field is not None:
            task = field_value(item, mapping.id_field)
            if not isinstance(task, str | int) or isinstance(task, bool) or not str(task).strip():
                raise SourceProblem(mapping.id_field, "the task id must be a non-empty string or an integer")
            task_id = str(task)
        return {"messages": messages, "reference_answer": reference, "task_id": task_id}

    return to_record
