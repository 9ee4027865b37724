"""The reward contract: every event shape, one result per sample in order, scores in [0, 1], and
every failure of one sample contained to that sample with a metric saying why."""

from __future__ import annotations

import io
import json
import time
from contextlib import redirect_stdout

import pytest

from lambda_rewards.common.contract import (
    Budget,
    Grade,
    Sample,
    batch_of,
    build_result,
    content_text,
    make_handler,
    parse_sample,
    reference_object,
    unwrap_reference,
)
from lambda_rewards.common.settings import ConfigError
from tests.unit.rewards.conftest import FakeContext, make_sample, metric_names, scores

SEEN: list[Sample] = []


def echo_grade(sample: Sample, budget: Budget) -> Grade:
    """Scores 1 when the response equals the reference text."""
    SEEN.append(sample)
    return Grade(
        1.0 if sample.response.strip() == str(sample.reference) else 0.0, {"length": len(sample.response)}
    )


@pytest.fixture
def handler():
    SEEN.clear()
    return make_handler(echo_grade, reward_name="echo")


def run(handler, event, context=None) -> list[dict]:
    with redirect_stdout(io.StringIO()):
        return handler(event, context)


# --------------------------------------------------------------------------- event shapes


def test_bare_list_and_trajectories_wrapper_give_the_same_results(handler):
    samples = [make_sample("42", "42", sample_id="a"), make_sample("41", "42", sample_id="b")]
    bare = run(handler, samples)
    wrapped = run(handler, {"trajectories": samples})
    assert bare == wrapped
    assert [r["id"] for r in bare] == ["a", "b"]
    assert scores(bare) == [1.0, 0.0]


def test_reference_at_top_level_or_under_metadata(handler):
    results = run(handler, [make_sample("7", "7", where="metadata"), make_sample("7", "7", where="top")])
    assert scores(results) == [1.0, 1.0]


def test_text_wrapper_reference_is_unwrapped(handler):
    results = run(
        handler, [make_sample("seven", {"text": "seven"}), make_sample("x", {"text": "x", "type": "text"})]
    )
    assert scores(results) == [1.0, 1.0]
    assert SEEN[0].reference == "seven"


def test_object_reference_is_passed_as_is():
    sample = parse_sample(make_sample("r", {"answer": "5", "text": "not only text"}))
    assert sample.reference == {"answer": "5", "text": "not only text"}


def test_content_as_list_of_parts_and_last_assistant_turn(handler):
    sample = make_sample([{"type": "text", "text": "4"}, {"type": "text", "text": "2"}], "42")
    sample["messages"].insert(2, {"role": "assistant", "content": "an earlier turn"})
    sample["messages"].insert(3, {"role": "user", "content": [{"type": "text", "text": "again"}]})
    results = run(handler, [sample])
    assert scores(results) == [1.0]
    assert SEEN[0].response == "42"
    assert all(isinstance(m["content"], str) for m in SEEN[0].messages)
    assert SEEN[0].messages[3]["content"] == "again"


def test_content_text_shapes():
    assert content_text(None) == ""
    assert content_text("a") == "a"
    assert content_text({"type": "text", "text": "b"}) == "b"
    assert content_text(["a", {"type": "text", "text": "b"}, {"type": "image", "source": {}}]) == "ab"


def test_metadata_keeps_other_fields_and_top_level_extras():
    raw = make_sample("r", "5", task_id="t-1")
    raw["dataset"] = "gsm8k"
    sample = parse_sample(raw)
    assert sample.metadata == {"task_id": "t-1", "dataset": "gsm8k"}
    assert "reference_answer" not in sample.metadata


def test_no_assistant_message_gives_empty_response():
    raw = make_sample("x", "5")
    raw["messages"] = raw["messages"][:2]
    assert parse_sample(raw).response == ""


def test_nova_assistant_turn_is_the_graded_answer():
    """Nova RFT names the rollout's role `nova_assistant` (as the AWS FinQA sample grader shows);
    reading only `assistant` would grade an empty answer and score every Nova rollout 0."""
    raw = make_sample("x", "5")
    raw["messages"][-1] = {"role": "nova_assistant", "content": "#### 5"}
    assert parse_sample(raw).response == "#### 5"


def test_other_roles_are_not_the_graded_answer():
    raw = make_sample("x", "5")
    raw["messages"][-1] = {"role": "tool", "content": "#### 5"}
    assert parse_sample(raw).response == ""


def test_reference_object_decodes_json_strings_only_when_json():
    assert reference_object('{"schema": {}}') == {"schema": {}}
    assert reference_object("{not json") == "{not json"
    assert reference_object("42") == "42"
    assert unwrap_reference({"text": 5}) == {"text": 5}


@pytest.mark.parametrize(
    ("event", "named"),
    [({"samples": []}, "samples"), ("[]", "str"), (None, "NoneType"), (42, "int"), ({}, "no keys")],
)
def test_an_event_that_is_not_a_batch_is_a_clear_error(handler, event, named):
    with pytest.raises(ValueError, match="trajectories") as raised:
        run(handler, event)
    assert named in str(raised.value)


