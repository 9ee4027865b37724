"""json_schema attack: answers built so the checks before parsing take quadratic time.

``[["`` followed by ``\\"`` repeated made the string-stripping regex retry at every quote (40 KB
took 5 s against a 1 s sample budget), and a fence opener followed by a run of spaces made the
fence regex re-split the run at every length. Both ran outside the time limit. The checks are
now linear, and everything the response drives runs inside the sample's budget.

Complexity is shown by growth, not by a wall-clock limit: the CPU time of an input 8 times longer
must grow like 8 (linear), not like 64 (quadratic). The ratio bound (24) leaves room for noise.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from contextlib import redirect_stdout

import pytest

from lambda_rewards.common.contract import make_handler
from lambda_rewards.json_schema import handler as js
from tests.unit.rewards.conftest import make_sample, metric_names

REFERENCE = {"schema": {"type": "array"}}
SMALL = 16_384
GROWTH = 8
MAX_RATIO = 24


def escaped_quotes(size: int) -> str:
    return '[["' + '\\"' * ((size - 3) // 2)


def fence_then_spaces(size: int) -> str:
    return "```" + " " * (size - 4) + "x"


def quotes_and_backslashes(size: int) -> str:
    return '["' + '\\\\"' * (size // 3)


def unclosed_strings(size: int) -> str:
    return "[" + '"a' * (size // 2)


HOSTILE: dict[str, Callable[[int], str]] = {
    "escaped_quotes": escaped_quotes,
    "fence_then_spaces": fence_then_spaces,
    "quotes_and_backslashes": quotes_and_backslashes,
    "unclosed_strings": unclosed_strings,
}


def cpu_seconds(work: Callable[[], object]) -> float:
    """Least CPU time of ``work`` over several runs (CPU time, not wall time: other processes on a
    loaded machine do not count), each run repeated until it is long enough to measure."""
    best = float("inf")
    for _ in range(3):
        rounds, started = 0, time.process_time()
        while True:
            work()
            rounds += 1
            spent = time.process_time() - started
            if spent >= 0.02:
                break
        best = min(best, spent / rounds)
    return best


def pre_parse(text: str) -> None:
    """Everything that runs on the response before ``json.loads``."""
    extracted = js.extract_json_text(text)
    js.nesting_depth(extracted)
    js.nesting_depth(text)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_pre_parse_work_grows_linearly(name):
    build = HOSTILE[name]
    small, large = build(SMALL), build(SMALL * GROWTH)
    ratio = cpu_seconds(lambda: pre_parse(large)) / cpu_seconds(lambda: pre_parse(small))
    assert ratio < MAX_RATIO, f"{name}: {GROWTH}x the input cost {ratio:.0f}x the time"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_256_kb_hostile_answer_is_refused_not_waited_on(name):
    text = HOSTILE[name](js.MAX_BYTES - 16)
    with redirect_stdout(io.StringIO()):
        result = js.handler([make_sample(text, REFERENCE)], None)[0]
    assert result["aggregate_reward_score"] == 0.0
    assert metric_names(result) & {"invalid_json", "too_deep"}


def test_depth_ignores_brackets_inside_strings_and_escapes():
    assert js.nesting_depth('["[[[", "\\"[[", {"a": "]]]"}]') == 2
    assert js.nesting_depth('[["\\\\"]]') == 2  # an escaped backslash does not escape the quote
    assert js.nesting_depth('["unterminated [[[[') == 1


def test_extraction_and_parsing_run_inside_the_sample_budget(monkeypatch):
    """A parse that overruns (stands in for any pre-parse work) is stopped by the time limit."""

    def slow_loads(text: str, **_: object) -> object:
        stop = time.monotonic() + 3.0
        while time.monotonic() < stop:
            pass
        return []

    monkeypatch.setattr(js, "strict_loads", slow_loads)
    handler = make_handler(js.grade, reward_name="json_schema", defaults={"sample_timeout_s": 0.2})
    with redirect_stdout(io.StringIO()):
        result = handler([make_sample("[]", REFERENCE)], None)[0]
    assert result["aggregate_reward_score"] == 0.0
    assert "error_timeout" in metric_names(result)
