"""`rft data validate | convert gsm8k | upload`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import rft_records, write_jsonl

GSM8K = [
    {"question": "Janet has 16 eggs and eats 3. How many are left?", "answer": "16 - 3 = 13\n#### 13"},
    {"question": "A robe takes 2 bolts of blue fiber and half that much white.", "answer": "2+1=3\n#### 3"},
    {"question": "Josh earns $1,200 a week. How much in 2 weeks?", "answer": "#### 2,400"},
]


def test_validate_accepts_a_good_dataset(tmp_path: Path, rft) -> None:
    path = tmp_path / "train.jsonl"
    write_jsonl(path, rft_records(120))
    outcome = rft("data", "validate", str(path))
    assert outcome.exit_code == 0
    assert "The dataset is valid: 120 prompts" in outcome.stdout


def test_validate_reports_every_problem_with_its_line_and_exits_1(tmp_path: Path, rft) -> None:
    records = rft_records(100)
    records[4] = {"messages": [{"role": "user", "content": "q"}]}  # line 5: no reference
    path = tmp_path / "train.jsonl"
    write_jsonl(path, records)
    with path.open("a") as out:
        out.write("{not json\n")  # line 101
    outcome = rft("data", "validate", str(path), "--json")
    assert outcome.exit_code == 1
    report = outcome.json()
    assert report["ok"] is False
    assert {(p["line"], p["field"]) for p in report["problems"]} == {(5, "reference_answer"), (101, "")}

    table = rft("data", "validate", str(path))
    assert table.exit_code == 1
    assert "reference_answer" in table.stdout and "101" in table.stdout


def test_validate_reads_an_s3_uri_with_the_environments_credentials(tmp_path: Path, deployed, rft) -> None:
    body = "".join(json.dumps(r) + "\n" for r in rft_records(100))
    deployed.client("s3").put_object(Bucket=deployed.datasets_bucket, Key="datasets/x.jsonl", Body=body)
    outcome = rft("data", "validate", f"s3://{deployed.datasets_bucket}/datasets/x.jsonl", "--json")
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.json()["prompts"] == 100


def test_validate_of_a_missing_file_is_a_usage_error(tmp_path: Path, rft) -> None:
    outcome = rft("data", "validate", str(tmp_path / "nope.jsonl"))
    assert outcome.exit_code == 2
    assert "is not a file" in outcome.stderr


def test_convert_gsm8k_writes_rft_jsonl_with_a_checkable_answer(tmp_path: Path, rft) -> None:
    source, target = tmp_path / "gsm8k.jsonl", tmp_path / "out" / "train.jsonl"
    write_jsonl(source, GSM8K)
    outcome = rft("data", "convert", "gsm8k", str(source), str(target))
    assert outcome.exit_code == 0, outcome.stderr
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [line["reference_answer"] for line in lines] == [
        {"answer": "13"},
        {"answer": "3"},
        {"answer": "2400"},
    ]
    assert lines[0]["messages"][-1] == {"role": "user", "content": GSM8K[0]["question"]}
    assert "####" in lines[0]["messages"][0]["content"]  # the prompt asks for the checkable form
    assert "Wrote 3 prompts" in outcome.stderr


def test_convert_gsm8k_limit_takes_the_first_n(tmp_path: Path, rft) -> None:
    source, target = tmp_path / "gsm8k.jsonl", tmp_path / "heldout.jsonl"
    write_jsonl(source, GSM8K)
    assert rft("data", "convert", "gsm8k", str(source), str(target), "--limit", "2").exit_code == 0
    assert len(target.read_text().splitlines()) == 2


def test_convert_gsm8k_writes_nothing_when_a_line_is_bad(tmp_path: Path, rft) -> None:
    source, target = tmp_path / "gsm8k.jsonl", tmp_path / "train.jsonl"
    write_jsonl(source, [*GSM8K, {"question": "no answer", "answer": "it is 4"}])
    outcome = rft("data", "convert", "gsm8k", str(source), str(target))
    assert outcome.exit_code == 1  # the input checked is bad
    assert "line 4" in outcome.stderr and "answer" in outcome.stderr
    assert not target.exists()
    assert list(tmp_path.iterdir()) == [source]  # no temporary file left behind


def test_upload_validates_uploads_with_kms_and_is_idempotent(tmp_path: Path, deployed, rft) -> None:
    path = tmp_path / "my train.jsonl"
    write_jsonl(path, rft_records(100))
    first = rft("data", "upload", str(path), "--env", "staging")
    assert first.exit_code == 0, first.stderr
    uri = first.stdout.strip()
    assert uri.startswith(f"s3://{deployed.datasets_bucket}/datasets/my-train-")
    key = uri.split("/", 3)[3]
    head = deployed.client("s3").head_object(Bucket=deployed.datasets_bucket, Key=key)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == deployed.key_arn

    again = rft("data", "upload", str(path), "--json")
    assert again.exit_code == 0
    result = again.json()
    assert result["uri"] == uri and result["uploaded"] is False and result["prompts"] == 100


def test_upload_refuses_an_invalid_dataset_and_uploads_nothing(tmp_path: Path, deployed, rft) -> None:
    path = tmp_path / "small.jsonl"
    write_jsonl(path, rft_records(10))
    outcome = rft("data", "upload", str(path))
    assert outcome.exit_code == 1  # invalid data, as the help says
    assert "not uploaded" in outcome.stderr and "at least 100" in outcome.stderr
    assert outcome.stdout == ""  # URI=$(rft data upload ...) captures nothing but a URI
    assert deployed.client("s3").list_objects_v2(Bucket=deployed.datasets_bucket)["KeyCount"] == 0


def test_upload_prints_every_problem_on_stderr(tmp_path: Path, deployed, rft) -> None:
    records = rft_records(120)
    records[6] = {"messages": [{"role": "user", "content": "q"}]}
    path = tmp_path / "bad.jsonl"
    write_jsonl(path, records)
    outcome = rft("data", "upload", str(path))
    assert outcome.exit_code == 1
    assert outcome.stdout == ""
    assert "reference_answer" in outcome.stderr and "7" in outcome.stderr


def test_convert_says_one_prompt_in_the_singular(tmp_path: Path, rft) -> None:
    source, target = tmp_path / "gsm8k.jsonl", tmp_path / "one.jsonl"
    write_jsonl(source, GSM8K[:1])
    outcome = rft("data", "convert", "gsm8k", str(source), str(target))
    assert "Wrote 1 prompt to" in outcome.stderr


def test_convert_to_stdout_writes_only_the_lines(tmp_path: Path, rft) -> None:
    source = tmp_path / "gsm8k.jsonl"
    write_jsonl(source, GSM8K)
    outcome = rft("data", "convert", "gsm8k", str(source), "-")
    assert outcome.exit_code == 0, outcome.stderr
    lines = [json.loads(line) for line in outcome.stdout.splitlines()]
    assert [line["reference_answer"]["answer"] for line in lines] == ["13", "3", "2400"]
    assert "Wrote 3 prompts to stdout" in outcome.stderr


def test_convert_to_stdout_prints_nothing_when_a_line_is_bad(tmp_path: Path, rft) -> None:
    source = tmp_path / "gsm8k.jsonl"
    write_jsonl(source, [*GSM8K, {"question": "q", "answer": "none"}])
    outcome = rft("data", "convert", "gsm8k", str(source), "-")
    assert outcome.exit_code == 1
    assert outcome.stdout == ""


def test_convert_does_not_overwrite_without_force(tmp_path: Path, rft) -> None:
    source, target = tmp_path / "gsm8k.jsonl", tmp_path / "train.jsonl"
    write_jsonl(source, GSM8K)
    target.write_text("keep me\n")
    refused = rft("data", "convert", "gsm8k", str(source), str(target))
    assert refused.exit_code == 2
    assert "exists; pass --force" in refused.stderr
    assert target.read_text() == "keep me\n"
    forced = rft("data", "convert", "gsm8k", str(source), str(target), "--force")
    assert forced.exit_code == 0, forced.stderr
    assert len(target.read_text().splitlines()) == 3


def test_convert_output_respects_the_umask(tmp_path: Path, rft) -> None:
    import os

    source, target = tmp_path / "gsm8k.jsonl", tmp_path / "train.jsonl"
    write_jsonl(source, GSM8K)
    previous = os.umask(0o022)
    try:
        assert rft("data", "convert", "gsm8k", str(source), str(target)).exit_code == 0
    finally:
        os.umask(previous)
    assert target.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600


def test_convert_humaneval_keeps_the_tests_as_they_are(tmp_path: Path, rft) -> None:
    import gzip

    problem = {
        "task_id": "HumanEval/0",
        "prompt": 'def add(a, b):\n    """Add two numbers."""\n',
        "entry_point": "add",
        "canonical_solution": "    return a + b\n",
        "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n",
    }
    source, target = tmp_path / "HumanEval.jsonl.gz", tmp_path / "code.jsonl"
    with gzip.open(source, "wt", encoding="utf-8") as out:
        out.write(json.dumps(problem) + "\n")
    outcome = rft("data", "convert", "humaneval", str(source), str(target))
    assert outcome.exit_code == 0, outcome.stderr
    [line] = [json.loads(text) for text in target.read_text().splitlines()]
    assert line["task_id"] == "HumanEval/0"
    assert line["reference_answer"] == {key: problem[key] for key in ("prompt", "entry_point", "test")}
    assert "return a + b" not in json.dumps(line)  # the model never sees the solution
    assert "def add(a, b):" in line["messages"][-1]["content"]


def test_convert_jsonl_maps_named_fields(tmp_path: Path, rft) -> None:
    source, target = tmp_path / "qa.jsonl", tmp_path / "train.jsonl"
    write_jsonl(
        source,
        [
            {"q": "Capital of France?", "meta": {"gold": "Paris"}, "id": 7},
            {"q": "Capital of Peru?", "meta": {"gold": "Lima"}, "id": 8},
        ],
    )
    outcome = rft(
        "data", "convert", "jsonl", str(source), str(target),
        "--prompt-field", "q", "--reference-field", "meta.gold", "--id-field", "id",
    )  # fmt: skip
    assert outcome.exit_code == 0, outcome.stderr
    lines = [json.loads(text) for text in target.read_text().splitlines()]
    assert [(line["task_id"], line["reference_answer"]) for line in lines] == [("7", "Paris"), ("8", "Lima")]
    assert lines[0]["messages"] == [{"role": "user", "content": "Capital of France?"}]


def test_convert_jsonl_names_the_missing_field_and_line(tmp_path: Path, rft) -> None:
    source, target = tmp_path / "qa.jsonl", tmp_path / "train.jsonl"
    write_jsonl(source, [{"q": "a?", "answer": "b"}, {"question": "c?", "answer": "d"}])
    outcome = rft(
        "data",
        "convert",
        "jsonl",
        str(source),
        str(target),
        "--prompt-field",
        "q",
        "--reference-field",
        "answer",
    )
    assert outcome.exit_code == 1
    assert "line 2: q: has no field 'q'" in outcome.stderr
    assert not target.exists()