def test_batch_of_accepts_empty_batches(handler):
    assert batch_of([]) == []
    assert run(handler, {"trajectories": []}) == []


# --------------------------------------------------------------------------- per-sample failures


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not a sample", "malformed_sample"),
        ({"id": "m"}, "malformed_messages"),
        ({"id": "m", "messages": "hello"}, "malformed_messages"),
        ({"id": "m", "messages": ["hello"]}, "malformed_messages"),
        ({"id": "m", "messages": [{"role": "assistant", "content": 5}]}, "malformed_content"),
        ({"id": "m", "messages": [], "metadata": "x"}, "malformed_metadata"),
        ({"id": "m", "messages": [{"role": "assistant", "content": "5"}]}, "missing_reference"),
    ],
)
def test_a_bad_sample_scores_zero_with_a_reason_and_the_batch_goes_on(handler, raw, reason):
    results = run(
        handler, [make_sample("1", "1", sample_id="before"), raw, make_sample("2", "2", sample_id="after")]
    )
    assert scores(results) == [1.0, 0.0, 1.0]
    assert f"error_{reason}" in metric_names(results[1])
    assert [r["id"] for r in results][::2] == ["before", "after"]


def test_an_exception_in_the_grader_is_contained():
    def explode(sample: Sample, budget: Budget) -> Grade:
        if sample.response == "boom":
            raise RuntimeError("grader bug with the payload in the message")
        return Grade(1.0)

    handler = make_handler(explode, reward_name="explode")
    out = io.StringIO()
    with redirect_stdout(out):
        results = handler([make_sample("ok", "x"), make_sample("boom", "x"), make_sample("ok", "x")], None)
    assert scores(results) == [1.0, 0.0, 1.0]
    assert "error_exception" in metric_names(results[1])


def test_a_grader_returning_garbage_is_contained():
    handler = make_handler(lambda s, b: 0.5, reward_name="garbage")  # type: ignore[arg-type,return-value]
    results = run(handler, [make_sample("x", "x")])
    assert scores(results) == [0.0]
    assert "error_exception" in metric_names(results[0])


@pytest.mark.parametrize(
    ("raw", "expected"), [(1.7, 1.0), (-3, 0.0), (float("nan"), 0.0), (float("inf"), 0.0)]
)
def test_scores_are_clipped_into_unit_interval(raw, expected):
    handler = make_handler(lambda s, b: Grade(raw), reward_name="clip")
    assert scores(run(handler, [make_sample("x", "x")])) == [expected]


def test_a_grade_with_an_error_scores_zero_whatever_its_score():
    handler = make_handler(lambda s, b: Grade(1.0, error="no_answer"), reward_name="err")
    result = run(handler, [make_sample("x", "x")])[0]
    assert result["aggregate_reward_score"] == 0.0
    assert "error_no_answer" in metric_names(result)


def test_result_shape_and_metric_types():
    result = build_result("id-1", Grade(0.5, {"extra": 2, "bad": float("nan"), "text": "no"}))
    assert result["id"] == "id-1"
    assert result["metrics_list"][0] == {"name": "correctness", "value": 0.5, "type": "Reward"}
    assert {"name": "extra", "value": 2.0, "type": "Metric"} in result["metrics_list"]
    assert "bad" not in metric_names(result) and "text" not in metric_names(result)
    json.dumps(result, allow_nan=False)


def test_ids_are_echoed_unchanged():
    handler = make_handler(lambda s, b: Grade(1.0), reward_name="ids")
    raw = make_sample("x", "x")
    raw["id"] = 17
    assert run(handler, [raw])[0]["id"] == 17


# --------------------------------------------------------------------------- deadlines


def test_samples_not_reached_before_the_deadline_score_zero_with_timeout():
    seen: list[str] = []

    def slow(sample: Sample, budget: Budget) -> Grade:
        seen.append(sample.id)
        time.sleep(0.05)
        return Grade(1.0)

    handler = make_handler(slow, reward_name="slow", defaults={"deadline_margin_s": 0.0})
    results = run(handler, [make_sample("x", "x", sample_id=str(i)) for i in range(40)], FakeContext(0.3))
    assert len(results) == 40
    # The grader ran for a prefix of the batch only (each sample takes at least 0.05 s of the
    # 0.3 s: at most 7), and every sample after it was answered without being graded.
    graded = len(seen)
    assert seen == [str(i) for i in range(graded)] and graded <= 7
    assert scores(results)[:graded] == [1.0] * graded
    assert all("error_timeout" in metric_names(r) for r in results[graded:])


def test_the_safety_margin_is_taken_off_the_lambda_time():
    budgets: list[Budget] = []

    def record(sample: Sample, budget: Budget) -> Grade:
        budgets.append(budget)
        return Grade(1.0)

    handler = make_handler(record, reward_name="margin", defaults={"deadline_margin_s": 5.0})
    before = time.monotonic()
    run(handler, [make_sample("x", "x")], FakeContext(65.0))
    after = time.monotonic()
    # 65 s counted from a moment between before and after (to the millisecond), less the margin.
    assert before + 60.0 - 0.001 <= budgets[0].deadline <= after + 60.0
    assert budgets[0].for_sample() == 2.0  # the sample's own budget, well inside the batch's


