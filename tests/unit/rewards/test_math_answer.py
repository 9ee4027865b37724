"""math_answer: gold answers in every format score 1; wrong, hedged and hostile answers score 0."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from contextlib import redirect_stdout
from fractions import Fraction

import pytest

from lambda_rewards.common.contract import make_handler
from lambda_rewards.common.isolation import IsolatedRunner, WorkerCrashed, WorkerTimeout
from lambda_rewards.math_answer import handler as math
from lambda_rewards.math_answer.extract import extract_answer
from lambda_rewards.math_answer.latex import guard, split_equation
from lambda_rewards.math_answer.numeric import parse_number
from tests.unit.rewards.conftest import FakeContext, make_sample, metric_names, scores
from tests.unit.rewards.math_helpers import PATIENT_HANDLER

GSM8K_SOLUTION = (
    "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n"
    "She makes 9 * 2 = $<<9*2=18>>18 every day at the farmer's market.\n#### 18"
)
REFERENCES_18 = [
    18,
    18.0,
    "18",
    " 18 ",
    "#### 18",
    GSM8K_SOLUTION,
    {"answer": "18"},
    {"answer": 18},
    {"text": "18"},
    {"text": "#### 18"},
    "\\boxed{18}",
    "$18$",
    {"answer": "$18"},
]
RESPONSES_18 = [
    "So she makes \\boxed{18} dollars.",
    "She makes 9 * 2 = 18 dollars.\n#### 18",
    "#### 18.0",
    "The answer is 18.",
    "The final answer is $18$.",
    "Final Answer: 18",
    "**Answer:** $18",
    "Answer: 18 dollars",
    "\\boxed{18.00}",
    "\\boxed{\\$18}",
    "$\\boxed{18 \\text{ dollars}}$",
    "She makes 9 * 2 = $18 every day.",
    "\\boxed{x = 18}",
    "\\boxed{\uff11\uff18}",
    "\\boxed{1\u200b8}",
    "\\boxed{\\dfrac{36}{2}}",
    "Reasoning...\n\\[\\boxed{18}\\]\n"
    + "Let me double check this. " * 60,  # answer 1,500 chars before the end
    "<think>16-3-4=9 eggs, 9*2=18</think>\nThe answer is \\boxed{18}.",
]


def grade_all(samples: list[dict], handler=None) -> list[dict]:
    with redirect_stdout(io.StringIO()):
        return (handler or math.handler)(samples, None)


def score(response: str, reference) -> float:
    """The score of one answer, with the attack suites' generous budget: these tests are about what
    equals what, and a loaded test machine must not turn a right answer into a timeout (timeouts have
    their own tests below)."""
    return grade_all([make_sample(response, reference)], PATIENT_HANDLER)[0]["aggregate_reward_score"]


# --------------------------------------------------------------------------- right answers


@pytest.mark.parametrize("reference", REFERENCES_18, ids=repr)
def test_every_reference_format_with_every_answer_format_scores_one(reference):
    results = grade_all([make_sample(r, reference, sample_id=str(i)) for i, r in enumerate(RESPONSES_18)])
    assert scores(results) == [1.0] * len(RESPONSES_18), [
        (RESPONSES_18[i], r["metrics_list"])
        for i, r in enumerate(results)
        if r["aggregate_reward_score"] != 1.0
    ]


@pytest.mark.parametrize(
    ("response", "reference"),
    [
        ("\\boxed{1,000}", "#### 1,000"),
        ("\\boxed{1000}", "1,000"),
        ("\\boxed{1{,}000}", 1000),
        ("The answer is 1\\,000.", 1000),
        ("\\boxed{0.5}", "\\frac{1}{2}"),
        ("\\boxed{1/2}", "0.5"),
        ("\\boxed{\\frac12}", 0.5),
        ("\\boxed{2\\frac{1}{2}}", "5/2"),
        ("\\boxed{50\\%}", 50),
        ("#### 50%", "50"),
        ("\\boxed{\u22123}", -3),
        ("#### -3", "#### -3"),
        ("\\boxed{-\\frac{3}{4}}", "-0.75"),
        ("\\boxed{1.5 \\times 10^{3}}", 1500),
        ("\\boxed{45^\\circ}", "45"),
        ("\\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt3}{2}"),
        ("\\boxed{\\frac{1}{2}\\sqrt{3}}", "\\frac{\\sqrt{3}}{2}"),
        ("\\boxed{\\frac{1}{\\sqrt{2}}}", "\\frac{\\sqrt{2}}{2}"),
        ("\\boxed{(1, 2]}", "(1,2]"),
        ("\\boxed{\\{2, 1\\}}", "\\{1,2\\}"),
        ("\\boxed{x = 3}", "x=3"),
        ("\\boxed{3}", "x=3"),
        ("\\boxed{2x+2y=2}", "x+y=1"),
        ("\\boxed{x^2+2x+1}", "(x+1)^2"),
        ("\\boxed{1-\\frac{1}{e}}", "1-\\frac{1}{\\mathrm{e}}"),
        ("\\boxed{\\frac{1}{2004!}}", "\\frac{1}{2004!}"),
        ("\\boxed{\\frac{1}{2^{99}}}", "1/2^{99}"),
        ("\\boxed{\\text{(C)}}", "C"),
        ("\\boxed{\\pi}", {"answer": "\\pi"}),
    ],
)
def test_equivalent_answers_score_one(response, reference):
    assert score(response, reference) == 1.0


# --------------------------------------------------------------------------- wrong answers


@pytest.mark.parametrize(
    ("response", "reference"),
    [
        ("\\boxed{17}", 18),
        ("#### 18.5", "#### 18"),
        ("The answer is 180.", 18),
        ("\\boxed{1/2}", 0.25),
        ("\\boxed{0.333}", "\\frac{1}{3}"),
        ("\\boxed{\\sqrt{324}}", 18),  # not a computed answer
        ("\\boxed{1.41421356}", "\\sqrt{2}"),
        ("\\boxed{[1, 2]}", "(1,2]"),
        ("\\boxed{x^2+2x+2}", "(x+1)^2"),
        ("\\boxed{y = 3}", "x=3"),
        ("\\boxed{١٨}", 18),  # Arabic-Indic digits are not ASCII digits (the written policy)
    ],
)
def test_wrong_answers_score_zero(response, reference):
    assert score(response, reference) == 0.0


@pytest.mark.parametrize(
    ("response", "reference"),
    [
        ("\\boxed{\\frac{1}{2006!}}", "\\frac{1}{2004!}"),
        ("\\boxed{1+\\frac{1}{\\mathrm{e}}}", "1-\\frac{1}{\\mathrm{e}}"),
        ("\\boxed{1/2^{98}}", "1/2^{99}"),
        ("\\boxed{\\frac{1}{2^{98}}}", "\\frac{1}{2^{99}}"),
        ("\\boxed{2=2}", "1=1"),
        ("\\boxed{1+\\frac{1}{e^{39}}}", "1-\\frac{1}{e^{39}}"),  # equal to 16 digits, not to 60
    ],
)
def test_math_verify_false_positives_score_zero(response, reference):
    assert score(response, reference) == 0.0


# --------------------------------------------------------------------------- hedging


@pytest.mark.parametrize(
    ("response", "reference"),
    [
        ("\\boxed{5} or \\boxed{6}", 5),
        ("It is \\boxed{6}... no wait, \\boxed{5}", 5),
        ("\\boxed{5, 6}", 5),
        ("\\boxed{5 \\text{ or } 6}", 5),
        ("\\boxed{5 \\lor 6}", "\\sqrt{5}"),
        ("The answer is 5 or 6.", 5),
        ("The answer is either 5 or 6", 5),
        ("#### 5\n#### 6", 5),
        ("\\boxed{5}\nThe final answer is 6.", 5),
        ("\\boxed{5}\n\nWait, actually the answer is 6.", 5),
        ("\\boxed{5}\n\nWait, actually the answer is 6.", 6),
        ("Answer: 5\nAnswer: 6", 5),
        ("".join(f"\\boxed{{{i}}}" for i in range(20_000)), 5),
        ("\\boxed{5}\\boxed{5}\\boxed{5}\\boxed{5}\\boxed{5}", 5),
        ("\\boxed{2x+1=7}", "x=3"),
        ("\\boxed{\\sqrt{2}, \\sqrt{3}}", "\\sqrt{2}"),
        ("\\boxed{5 = 6}", 6),
    ],
)
def test_hedged_answers_score_zero(response, reference):
    assert score(response, reference) == 0.0


def test_hedging_is_reported_as_a_metric():
    result = grade_all([make_sample("\\boxed{5} or \\boxed{6}", 5)])[0]
    assert "hedged" in metric_names(result)


def test_the_same_answer_boxed_twice_is_not_hedging():
    assert score("First \\boxed{18}. Checking: yes, \\boxed{18}.", 18) == 1.0


def test_intermediate_answer_phrases_do_not_count_as_hedging():
    text = "For part one the answer is 9 eggs. Then she earns 9 * 2.\nThe final answer is 18."
    assert score(text, 18) == 1.0
    assert score("So the answer is 9 eggs. Then the answer is 18 dollars.", 18) == 1.0


# --------------------------------------------------------------------------- hostile input


HOSTILE = [
    "\\boxed{9^{9^{9^{9}}}}",
    "\\boxed{10^{100000}}",
    "\\boxed{2^{2^{2^{2^{2^{2}}}}}}",
    "\\boxed{(10^{10})!}",
    "\\boxed{99999!}",
    "\\boxed{" + "9" * 5000 + "}",
    "\\boxed{" + "\\frac{1}{" * 300 + "1" + "}" * 300 + "}",
    "\\boxed{" + "(" * 2000 + "1" + ")" * 2000 + "}",
    "\\boxed{" + "x+" * 3000 + "1}",
    "A" * 1_000_000 + "\\boxed{3}",
    "\\boxed{3}" + "A" * 1_000_000,
    "\\boxed{" + "1" * 1_000_000 + "}",
    "\\boxed{\\sqrt{\\sqrt{\\sqrt{\\sqrt{\\sqrt{\\sqrt{\\sqrt{\\sqrt{\\sqrt{\\sqrt{\\sqrt{\\sqrt{\\sqrt{2}}}}}}}}}}}}}}",
    "\\boxed{" + "\\left(" * 100 + "}",
    "\\boxed{}" * 10,
    "\u202e\\boxed{3}\u202c" * 1000,
]


def test_hostile_answers_score_zero_and_are_all_answered_within_the_deadline(monkeypatch):
    limits: list[float] = []  # the time limit of every comparison handed to the worker
    call = IsolatedRunner.call

    def recorded(self, payload, timeout, **kwargs):
        limits.append(timeout)
        return call(self, payload, timeout, **kwargs)

    monkeypatch.setattr(IsolatedRunner, "call", recorded)
    handler = make_handler(
        math.grade, reward_name="math_answer", defaults={"sample_timeout_s": 1.0, "deadline_margin_s": 0.5}
    )
    samples = [make_sample(text, "\\sqrt{2}", sample_id=str(i)) for i, text in enumerate(HOSTILE)]
    samples += [make_sample(text, 3, sample_id=f"n{i}") for i, text in enumerate(HOSTILE[:9])]
    # passes the guards, then overruns its budget: the worker is stopped and the sample times out
    samples.append(make_sample("\\boxed{1}", "\\sum_{k=1}^{999} k^{k}", sample_id="slow"))
    with redirect_stdout(io.StringIO()):
        results = handler(samples, FakeContext(20.0))
    # Within the deadline by construction: no comparison may run past the sample's 1 s (capped
    # by what the batch has left), and the batch answers every sample it did not reach.
    assert limits and all(limit <= 1.0 for limit in limits)
    assert [r["id"] for r in results] == [s["id"] for s in samples]
    assert scores(results) == [0.0] * len(samples)
    assert "error_timeout" in metric_names(results[-1])


def test_guards_refuse_expensive_shapes_before_symbolic_work():
    assert guard("9^{9^{9}}", 400) == "exponent_tower"
    assert guard("10^{100000}", 400) == "huge_exponent"
    assert guard("(10^{10})!", 400) == "nested_factorial"
    assert guard("99999!", 400) == "huge_factorial"
    assert guard("1" * 300, 400) == "huge_number"
    assert guard("x" * 401, 400) == "answer_too_long"
    assert guard("\\frac{" * 20 + "}" * 20, 400) == "deep_nesting"
    assert guard("\\sum_{k=1}^{9999} k^{k}", 400) == "big_sum"
    assert guard("\\dbinom{99999}{49999}", 400) == "big_binomial"
    assert guard("\\frac{1}{2004!} + 2^{99}", 400) is None
    assert guard("\\binom{10}{3} + \\sum_{k=1}^{10} k", 400) is None


def test_an_answer_that_overran_a_full_budget_is_not_worked_on_again(monkeypatch):
    calls = []

    class Slow:
        is_ready = True

        def ensure_ready(self, timeout):
            pass

        def call(self, payload, timeout):
            calls.append(payload)
            time.sleep(timeout)
            raise WorkerTimeout("stopped")

    monkeypatch.setattr(math, "runner", lambda: Slow())
    monkeypatch.setattr(math, "_verdicts", type(math._verdicts)())
    handler = make_handler(math.grade, reward_name="math_answer", defaults={"sample_timeout_s": 0.05})
    same = [make_sample("\\boxed{\\sqrt{8}}", "2\\sqrt{2}", sample_id=str(i)) for i in range(5)]
    results = grade_all(same, handler)
    assert len(calls) == 1
    assert all("error_timeout" in metric_names(r) for r in results)


def test_the_response_tail_is_bounded():
    # An answer 5,000 characters before the end is outside the scanned tail: no answer.
    result = grade_all([make_sample("\\boxed{18}" + " filler" * 1000, 18)])[0]
    assert "error_no_answer" in metric_names(result)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("reference", [{"question": "no answer field"}, "", True, [1, 2], {"answer": None}])
def test_an_unusable_reference_is_bad_reference(reference):
    result = grade_all([make_sample("\\boxed{1}", reference)])[0]
    assert result["aggregate_reward_score"] == 0.0
    assert "error_bad_reference" in metric_names(result)


@pytest.mark.parametrize(
    "response", ["", "I am not sure.", "Let me think about this problem", [{"type": "text", "text": ""}]]
)
def test_no_answer_scores_zero_with_a_reason(response):
    result = grade_all([make_sample(response, 18)])[0]
    assert result["aggregate_reward_score"] == 0.0
    assert "error_no_answer" in metric_names(result)


@pytest.mark.parametrize(
    ("failure", "reason"), [(WorkerTimeout, "timeout"), (WorkerCrashed, "worker_crashed")]
)
def test_worker_failures_score_zero_with_the_reason(monkeypatch, failure, reason):
    class Broken:
        is_ready = True

        def ensure_ready(self, timeout):
            pass

        def call(self, *args, **kwargs):
            raise failure("stopped")

    monkeypatch.setattr(math, "runner", lambda: Broken())
    monkeypatch.setattr(math, "_verdicts", type(math._verdicts)())
    result = grade_all([make_sample("\\boxed{\\sqrt{8}}", "2\\sqrt{2}")])[0]
    assert result["aggregate_reward_score"] == 0.0
    assert f"error_{reason}" in metric_names(result)


# --------------------------------------------------------------------------- pieces


def test_numbers_are_exact_rationals():
    assert parse_number("18.0") == parse_number("18") == Fraction(18)
    assert parse_number("0.1") == Fraction(1, 10)
    assert parse_number("1/3") == Fraction(1, 3)
    assert parse_number("$1,234.50") == Fraction(246_900, 200)
    for text in ["5, 6", "5 or 6", "x + y = 1", "\\sqrt{4}", "12,34", "1_000", "١٨", "1e999"]:
        assert parse_number(text) is None, text


def test_extraction_priority_prefers_the_box():
    extraction = extract_answer("The answer is 7.\n\\boxed{7}")
    assert (extraction.answer, extraction.source) == ("7", "boxed")
    assert extract_answer("blah\n#### 42").source == "hash"
    assert extract_answer("so the final answer is 3.").answer == "3"
    assert extract_answer("nothing here").answer is None


def test_split_equation():
    assert split_equation("x = 3") == ("x", "3", True)
    assert split_equation("2x+1=7") == (None, "2x+1=7", True)
    assert split_equation("x \\leq 3") == (None, "x \\leq 3", False)
    assert split_equation("\\sum_{k=1}^{9} k") == (None, "\\sum_{k=1}^{9} k", False)
    assert split_equation("y = \\sum_{k=1}^{n} k") == ("y", "\\sum_{k=1}^{n} k", True)


def test_importing_the_handler_loads_no_symbolic_math():
    code = (
        "import sys, lambda_rewards.math_answer.handler as h;"
        "h.handler([{'id':'a','messages':[{'role':'assistant','content':'#### 18'}],"
        "'metadata':{'reference_answer':'18'}}], None);"
        "heavy = ('sympy', 'math_verify', 'latex2sympy2_extended', 'mpmath');"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


TWO_STAGE_CHECK = r"""
import sympy
from math_verify.parser import parse_latex_cached
from lambda_rewards.math_answer import latex
texts = [r"\frac{\sqrt{3}}{2}", r"(1, 2]", r"\{1, 2, 3\}", r"x^2+2x+1", r"\frac{x+1}{x-1}", r"e^{2}",
         r"\sin x", r"1-\frac{1}{e}", r"\frac{1}{2004!}", r"2^{-99}", r"y=2x+3", r"4-2i", r"\ln 2",
         r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"(-\infty, 3)", r"a^3 b^2", r"\frac{n(n+1)}{2}",
         r"10\sqrt{10}", r"\tan\theta", r"x \leq 3", r"\text{(C)}", r"3\sqrt{5}", r"\pi/4", r"1,2"]
def parses():
    latex._parse.cache_clear(); parse_latex_cached.cache_clear()
    return [sympy.srepr(latex._parse(t)) for t in texts]
ll = parses()
assert latex.install_two_stage_parsing()
print(parses() == ll, sum(p != "None" for p in ll))
"""


def test_two_stage_parsing_gives_the_same_trees_as_full_ll():
    out = subprocess.run([sys.executable, "-c", TWO_STAGE_CHECK], capture_output=True, text=True, check=True)
    same, parsed = out.stdout.split()
    assert same == "True" and int(parsed) >= 22
