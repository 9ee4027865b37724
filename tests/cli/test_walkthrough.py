"""The README walkthrough, end to end and offline: the same commands a user types, in order.

moto plays the deployed environment (stacks, buckets, SSM, the workflow stand-in executed by
Step Functions); the fake OpenAI-compatible server plays Mantle, answering for the base model
(right about half the time) and for the trained model (always right). The test does what the
workflow's Mantle steps would do while the run is in progress: write the per-step metrics and,
at the end, the model record.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.cli.conftest import workflow_definition, write_jsonl

TRAINED_ID = "ft:openai.gpt-oss-20b:gsm8k-v1"
QUESTION = re.compile(r"What is (\d+) plus (\d+)\?")


def _gsm8k(count: int, start: int = 0) -> list[dict[str, str]]:
    return [
        {
            "question": f"Tom has {a} apples. What is {a} plus {b}?",
            "answer": f"{a}+{b}=<<{a}+{b}={a + b}>>{a + b}\n#### {a + b}",
        }
        for a, b in ((start + i, 2 * (start + i) + 1) for i in range(count))
    ]


def _model(request: dict[str, Any], index: int) -> str:
    a, b = map(int, QUESTION.search(request["messages"][-1]["content"]).groups())
    right = request["model"] == TRAINED_ID or (a + index) % 2 == 0
    return f"{a} + {b} = {a + b if right else a + b + 1}\n#### {a + b if right else a + b + 1}"


def test_readme_walkthrough(rft, deployed, fake_openai, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_jsonl("gsm8k-train.jsonl", _gsm8k(120))
    write_jsonl("gsm8k-test.jsonl", _gsm8k(40, start=500))
    fake_openai.reply = _model
    deployed.set_workflow(workflow_definition(wait_seconds=1))

    # 1. Data: convert, validate, upload.
    assert rft("data", "convert", "gsm8k", "gsm8k-train.jsonl", "train.jsonl").exit_code == 0
    assert (
        rft("data", "convert", "gsm8k", "gsm8k-test.jsonl", "heldout.jsonl", "--limit", "30").exit_code == 0
    )
    validated = rft("data", "validate", "train.jsonl")
    assert validated.exit_code == 0 and "The dataset is valid: 120 prompts" in validated.stdout
    uploaded = rft("data", "upload", "train.jsonl", "--env", "staging")
    assert uploaded.exit_code == 0, uploaded.stderr
    uri = uploaded.stdout.strip()
    assert uri.startswith("s3://datasets-bucket/datasets/train-")

    # 2. Reward preflight: the base model earns some but not all of the reward.
    preflight = rft(
        "reward", "test", "--reward", "math_answer", "--data", "train.jsonl",
        "--sample-from", "openai.gpt-oss-20b", "-k", "4", "--env", "staging",
    )  # fmt: skip
    assert preflight.exit_code == 0, preflight.stderr
    assert "reward math_answer: 128 samples" in preflight.stdout  # 32 prompts x 4 rollouts
    assert "mean score 0.500" in preflight.stdout
    assert "all rollouts scored the same in 0 (0.0%)" in preflight.stdout

    # 3. Train: check the request (nothing started), start the workflow, then watch it to the end.
    checked = rft(
        "train", "start", "--env", "staging", "--name", "gsm8k-v1", "--base-model", "openai.gpt-oss-20b",
        "--data", uri, "--reward", "math_answer", "--hyperparameters", "epochCount=2", "--dry-run",
    )  # fmt: skip
    assert checked.exit_code == 0, checked.stderr
    assert "nothing was uploaded or started" in checked.stderr
    started = rft(
        "train", "start", "--env", "staging", "--name", "gsm8k-v1", "--base-model", "openai.gpt-oss-20b",
        "--data", uri, "--reward", "math_answer", "--hyperparameters", "epochCount=2",
    )  # fmt: skip
    assert started.exit_code == 0, started.stderr
    assert "rft train watch gsm8k-v1 --env staging" in started.stderr
    # What the workflow's Mantle steps write while the job runs and when it ends.
    metrics = "".join(
        json.dumps({"step": step, "total_steps": 10, "critic_rewards_mean": 0.5 + step * 0.04}) + "\n"
        for step in range(1, 11)
    )
    deployed.client("s3").put_object(
        Bucket="artifacts-bucket", Key="jobs/gsm8k-v1/metrics.jsonl", Body=metrics
    )
    fake_openai.add_job("ftjob-1", fine_tuned_model=TRAINED_ID, status="succeeded")
    deployed.put_model("gsm8k-v1", base_url=fake_openai.base_url, model_id=TRAINED_ID, job_id="ftjob-1")

    watched = rft("train", "watch", "gsm8k-v1", "--env", "staging", "--interval", "0.2")  # README: 60
    print("WATCH", watched.stdout, watched.stderr)
    assert watched.exit_code == 0, watched.stderr
    assert "Run gsm8k-v1: SUCCEEDED" in watched.stdout
    assert "step 10/10 · mean reward 0.900" in watched.stdout
    assert "Model gsm8k-v1 is ready" in watched.stdout
    request = json.loads(deployed.wait_for("gsm8k-v1")["input"])
    assert request["training_data"] == uri and request["hyperparameters"] == {"epochCount": 2}

    # 4. Chat with the trained model.
    chatted = rft("chat", "gsm8k-v1", "Tom has 3 apples. What is 3 plus 4?", "--env", "staging")
    assert chatted.exit_code == 0, chatted.stderr
    assert chatted.stdout == "3 + 4 = 7\n#### 7\n"

    # 5. Evaluate against the base model on held-out prompts; the summary lands in the registry.
    evaluated = rft(
        "eval", "gsm8k-v1", "--data", "heldout.jsonl", "--reward", "math_answer", "--env", "staging"
    )
    assert evaluated.exit_code == 0, evaluated.stderr
    print("EVAL", evaluated.stdout, evaluated.stderr, preflight.stdout, preflight.stderr)
    assert "Difference (trained - base): +0.500" in evaluated.stdout
    assert "the trained model is better" in evaluated.stdout
    report_uri = re.search(r"Report: (\S+)", evaluated.stderr).group(1)
    assert report_uri.startswith("s3://artifacts-bucket/evaluations/gsm8k-v1/")

    # 6. Promote it behind the prod alias (the evaluation is what allows it), and list the models.
    promoted = rft("models", "promote", "gsm8k-v1", "--alias", "prod", "--env", "staging")
    assert promoted.exit_code == 0, promoted.stderr
    listed = rft("models", "list", "--env", "staging", "--json").json()
    assert listed["models"][0]["aliases"] == ["prod"]
    assert listed["models"][0]["evaluation"]["mean_reward"] == 1.0
