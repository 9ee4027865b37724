"""The guard's part of the watch step: notify once per finding code, stop only with auto_stop, the
metrics read from where each plane publishes them, and their CloudWatch (EMF) records."""

from __future__ import annotations

import json

import pytest

from rft import guard
from rft.health import Assessment, Code, Finding, Verdict, assess
from rft.workflow_state import GUARD_FIELDS
from tests.unit.rft.helpers import s3_with_buckets
from tests.unit.rft.test_health import published, run


def zero_reward_run(steps=30):
    return run(lambda t: 0.0, noise=0.0, steps=steps)


def test_guard_state_has_the_keys_the_workflow_selects():
    assert tuple(guard.initial_state()) == GUARD_FIELDS


def test_guard_healthy_run_sends_nothing_and_never_stops():
    state = guard.decide(assess(run(published)), run="r", sent=[], auto_stop=True, last_step=100)
    assert (state.verdict, state.notify, state.stop, state.sent) == ("healthy", False, False, ())
    assert state.last_step == 100


def test_guard_warns_once_per_finding_code():
    warn = Assessment(Verdict.WARN, (Finding(Code.NO_LEARNING, "flat for 40 steps", 40),), steps=40)
    first = guard.decide(warn, run="r", sent=[], auto_stop=True, last_step=40)
    assert first.notify and "[no_learning] step 40: flat for 40 steps" in first.message
    assert first.sent == ("no_learning",)
    again = guard.decide(warn, run="r", sent=first.sent, auto_stop=True, last_step=41)
    assert (again.notify, again.message, again.sent) == (False, "", ("no_learning",))
    # A new code later is sent, alone.
    both = Assessment(
        Verdict.WARN, (Finding(Code.NO_LEARNING, "flat", 50), Finding(Code.GRAD_NORM_SPIKE, "spike", 50))
    )
    later = guard.decide(both, run="r", sent=again.sent, auto_stop=True, last_step=50)
    assert later.notify and "grad_norm_spike" in later.message and "no_learning" not in later.message
    assert later.sent == ("no_learning", "grad_norm_spike")


def test_guard_stop_stops_with_the_findings_as_cause():
    assessment = assess(zero_reward_run())
    assert assessment.verdict is Verdict.STOP
    state = guard.decide(assessment, run="math-7", sent=[], auto_stop=True, last_step=30)
    assert state.stop and not state.notify
    assert state.cause.startswith("The training health guard stopped run math-7 after 30 steps:")
    assert "[reward_zero]" in state.cause


def test_guard_without_auto_stop_notifies_instead_of_stopping():
    state = guard.decide(assess(zero_reward_run()), run="r", sent=[], auto_stop=False, last_step=30)
    assert not state.stop and state.verdict == "stop" and state.notify
    assert "training.auto_stop is false" in state.message and "[reward_zero]" in state.message


def test_guard_texts_are_bounded():
    long = Assessment(Verdict.STOP, tuple(Finding(Code.REWARD_ZERO, "x" * 3000, i) for i in range(5)))
    state = guard.decide(long, run="r", sent=[], auto_stop=True, last_step=5)
    assert len(state.cause) <= guard.MAX_TEXT


def test_guard_metric_records_are_emf_for_new_steps_only():
    steps = [
        {"step": 1, "critic_rewards_mean": 0.5, "actor_entropy": 1.0, "response_length_mean": 500},
        {"step": 2, "critic_rewards_mean": 0.6, "actor_grad_norm": 0.3, "created_at": 1},
        {"step": 3, "actor_pg_loss": 0.1},  # nothing the dashboard shows
    ]
    records = guard.metric_records("math-7", steps, after=1)
    assert len(records) == 1
    (record,) = records
    directive = record["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == guard.TRAINING_NAMESPACE and directive["Dimensions"] == [["Run"]]
    assert {m["Name"] for m in directive["Metrics"]} == {"Reward", "GradNorm"}
    assert record["Run"] == "math-7" and record["Reward"] == 0.6 and record["step"] == 2
    # A timestamp CloudWatch would refuse (1970) is replaced by now.
    assert record["_aws"]["Timestamp"] > 1_600_000_000_000


def test_guard_parses_a_metrics_csv_under_the_guards_names():
    text = "step_number,mean_reward,entropy,note\n1,0.5,1.0,warmup\n2,0.6,0.9,\nbad,0.1,0.1,\n"
    assert guard.parse_metrics_csv(text) == [
        {"step": 1, "critic_rewards_mean": 0.5, "actor_entropy": 1.0},
        {"step": 2, "critic_rewards_mean": 0.6, "actor_entropy": 0.9},
    ]


def test_guard_jsonl_skips_torn_lines():
    text = '{"step": 1, "critic_rewards_mean": 0.5}\n{"step": 2, "crit\n[1]\n'
    assert list(guard.parse_jsonl(text)) == [{"step": 1, "critic_rewards_mean": 0.5}]


@pytest.fixture
def s3(monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    with s3_with_buckets("us-east-1", "artifacts") as client:
        yield client


def test_guard_reads_mantle_metrics_from_the_runs_jsonl(s3):
    plan = {"provider": "mantle", "metrics_s3_uri": "s3://artifacts/jobs/r/metrics.jsonl"}
    assert guard.read_steps(s3, plan, "ftjob-1") == []  # nothing written yet
    body = "".join(json.dumps({"step": i, "critic_rewards_mean": 0.1 * i}) + "\n" for i in (1, 2))
    s3.put_object(Bucket="artifacts", Key="jobs/r/metrics.jsonl", Body=body.encode())
    assert [s["step"] for s in guard.read_steps(s3, plan, "ftjob-1")] == [1, 2]


def test_guard_reads_bedrock_metrics_under_the_jobs_output(s3):
    job = "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.nova/abcdef123456"
    plan = {"provider": "bedrock", "output_s3_uri": "s3://artifacts/jobs/r/output/"}
    assert guard.read_steps(s3, plan, job) == []
    s3.put_object(
        Bucket="artifacts", Key="jobs/r/output/other/step_wise_training_metrics.csv", Body=b"step\n9\n"
    )
    s3.put_object(
        Bucket="artifacts",
        Key="jobs/r/output/abcdef123456/training_artifacts/step_wise_training_metrics.csv",
        Body=b"step_number,mean_reward\n1,0.25\n",
    )
    assert guard.read_steps(s3, plan, job) == [{"step": 1, "critic_rewards_mean": 0.25}]
