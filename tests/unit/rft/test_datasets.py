import hashlib
import io
import json

import boto3
import pytest
from moto import mock_aws

from rft import datasets, recipes
from rft.converters import convert, gsm8k, gsm8k_answer
from rft.datasets import DatasetLimits, iter_lines, validate_bytes
from rft.errors import ValidationError
from tests.unit.rft.helpers import jsonl, record

SMALL = DatasetLimits(min_prompts=1, max_prompts=1000)


def problems_of(data: bytes, limits: DatasetLimits = SMALL):
    report = validate_bytes(data, limits=limits)
    return report, [(p.line, p.field, p.message) for p in report.problems]


def test_a_valid_dataset_passes_with_counts():
    data = jsonl(record(i) for i in range(150))
    report = validate_bytes(data)
    assert report.ok
    assert report.prompts == 150
    assert report.bytes == len(data)
    assert report.summary() == f"The dataset is valid: 150 prompts, {len(data):,} bytes."


def test_content_as_text_parts_and_extra_fields_are_accepted():
    line = record(
        1, messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}], difficulty="easy"
    )
    _, problems = problems_of(jsonl([line]))
    assert problems == []


@pytest.mark.parametrize(
    ("line", "field", "fragment"),
    [
        (b"{not json", "", "not valid JSON"),
        (b"[1, 2]", "", "must be a JSON object, not a list"),
        (json.dumps({"reference_answer": 1}).encode(), "messages", "is missing"),
        (json.dumps(record(messages=[])).encode(), "messages", "non-empty list"),
        (json.dumps(record(messages="hi")).encode(), "messages", "non-empty list"),
        (json.dumps(record(messages=["hi"])).encode(), "messages[0]", "must be an object"),
        (
            json.dumps(record(messages=[{"role": "tool", "content": "x"}])).encode(),
            "messages[0].role",
            "tool",
        ),
        (json.dumps(record(messages=[{"role": "user"}])).encode(), "messages[0].content", "is missing"),
        (
            json.dumps(record(messages=[{"role": "user", "content": " "}])).encode(),
            "messages[0].content",
            "empty",
        ),
        (
            json.dumps(record(messages=[{"role": "user", "content": 3}])).encode(),
            "messages[0].content",
            "string",
        ),
        (
            json.dumps(
                record(
                    messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]
                )
            ).encode(),
            "messages[0].content[0].type",
            "text only",
        ),
        (
            json.dumps(
                record(messages=[{"role": "user", "content": [{"type": "text", "text": 5}]}])
            ).encode(),
            "messages[0].content[0].text",
            "must be a string",
        ),
        (
            json.dumps(record(messages=[{"role": "user", "content": "q", "tool_calls": []}])).encode(),
            "messages[0]",
            "unexpected key 'tool_calls'",
        ),
        (
            json.dumps(
                record(messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}])
            ).encode(),
            "messages",
            "must end with a user turn",
        ),
        (
            json.dumps(
                record(messages=[{"role": "user", "content": "q"}, {"role": "system", "content": "s"}])
            ).encode(),
            "messages[1].role",
            "may only come first",
        ),
        (
            json.dumps({"messages": [{"role": "user", "content": "q"}]}).encode(),
            "reference_answer",
            "missing",
        ),
        (json.dumps(record(reference_answer=None)).encode(), "reference_answer", "is null"),
    ],
)
def test_each_problem_is_reported_with_its_line_and_field(line, field, fragment):
    data = jsonl([record(0)]) + line + b"\n" + jsonl([record(2)])
    report, problems = problems_of(data)
    assert not report.ok
    found = [p for p in problems if p[0] == 2 and p[1] == field]
    assert found, problems
    assert fragment in found[0][2]
    assert all(p[0] == 2 for p in problems)


def test_nan_and_deep_nesting_are_problems_not_crashes():
    deep = b"[" * 50_000 + b"]" * 50_000
    data = b'{"messages": [{"role": "user", "content": "q"}], "reference_answer": NaN}\n' + deep + b"\n"
    _, problems = problems_of(data, DatasetLimits(min_prompts=1, max_line_bytes=200_000))
    assert problems == [
        (1, "", "not valid JSON: NaN is not a JSON number"),
        (2, "", "not accepted: JSON nested deeper than 64 levels"),
    ]