def test_no_context_uses_the_local_default_deadline():
    budgets: list[Budget] = []
    handler = make_handler(lambda s, b: budgets.append(b) or Grade(1.0), reward_name="local")
    before = time.monotonic()
    run(handler, [make_sample("x", "x")], None)
    assert before + 300 <= budgets[0].deadline <= time.monotonic() + 300


def test_budget_for_sample_is_capped_by_the_batch():
    budget = Budget(per_sample_seconds=2.0, deadline=time.monotonic() + 0.5)
    assert budget.for_sample() <= 0.5
    assert Budget(1.0, time.monotonic() - 10).remaining() == 0.0


def test_concurrent_grading_keeps_order_and_bounds_threads():
    import threading

    active, peak, lock = [0], [0], threading.Lock()

    def wait(sample: Sample, budget: Budget) -> Grade:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02)
        with lock:
            active[0] -= 1
        return Grade(int(sample.id) / 100)

    handler = make_handler(wait, reward_name="threads", max_concurrency=4)
    results = run(handler, [make_sample("x", "x", sample_id=str(i)) for i in range(20)])
    assert scores(results) == [i / 100 for i in range(20)]
    assert peak[0] == 4


def test_concurrent_grading_answers_every_sample_at_the_deadline():
    import threading

    released, finished = threading.Event(), []

    def stuck(sample: Sample, budget: Budget) -> Grade:
        if sample.id != "0":
            released.wait(30)  # stuck until the test lets go (30 s: only should the handler hang)
        finished.append(sample.id)
        return Grade(1.0)

    handler = make_handler(stuck, reward_name="stuck", max_concurrency=2, defaults={"deadline_margin_s": 0})
    try:
        results = run(handler, [make_sample("x", "x", sample_id=str(i)) for i in range(6)], FakeContext(0.5))
        assert finished == ["0"]  # answered at the deadline, while the stuck calls were still stuck
    finally:
        released.set()
    assert scores(results)[0] == 1.0
    assert all("error_timeout" in metric_names(r) for r in results[1:])


# --------------------------------------------------------------------------- logs, metrics, shaping


def test_one_json_log_line_per_batch_with_emf_and_no_payload():
    handler = make_handler(echo_grade, reward_name="echo")
    out = io.StringIO()
    secret = "SECRET-RESPONSE-TEXT"
    with redirect_stdout(out):
        handler([make_sample(secret, "x"), make_sample("x", "x"), "junk"], None)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["count"] == 3
    assert record["mean_score"] == pytest.approx(1 / 3, abs=1e-5)
    assert record["zero_share"] == pytest.approx(2 / 3, abs=1e-5)
    assert record["errors"] == 1 and record["timeouts"] == 0
    assert record["error_reasons"] == {"malformed_sample": 1}
    emf = record["_aws"]["CloudWatchMetrics"][0]
    assert emf["Namespace"] == "RftStack/Rewards" and emf["Dimensions"] == [["Reward"]]
    assert record["Reward"] == "echo"
    for metric in emf["Metrics"]:
        assert isinstance(record[metric["Name"]], int | float)
    assert secret not in out.getvalue()


def test_emf_can_be_turned_off_and_namespace_set(monkeypatch):
    monkeypatch.setenv("REWARD_EMF", "false")
    monkeypatch.setenv("REWARD_METRICS_NAMESPACE", "Team/Graders")
    handler = make_handler(echo_grade, reward_name="echo")
    out = io.StringIO()
    with redirect_stdout(out):
        handler([make_sample("x", "x")], None)
    assert "_aws" not in json.loads(out.getvalue())


def test_shaping_from_environment_and_per_sample_override(monkeypatch):
    monkeypatch.setenv("REWARD_FORMAT", "think")
    monkeypatch.setenv("REWARD_WEIGHT_FORMAT", "1")
    handler = make_handler(lambda s, b: Grade(1.0), reward_name="shaped")
    good = make_sample("<think>steps</think> 42", "42")
    bad = make_sample("42", "42")
    overridden = make_sample("42", "42", reward_config={"format": "none"})
    results = run(handler, [good, bad, overridden])
    assert scores(results) == [1.0, 0.5, 1.0]
    assert {"name": "format", "value": 0.0, "type": "Reward"} in results[1]["metrics_list"]


def test_a_bad_per_sample_override_scores_that_sample_zero():
    handler = make_handler(lambda s, b: Grade(1.0), reward_name="override")
    results = run(
        handler,
        [
            make_sample("x", "x", reward_config={"weight_format": "lots"}),
            make_sample("x", "x", reward_config=[1]),
        ],
    )
    assert scores(results) == [0.0, 0.0]
    assert all("error_bad_config" in metric_names(r) for r in results)


def test_a_bad_environment_setting_fails_at_cold_start_naming_the_variable(monkeypatch):
    monkeypatch.setenv("REWARD_OVERLONG_MAX", "lots")
    with pytest.raises(ConfigError, match="REWARD_OVERLONG_MAX"):
        make_handler(echo_grade, reward_name="echo")
