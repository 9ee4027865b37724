"""Hostile dataset lines: each class is a problem on its line (never a crash), bounded in size."""

import json

import pytest

from rft.converters import convert, gsm8k, gsm8k_answer
from rft.datasets import DatasetLimits, validate_bytes
from rft.errors import PROBLEM_FIELD_CHARS, PROBLEM_MESSAGE_CHARS, ValidationError

SMALL = DatasetLimits(min_prompts=1, max_line_bytes=1_000_000)
GOOD = {"messages": [{"role": "user", "content": "What is 1 + 1?"}], "reference_answer": "2"}


def line(**overrides) -> bytes:
    return json.dumps({**GOOD, **overrides}).encode() + b"\n"


def only_problem(data: bytes) -> tuple[str, str]:
    report = validate_bytes(data, limits=SMALL)
    assert report.problem_count == 1, report.problems
    return report.problems[0].field, report.problems[0].message


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (
            b'{"messages": [{"role": "user", "content": "q"}], "reference_answer": ' + b"7" * 5000 + b"}\n",
            "5,000-digit",
        ),
        (b'{"messages": [{"role": "user", "content": "q"}], "reference_answer": 1e400}\n', "too large"),
        (
            b'{"messages": [{"role": "user", "content": "q"}], "reference_answer": 1, '
            b'"reference_answer": 2}\n',
            "appears twice",
        ),
        (
            b'{"messages": [{"role": "user", "content": "\\udc80"}], "reference_answer": 1}\n',
            "lone surrogate",
        ),
        (b'{"reference_answer": ' + b"[" * 200 + b"]" * 200 + b', "messages": []}\n', "nested deeper"),
    ],
)
def test_lines_a_lenient_parser_would_accept_are_problems(data, fragment):
    _, message = only_problem(data)
    assert fragment in message


def test_an_empty_text_part_is_refused_like_empty_content():
    content = [{"type": "text", "text": "Solve:"}, {"type": "text", "text": "  "}]
    field, message = only_problem(line(messages=[{"role": "user", "content": content}]))
    assert (field, message) == ("messages[0].content[1].text", "is empty")


@pytest.mark.parametrize("role", [["user"], {"a": 1}, "x" * 120_000, 7, None])
def test_a_hostile_role_is_one_short_problem(role):
    field, message = only_problem(
        line(messages=[{"role": role, "content": "q"}, {"role": "user", "content": "q"}])
    )
    assert field == "messages[0].role"
    assert len(message) < 200


def test_problems_are_bounded_whatever_the_input():
    long_key = "k" * 200_000
    data = b"".join(
        [
            line(**{long_key: 1}),  # an unknown top-level key is allowed; inside a message it is not
            line(messages=[{"role": "user", "content": "q", long_key: 1}]),
            line(messages=[{"role": "user", "content": [{"type": "t" * 100_000, "text": "q"}]}]),
        ]
    )
    report = validate_bytes(data, limits=SMALL)
    assert report.problem_count == 2
    for problem in report.problems:
        assert len(problem.field) <= PROBLEM_FIELD_CHARS
        assert len(problem.message) <= PROBLEM_MESSAGE_CHARS
    assert len(json.dumps(report.to_dict())) < 2_000


# Arabic-Indic, fullwidth, Devanagari and mixed digits: \d matches each of them.
@pytest.mark.parametrize(
    "answer", ["#### \u0664\u0662", "#### \uff14\uff12", "#### \u096a\u0968", "#### 4\uff12"]
)
def test_gsm8k_answers_must_be_ascii_digits(answer):
    assert gsm8k_answer(answer) is None
    with pytest.raises(ValidationError, match="must end with '#### <number>'"):
        list(convert_gsm8k([json.dumps({"question": "q?", "answer": answer})]))


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (json.dumps({"question": "  \n", "answer": "#### 4"}), "question: needs a non-empty string"),
        (b'{"question": "q", "answer": "#### 4", "answer": "#### 5"}', "appears twice"),
        (b'{"question": "\xff", "answer": "#### 4"}', "not valid UTF-8"),
        (b'{"question": "\\ud800", "answer": "#### 4"}', "lone surrogate"),
        (b"[" * 5000 + b"]" * 5000, "nested deeper"),
        (b'{"question": "q", "answer": "#### 4", "n": ' + b"1" * 4400 + b"}", "4,400-digit"),
    ],
)
def test_gsm8k_convert_refuses_hostile_lines_with_their_number(raw, fragment):
    with pytest.raises(ValidationError) as caught:
        list(convert_gsm8k([json.dumps({"question": "q?", "answer": "#### 1"}), raw]))
    assert caught.value.problems[0].line == 2
    assert fragment in str(caught.value.problems[0])


def convert_gsm8k(lines):
    return convert(lines, gsm8k(), source="The GSM8K input")