def test_invalid_utf8_is_reported_with_its_line():
    data = jsonl([record(0)]) + b'{"messages": "\xff"}\n'
    _, problems = problems_of(data)
    assert problems[0][0] == 2
    assert "not valid UTF-8" in problems[0][2]


def test_a_byte_order_mark_gets_a_hint():
    _, problems = problems_of(b"\xef\xbb\xbf" + jsonl([record(0)]))
    assert problems[0][0] == 1 and "byte-order mark" in problems[0][2]


def test_blank_lines_are_skipped_but_keep_line_numbers():
    data = jsonl([record(0)]) + b"\n   \n" + b"{bad\n" + jsonl([record(1)])
    report, problems = problems_of(data)
    assert report.prompts == 3
    assert report.blank_lines == 2
    assert report.lines == 5
    assert [p[0] for p in problems] == [4]


def test_crlf_line_endings_and_a_missing_final_newline_are_fine():
    data = jsonl([record(0), record(1)]).replace(b"\n", b"\r\n").rstrip(b"\r\n")
    report = validate_bytes(data, limits=SMALL)
    assert report.ok and report.prompts == 2 and report.bytes == len(data)


def test_all_problems_are_counted_but_only_the_first_are_kept():
    data = b"".join(b"{bad\n" for _ in range(50))
    report = validate_bytes(data, limits=DatasetLimits(min_prompts=1, max_problems=20))
    assert report.problem_count == 50
    assert len(report.problems) == 20
    assert report.truncated
    assert [p.line for p in report.problems] == list(range(1, 21))
    assert "50 problems (showing the first 20)" in report.summary()
    with pytest.raises(ValidationError) as caught:
        report.raise_for_problems()
    assert caught.value.total == 50
    assert str(caught.value).startswith("The dataset has 50 problems; the first: line 1: not valid JSON")


def test_too_few_and_too_many_prompts():
    report = validate_bytes(jsonl(record(i) for i in range(99)))
    assert report.problems[0].field == "dataset"
    assert "99 prompts; a job needs at least 100" in report.problems[0].message
    report = validate_bytes(
        jsonl(record(i) for i in range(12)), limits=DatasetLimits(min_prompts=1, max_prompts=10)
    )
    assert "12 prompts; a job takes at most 10" in report.problems[0].message


def test_count_limits_are_inclusive():
    assert validate_bytes(jsonl(record(i) for i in range(100))).ok
    assert validate_bytes(
        jsonl(record(i) for i in range(5)), limits=DatasetLimits(min_prompts=5, max_prompts=5)
    ).ok


def test_an_empty_file_is_reported():
    report = validate_bytes(b"")
    assert report.prompts == 0 and not report.ok


def test_an_oversized_line_is_reported_without_being_buffered():
    limits = DatasetLimits(min_prompts=1, max_line_bytes=1000)
    big = json.dumps(record(1, padding="x" * 5000)).encode()
    data = jsonl([record(0)]) + big + b"\n" + jsonl([record(2)])
    report = validate_bytes(data, limits=limits)
    assert [(p.line, p.message) for p in report.problems] == [
        (2, f"line is {len(big):,} bytes; the limit is 1,000")
    ]
    assert report.prompts == 3


def test_lines_split_across_chunks_are_rejoined():
    data = jsonl(record(i) for i in range(30))
    lines = list(iter_lines(io.BytesIO(data), chunk_bytes=7))
    assert [line.data for line in lines] == data.rstrip(b"\n").split(b"\n")
    assert [line.number for line in lines] == list(range(1, 31))


def test_an_oversized_line_split_across_chunks_is_skipped():
    data = b"a" * 100 + b"\nshort\n" + b"b" * 50
    lines = list(iter_lines(io.BytesIO(data), max_line_bytes=20, chunk_bytes=8))
    assert [(line.number, line.data, line.size) for line in lines] == [
        (1, None, 100),
        (2, b"short", 5),
        (3, None, 50),
    ]
    assert not lines[-1].terminated


