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
    assert outcome.exit_code == 2
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
    assert outcome.exit_code == 2
    assert "not uploaded" in outcome.stderr and "at least 100" in outcome.stderr
    assert deployed.client("s3").list_objects_v2(Bucket=deployed.datasets_bucket)["KeyCount"] == 0
