"""rft.preflight: run a grader locally and report what its scores would teach."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambda_rewards.common.contract import Grade, make_handler
from rft.preflight import (
    PreflightError,
    available_rewards,
    format_report,
    load_samples,
    main,
    run_preflight,
)
from tests.unit.rewards.conftest import make_sample


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def dataset_rows(count: int = 4) -> list[dict]:
    return [
        {
            "messages": [{"role": "user", "content": f"What is {i} + {i}?"}],
            "reference_answer": {"answer": str(2 * i)},
            "task_id": f"t{i}",
        }
        for i in range(count)
    ]


def test_report_figures_on_samples_in_event_shape():
    samples = []
    for prompt in range(4):
        for rollout, answer in enumerate(["#### 10", "#### 10", "#### 11", "no idea"]):
            good = prompt < 2  # prompts 0 and 1: every rollout right (a flat group)
            text = "#### 10" if good else answer
            samples.append(
                make_sample(text, "10", sample_id=f"{prompt}-{rollout}", prompt=f"question {prompt}")
            )
    report = run_preflight("math_answer", samples, batch_size=3)
    assert report.samples == 16
    assert report.mean == pytest.approx((8 + 2 * 2) / 16)
    assert report.groups == 4 and report.flat_groups == 2 and report.flat_group_share == 0.5
    assert report.errors == {"no_answer": 2} and report.timeouts == 0
    assert report.contract_violations == 0
    assert report.quantiles["p0"] == 0.0 and report.quantiles["p100"] == 1.0
    assert sum(bucket["count"] for bucket in report.histogram) == 16
    assert report.histogram[-1]["count"] == 12 and report.histogram[0]["count"] == 4
    assert report.samples_per_second > 0
    data = report.to_dict()
    json.dumps(data)
    assert data["error_count"] == 2
    text = format_report(report)
    assert "no learning signal" in text and "no answer no_answer: 2" in text


def test_dataset_lines_with_responses_file(tmp_path):
    data = write_jsonl(tmp_path / "data.jsonl", dataset_rows(3))
    responses = write_jsonl(
        tmp_path / "responses.jsonl",
        [{"responses": ["#### 0", "#### 1"]}, "The answer is 2.", {"response": "\\boxed{5}"}],
    )
    samples = list(load_samples(data, responses=responses))
    assert [s["id"] for s in samples] == ["line-1#0", "line-1#1", "line-2#0", "line-3#0"]
    assert samples[0]["metadata"]["task_id"] == "t0"
    assert samples[0]["messages"][-1] == {"role": "assistant", "content": "#### 0"}
    report = run_preflight("math_answer", samples)
    assert report.mean == pytest.approx(2 / 4)
    assert report.groups == 1 and report.flat_groups == 0


def test_gold_mode_checks_the_grader_gives_its_own_references_full_marks(tmp_path):
    data = write_jsonl(tmp_path / "data.jsonl", dataset_rows(5))
    report = run_preflight("math_answer", load_samples(data, gold=True))
    assert report.mean == 1.0 and report.full_share == 1.0


def test_timeouts_are_counted_against_a_short_simulated_deadline():
    import time

    def slow(sample, budget):
        time.sleep(0.02)
        return Grade(1.0)

    handler = make_handler(slow, reward_name="slow", defaults={"deadline_margin_s": 0.0})
    samples = [make_sample("x", "x", sample_id=str(i)) for i in range(10)]
    report = run_preflight("slow", samples, batch_size=10, deadline_seconds=0.05, handler=handler)
    assert report.timeouts >= 5
    assert report.samples == 10


def test_a_broken_grader_shows_as_contract_violations():
    def broken(event, context):
        return [{"id": "wrong", "aggregate_reward_score": 2.0, "metrics_list": []} for _ in event][:-1]

    report = run_preflight(
        "broken", [make_sample("x", "x", sample_id=str(i)) for i in range(3)], handler=broken
    )
    assert report.contract_violations == 3


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["not an object"], "data.jsonl:1: expected a JSON object"),
        ([{"reference_answer": "1"}], "data.jsonl:1: no 'messages' list"),
        (
            [{"messages": [{"role": "user", "content": "q"}], "reference_answer": "1"}],
            "--responses FILE or --gold",
        ),
    ],
)
def test_bad_input_names_the_file_and_line(tmp_path, rows, message):
    data = write_jsonl(tmp_path / "data.jsonl", rows)
    with pytest.raises(PreflightError, match=message.replace("(", r"\(").replace(")", r"\)")):
        list(load_samples(data))


def test_invalid_json_and_short_responses_are_reported(tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text('{"messages": []}\n{oops\n', encoding="utf-8")
    with pytest.raises(PreflightError, match=r"data.jsonl:2: not valid JSON"):
        list(load_samples(data, gold=True))
    good = write_jsonl(tmp_path / "good.jsonl", dataset_rows(2))
    responses = write_jsonl(tmp_path / "responses.jsonl", ["#### 0"])
    with pytest.raises(PreflightError, match="fewer lines"):
        list(load_samples(good, responses=responses))


def test_unknown_reward_lists_the_available_ones():
    assert {"math_answer", "json_schema", "llm_judge"} <= set(available_rewards())
    with pytest.raises(PreflightError, match=r"available: .*math_answer"):
        run_preflight("no_such_reward", [])
    with pytest.raises(PreflightError):
        run_preflight("../etc", [])


def test_a_grader_failing_the_whole_batch_is_a_preflight_error():
    from lambda_rewards.llm_judge.handler import make_judge_handler

    unconfigured = make_judge_handler(client_factory=object, environ={})
    with pytest.raises(PreflightError, match="JUDGE_MODEL_ID"):
        run_preflight("llm_judge", [make_sample("x", "y")], handler=unconfigured)


def test_command_line(tmp_path, capsys):
    data = write_jsonl(tmp_path / "data.jsonl", dataset_rows(3))
    assert main(["--reward", "math_answer", str(data), "--gold", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mean"] == 1.0 and report["samples"] == 3
    assert main(["--reward", "math_answer", str(data)]) == 2
    assert "--responses" in capsys.readouterr().err