def test_total_size_limit_stops_reading():
    data = jsonl(record(i) for i in range(100))
    report = validate_bytes(data, limits=DatasetLimits(min_prompts=1, max_total_bytes=len(data) // 2))
    assert not report.complete
    assert report.problems[0].field == "dataset"
    assert "reading stopped at line" in report.problems[0].message


def test_a_text_stream_is_accepted():
    text = jsonl(record(i) for i in range(3)).decode()
    report = datasets.validate_stream(io.StringIO(text), limits=SMALL)
    assert report.ok and report.prompts == 3


def test_validate_file(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_bytes(jsonl(record(i) for i in range(100)))
    assert datasets.validate_file(path).ok


@mock_aws
def test_validate_streams_from_s3():
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="datasets")
    good = jsonl(record(i) for i in range(120))
    s3.put_object(Bucket="datasets", Key="train.jsonl", Body=good + b"{oops\n")
    report = datasets.validate_s3_object(s3, "s3://datasets/train.jsonl")
    assert report.prompts == 121
    assert [(p.line, p.field) for p in report.problems] == [(121, "")]
    assert report.to_dict()["problems"][0]["line"] == 121


def test_check_record_on_a_good_record():
    assert datasets.check_record(record(3)) == []


# --- GSM8K -----------------------------------------------------------------------------------------


def test_gsm8k_answer_extraction():
    assert gsm8k_answer("work\n#### 72") == "72"
    assert gsm8k_answer("work\n#### 1,234") == "1234"
    assert gsm8k_answer("#### -3.5") == "-3.5"
    assert gsm8k_answer("no marker 5") is None
    assert gsm8k_answer("#### seventy") is None


def test_convert_gsm8k_produces_valid_rft_lines():
    source = [
        json.dumps({"question": "Natalia sold 48 clips...", "answer": "48+24=72\n#### 72"}),
        "",
        json.dumps({"question": "Weng earns $12...", "answer": "#### 10"}).encode(),
    ]
    lines = list(convert(source, gsm8k(), source="The GSM8K input"))
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["reference_answer"] == {"answer": "72"}
    assert first["task_id"] == "gsm8k-00001"
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert "####" in first["messages"][0]["content"]
    assert first["messages"][1]["content"] == "Natalia sold 48 clips..."
    assert json.loads(lines[1])["task_id"] == "gsm8k-00002"
    report = validate_bytes("\n".join(lines), limits=SMALL)
    assert report.ok


def test_convert_gsm8k_reports_bad_lines_after_the_good_ones():
    source = [
        json.dumps({"question": "q", "answer": "#### 1"}),
        json.dumps({"question": "q", "answer": "no final answer"}),
        "{bad",
        json.dumps({"answer": "#### 2"}),
    ]
    produced = []
    with pytest.raises(ValidationError) as caught:
        for line in convert(source, gsm8k(), source="The GSM8K input"):
            produced.append(line)
    assert len(produced) == 1
    assert [(p.line, p.field) for p in caught.value.problems] == [(2, "answer"), (3, ""), (4, "question")]
    assert caught.value.total == 3


@pytest.mark.parametrize(
    "data",
    [
        jsonl(record(i) for i in range(5)),
        jsonl(record(i) for i in range(5)).rstrip(b"\n"),  # no final line break
        jsonl(record(i) for i in range(5)).replace(b"\n", b"\r\n") + b"\n\n",  # CRLF, blank lines
        b"x" * 300 + b"\n" + jsonl([record(1)]),  # an oversized line is skipped, not unhashed
        "é".encode() + b"\xff\n",  # bad UTF-8
        b"",
    ],
)
def test_the_validation_pass_digests_the_file_as_the_recipe_does(data):
    """The recipe pins a dataset by sha256, lines and bytes; the validation pass takes them, so
    the validate step reads each file once."""
    report = datasets.validate_stream(io.BytesIO(data), limits=DatasetLimits(max_line_bytes=200))
    assert report.complete
    assert recipes.report_digest(report) == recipes.digest_chunks([data])


def test_a_text_stream_is_digested_as_its_utf8_bytes():
    text = jsonl(record(i) for i in range(3)).decode() + '{"é": 1}\n'
    report = datasets.validate_stream(io.StringIO(text), limits=SMALL)
    assert report.sha256 == hashlib.sha256(text.encode()).hexdigest()


def test_a_file_read_only_in_part_has_no_digest():
    data = jsonl(record(i) for i in range(100))
    report = validate_bytes(data, limits=DatasetLimits(min_prompts=1, max_total_bytes=len(data) // 2))
    assert not report.complete and report.sha256 is None
    assert recipes.report_digest(report) is None
