"""`rft reward test` (the preflight) and `rft eval`, with the real math_answer grader and the fake
OpenAI-compatible endpoint answering for the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rft import evaluation
from tests.cli.conftest import rft_records, write_jsonl


def _task_number(request: dict[str, Any]) -> int:
    text = request["messages"][-1]["content"]  # "Question 7: what is 9 * 2?"
    return int(text.split(":")[0].split()[-1])


def _answers(correct_every: int):
    """A model that answers prompt i correctly when i % correct_every == 0."""

    def reply(request: dict[str, Any], index: int) -> str:
        return "9 * 2 = 18\n#### 18" if _task_number(request) % correct_every == 0 else "#### 17"

    return reply


def test_reward_test_with_responses_file(rft, tmp_path: Path) -> None:
    data, responses = tmp_path / "data.jsonl", tmp_path / "responses.jsonl"
    write_jsonl(data, rft_records(4))
    write_jsonl(
        responses, [{"responses": ["#### 18", "#### 17"]}] * 3 + [{"responses": ["#### 18", "#### 18"]}]
    )
    outcome = rft(
        "reward",
        "test",
        "--reward",
        "math_answer",
        "--data",
        str(data),
        "--responses",
        str(responses),
        "--json",
    )
    assert outcome.exit_code == 0, outcome.stderr
    report = outcome.json()
    assert report["samples"] == 8 and report["mean"] == pytest.approx(5 / 8)
    assert (report["groups"], report["flat_groups"]) == (4, 1)
    assert report["contract_violations"] == 0

    text = rft(
        "reward", "test", "--reward", "math_answer", "--data", str(data), "--responses", str(responses)
    )
    assert "mean score 0.625" in text.stdout
    assert "all rollouts scored the same in 1 (25.0%)" in text.stdout


def test_reward_test_samples_from_a_base_model_through_the_api(
    rft, deployed, fake_openai, tmp_path: Path
) -> None:
    data, saved = tmp_path / "train.jsonl", tmp_path / "sampled.jsonl"
    write_jsonl(data, rft_records(40))
    fake_openai.reply = lambda request, index: "#### 18" if index % 2 == 0 else "#### 7"
    outcome = rft(
        "reward", "test", "--reward", "math_answer", "--data", str(data),
        "--sample-from", "openai.gpt-oss-20b", "-k", "4", "--limit", "10",
        "--save-responses", str(saved), "--json",
    )  # fmt: skip
    assert outcome.exit_code == 0, outcome.stderr
    report = outcome.json()
    assert report["samples"] == 40 and report["mean"] == 0.5
    assert report["groups"] == 10 and report["flat_groups"] == 0
    calls = fake_openai.requests_to("/v1/chat/completions")
    assert len(calls) == 10 and {c.body["n"] for c in calls} == {4}
    assert {c.body["model"] for c in calls} == {"openai.gpt-oss-20b"}
    sent = sorted(c.body["messages"][-1]["content"] for c in calls)  # concurrent: any order
    assert sent == sorted(r["messages"][-1]["content"] for r in rft_records(10))
    assert len(saved.read_text().splitlines()) == 10  # reusable with --responses

    again = rft(
        "reward", "test", "--reward", "math_answer", "--data", str(data),
        "--sample-from", "openai.gpt-oss-20b", "--save-responses", str(saved),
    )  # fmt: skip
    assert again.exit_code == 2 and "sampled.jsonl exists; pass --force" in again.stderr
    assert len(fake_openai.requests_to("/v1/chat/completions")) == 10  # refused before sampling


def test_reward_test_warns_when_there_is_no_signal(rft, deployed, fake_openai, tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    write_jsonl(data, rft_records(5))
    fake_openai.reply = lambda request, index: "#### 18"
    outcome = rft(
        "reward", "test", "-r", "math_answer", "-d", str(data), "--sample-from", "openai.gpt-oss-20b"
    )
    assert outcome.exit_code == 0, outcome.stderr
    assert "already earns almost all the reward" in outcome.stderr
    assert "100% of prompt groups scored the same" in outcome.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--reward", "nope"], "unknown reward 'nope'; available:"),
        ([], "holds prompts without answers: give --sample-from MODEL, --responses FILE or --gold"),
        (["--gold", "--sample-from", "x"], "give only one of --responses, --gold and --sample-from"),
    ],
)
def test_reward_test_errors(rft, tmp_path: Path, args: list[str], message: str) -> None:
    data = tmp_path / "train.jsonl"
    write_jsonl(data, rft_records(2))
    if "--reward" not in args:
        args = ["--reward", "math_answer", *args]
    outcome = rft("reward", "test", "--data", str(data), *args)
    assert outcome.exit_code == 2
    assert message in outcome.stderr


def test_eval_compares_trained_and_base_records_it_and_unlocks_promote(
    rft, deployed, fake_openai, tmp_path: Path
) -> None:
    deployed.put_model("gsm8k-v1", base_url=fake_openai.base_url, model_id="ft:gsm8k-v1")
    fake_openai.add_job("ftjob-1", fine_tuned_model="ft:gsm8k-v1", status="succeeded")
    trained, base = _answers(1), _answers(2)  # trained: all 20 right; base: every other one
    fake_openai.reply = lambda request, index: (trained if request["model"] == "ft:gsm8k-v1" else base)(
        request, index
    )
    heldout = tmp_path / "heldout.jsonl"
    write_jsonl(heldout, rft_records(20))

    outcome = rft(
        "eval", "gsm8k-v1", "--data", str(heldout), "--reward", "math_answer", "-o", str(tmp_path / "out")
    )
    assert outcome.exit_code == 0, outcome.stderr
    assert "Difference (trained - base): +0.500, 95% CI [" in outcome.stdout
    assert "the trained model is better" in outcome.stdout

    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert (report["trained"]["mean"], report["base"]["mean"], report["prompts"]) == (1.0, 0.5, 20)
    low, high = report["difference"]["ci95"]
    assert 0 < low < 0.5 < high <= 0.75
    assert (report["difference"]["wins"], report["difference"]["losses"]) == (10, 0)
    assert report["base_model"] == "openai.gpt-oss-20b" and report["trained_model"] == "ft:gsm8k-v1"
    assert (tmp_path / "out" / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    models = {c.body["model"] for c in fake_openai.requests_to("/v1/chat/completions")}
    assert models == {"ft:gsm8k-v1", "openai.gpt-oss-20b"}

    summary = deployed.registry().get_evaluation("gsm8k-v1")
    assert summary.mean_reward == 1.0 and summary.base_mean_reward == 0.5
    assert summary.ci95 == (low, high) and summary.report_uri == str(tmp_path / "out" / "report.json")
    assert rft("models", "promote", "gsm8k-v1", "--alias", "prod").exit_code == 0

    calls = len(fake_openai.requests_to("/v1/chat/completions"))
    again = rft(
        "eval", "gsm8k-v1", "--data", str(heldout), "--reward", "math_answer", "-o", str(tmp_path / "out")
    )
    assert again.exit_code == 2 and "report.json exists; pass --force" in again.stderr
    assert len(fake_openai.requests_to("/v1/chat/completions")) == calls  # refused before sampling


def test_eval_writes_to_the_artifacts_bucket_by_default(rft, deployed, fake_openai, tmp_path: Path) -> None:
    deployed.put_model("v1", base_url=fake_openai.base_url, model_id="openai.gpt-oss-20b")
    heldout = tmp_path / "heldout.jsonl"
    write_jsonl(heldout, rft_records(3))
    outcome = rft("eval", "v1", "--data", str(heldout), "--reward", "math_answer", "--json", "--no-record")
    assert outcome.exit_code == 0, outcome.stderr
    report = outcome.json()
    assert "per_prompt" not in report
    assert report["report_uri"].startswith(f"s3://{deployed.artifacts_bucket}/evaluations/v1/")
    key = report["report_uri"].split("/", 3)[3]
    stored = deployed.client("s3").get_object(Bucket=deployed.artifacts_bucket, Key=key)
    assert stored["ServerSideEncryption"] == "aws:kms"
    assert json.loads(stored["Body"].read())["difference"]["mean"] == 0.0
    assert deployed.registry().get_evaluation("v1") is None  # --no-record


def test_eval_refuses_a_bad_held_out_file_before_calling_models(
    rft, deployed, fake_openai, tmp_path: Path
) -> None:
    deployed.put_model("v1", base_url=fake_openai.base_url)
    heldout = tmp_path / "heldout.jsonl"
    write_jsonl(heldout, [{"messages": [{"role": "user", "content": "q"}]}])
    outcome = rft("eval", "v1", "--data", str(heldout), "--reward", "math_answer")
    assert outcome.exit_code == 1  # the held-out data checked is bad
    assert "line 1: reference_answer: is missing" in outcome.stderr
    assert fake_openai.requests_to("/v1/chat/completions") == []


def test_paired_statistics() -> None:
    prompts = [evaluation.PromptScores(f"t{i}", (1.0,), (0.0,) if i % 2 else (1.0,)) for i in range(40)]
    result = evaluation.compare(prompts)
    assert result["difference"]["mean"] == 0.5
    low, high = result["difference"]["ci95"]
    assert 0.3 < low < 0.5 < high < 0.7  # a binomial share of 20/40: about ±0.15
    assert evaluation.paired_bootstrap_ci([0.2, 0.2, 0.2]) == (pytest.approx(0.2), pytest.approx(0.2))
    counts = [b["count"] for b in evaluation.summarize([0.0, 0.05, 0.5, 1.0])["histogram"]]
    assert counts == [2, 0, 0, 0, 0, 1, 0, 0, 0, 1]
    assert evaluation.paired_bootstrap_ci([0.1, -0.3, 0.4]) == evaluation.paired_bootstrap_ci(
        [0.1, -0.3, 0.4]
    )


def test_a_response_without_an_answer_is_not_a_grader_failure(tmp_path: Path, rft) -> None:
    data, responses = tmp_path / "train.jsonl", tmp_path / "responses.jsonl"
    write_jsonl(data, rft_records(4))
    responses.write_text("".join(json.dumps(text) + "\n" for text in ["18", "I am not sure.", "", "18"]))
    outcome = rft("reward", "test", "-r", "math_answer", "-d", str(data), "--responses", str(responses))
    assert outcome.exit_code == 0, outcome.stderr
    assert "the model gave no answer the grader could read: 2" in outcome.stdout
    assert "the grader failed: 0" in outcome.stdout
    assert "grader errors" not in outcome.stderr and "held no answer" in outcome.stderr
    report = rft(
        "reward", "test", "-r", "math_answer", "-d", str(data), "--responses", str(responses), "--json"
    ).json()
    assert (report["no_answers"], report["grader_failures"]) == (2, 0)
