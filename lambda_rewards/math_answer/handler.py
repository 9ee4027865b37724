"""math_answer: GSM8K-style numeric answers and MATH-style LaTeX answers.

Reference (``reference_answer``): a bare number, a GSM8K solution ending in ``#### N``, a LaTeX
answer (``\\frac{\\sqrt3}{2}``, ``(1, 2]``, ``x = 3``, optionally boxed), or an object
``{"answer": ...}`` holding any of these.

How a response is graded:
1. Only its final answer is read (what follows ``</think>``: ``lambda_rewards.common.answer``), and
   of that its last ``MATH_TAIL_CHARS`` characters, under the Unicode policy of
   ``lambda_rewards.common.text`` (NFKC, invisible characters removed, ASCII digits).
2. The final answer is extracted (``lambda_rewards.math_answer.extract``); hedging (disagreeing
   boxes or final statements, a spray of boxes) scores 0 with the metric ``hedged``.
3. A gold answer that is a number is compared exactly, as a rational, with the answer read as a
   number (commas, currency, percent, units, ``18.0``, ``1/2`` = ``0.5``); an answer that is not a
   plain number scores 0 (``\\sqrt{324}`` for 18 is not a computed answer). No symbolic work.
4. Any other gold is LaTeX: assignments are split (``x = 3``), a restated equation
   (``\\boxed{2x+1=7}`` for ``x = 3``) and an answer offering alternatives or a list the gold does
   not have score 0; equal normalised strings score 1 at once; otherwise both pass the guards of
   ``lambda_rewards.math_answer.latex`` and are compared by math-verify (gold first) plus a
   confirmation step, in a killable worker, within the sample's budget.
Settings: MATH_TAIL_CHARS, MATH_MAX_ANSWER_CHARS, MATH_MAX_BOXES (see
``lambda_rewards.common.settings``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

from lambda_rewards.common.answer import final_answer
from lambda_rewards.common.contract import Budget, Grade, Sample, make_handler, unwrap_reference
from lambda_rewards.common.isolation import IsolatedRunner, WorkerCrashed, WorkerFailed, WorkerTimeout
from lambda_rewards.common.settings import env_int
from lambda_rewards.common.text import find_boxes, normalize_unicode, tail
from lambda_rewards.math_answer.extract import canonical_latex, extract_answer, listed_boxes
from lambda_rewards.math_answer.forms import join_text_lists, respell, unlabel
from lambda_rewards.math_answer.latex import guard, has_or, split_equation, top_level_split
from lambda_rewards.math_answer.numeric import parse_number, strip_assignment

REWARD_NAME = "math_answer"
TAIL_CHARS = env_int("MATH_TAIL_CHARS", 4000, minimum=256, maximum=65536)
MAX_ANSWER_CHARS = env_int("MATH_MAX_ANSWER_CHARS", 400, minimum=1, maximum=100_000)
MAX_BOXES = env_int("MATH_MAX_BOXES", 3, minimum=1, maximum=1000)
_REFERENCE_KEYS = ("answer", "final_answer", "expected_answer", "ground_truth", "solution", "value")
_VERDICT_CACHE_SIZE = 4096


class BadReference(ValueError):
    """The reference holds no usable gold answer."""


@dataclass(frozen=True)
class Gold:
    number: Fraction | None  # set when the gold answer is a number
    latex: str | None = None  # set otherwise
    variable: str | None = None  # "x" for a gold answer "x = 3"


@lru_cache(maxsize=4096)
def _gold_from_text(text: str) -> Gold:
    text = normalize_unicode(text).strip()
    if "####" in text:
        text = text.rsplit("####", 1)[1].strip()
        text = text.splitlines()[0].strip() if text else ""
    boxes = find_boxes(text, 5000)
    if boxes:  # boxes joined as a list are one list answer
        listed = listed_boxes(text, boxes, reference=True)
        text = ", ".join(dict.fromkeys(content.strip() for content, _, _ in listed))
    text = text.strip()
    if len(text) >= 2 and text[0] == "$" and text[-1] == "$":
        text = text.strip("$").strip()
    if not text:
        raise BadReference("empty gold answer")
    value = parse_number(text)
    if value is not None:
        return Gold(value, variable=strip_assignment(text)[0])
    return Gold(None, text)


def gold_of(reference: Any) -> Gold:
    """The gold answer of a reference; raises ``BadReference``."""
    reference = unwrap_reference(reference)
    if isinstance(reference, dict):
        for key in _REFERENCE_KEYS:
            if key in reference and reference[key] is not None:
                return gold_of(reference[key])
        raise BadReference("reference object has no answer field")
    if isinstance(reference, bool) or reference is None:
        raise BadReference("reference is not an answer")
    if isinstance(reference, int):
        return Gold(Fraction(reference))
    if isinstance(reference, float):
        if reference != reference or reference in (float("inf"), float("-inf")):
            raise BadReference("reference is not finite")
        return Gold(Fraction(repr(reference)))
    if isinstance(reference, str):
        if len(reference) > 100_000:
            raise BadReference("reference too long")
        return _gold_from_text(reference)
    raise BadReference(f"reference of type {type(reference).__name__}")


# --------------------------------------------------------------------------- the worker

_runner: IsolatedRunner | None = None
# (gold, answer) -> True/False, or None for "overran a full budget": GRPO groups repeat answers,
# and an answer that overran once would overrun again.
_verdicts: OrderedDict[tuple[str, str], bool | None] = OrderedDict()


def runner() -> IsolatedRunner:
    """The killable worker that runs math-verify (created on first LaTeX answer)."""
    global _runner
    if _runner is None:
        _runner = IsolatedRunner(
            "lambda_rewards.math_answer.latex:compare",
            warmup="lambda_rewards.math_answer.latex:warmup",
            memory_mb=handler.settings.worker_memory_mb,
        )
    return _runner


def _remember(key: tuple[str, str], verdict: bool | None) -> None:
    _verdicts[key] = verdict
    if len(_verdicts) > _VERDICT_CACHE_SIZE:
        _verdicts.popitem(last=False)


def _symbolic(gold: str, answer: str, budget: Budget) -> Grade:
    key = (gold, answer)
    if key in _verdicts:
        _verdicts.move_to_end(key)
        known = _verdicts[key]
        if known is None:
            return Grade(0.0, {"symbolic": 1.0}, error="timeout")
        return Grade(1.0 if known else 0.0, {"symbolic": 1.0})
    work = runner()
    allowed, started = 0.0, time.monotonic()
    try:
        work.ensure_ready(budget.remaining())  # a cold start is the batch's cost, not this sample's
        allowed = budget.for_sample()
        started = time.monotonic()
        verdict = work.call({"gold": gold, "pred": answer}, allowed)
    except WorkerTimeout:
        if (
            work.is_ready
            and allowed >= budget.per_sample_seconds
            and time.monotonic() - started >= 0.5 * allowed
        ):
            _remember(key, None)
        return Grade(0.0, {"symbolic": 1.0}, error="timeout")
    except WorkerCrashed:
        return Grade(0.0, {"symbolic": 1.0}, error="worker_crashed")
    except WorkerFailed:
        return Grade(0.0, {"symbolic": 1.0}, error="comparison_failed")
    equal = bool(verdict.get("equal")) if isinstance(verdict, dict) else False
    _remember(key, equal)
    return Grade(1.0 if equal else 0.0, {"symbolic": 1.0})


# --------------------------------------------------------------------------- grading


def _items(value: str) -> list[str]:
    """The distinct elements of a list or set answer (``1, 2, 3``, ``\\{1, 2, 3\\}``); one
    element for anything else. A solution written twice is one candidate, not two."""
    inner = value.strip()
    for opening, closing in (("\\{", "\\}"), ("{", "}")):
        if inner.startswith(opening) and inner.endswith(closing):
            inner = inner[len(opening) : -len(closing)]
            break
    return list(dict.fromkeys(canonical_latex(item) for item in top_level_split(inner, ",")))


def _in_gold_order(gold_labels: list[str], answer_labels: list[str], answer: str) -> str | None:
    """The answer's values in the order of the gold's labels (``a_{37} = 19, a_3 = 2`` for
    ``a_3 = 2, a_{37} = 19``), or None when the labels are not the same."""
    gold_keys = [canonical_latex(label) for label in gold_labels]
    answer_keys = [canonical_latex(label) for label in answer_labels]
    if gold_keys == answer_keys:
        return answer
    values = top_level_split(answer, ",")
    if (
        sorted(gold_keys) != sorted(answer_keys)
        or len(set(gold_keys)) != len(gold_keys)
        or len(values) != len(answer_keys)
    ):
        return None
    by_label = dict(zip(answer_keys, values, strict=True))
    return ", ".join(by_label[key].strip() for key in gold_keys)


def _grade_latex(gold: str, answer: str, budget: Budget) -> Grade:
    answer, qualifier = join_text_lists(answer)
    if qualifier is not None:  # "\sqrt2 \text{ else } \sqrt3": words math-verify would drop
        return Grade(0.0, {"hedged": 1.0})
    gold, answer = respell(join_text_lists(gold)[0]), respell(answer)
    labelled_answer = answer
    gold_labels, gold = unlabel(gold, reference=True)
    answer_labels, answer = unlabel(answer)
    if gold_labels and answer_labels:
        reordered = _in_gold_order(gold_labels, answer_labels, answer)
        if reordered is None:
            return Grade(0.0)  # y = 5 is not x = 5
        answer = reordered
    if gold_labels and len(set(gold_labels)) == len(gold_labels) > 1:
        # distinct labels (x_1 = 2, x_2 = 5) name an ordered tuple of values, not a set
        gold = f"({gold})"
        answer = f"({answer})" if len(top_level_split(answer, ",")) > 1 else answer
    gold_var, gold_value, gold_is_equation = split_equation(gold)
    answer_var, answer_value, answer_is_equation = split_equation(answer)
    if gold_is_equation and gold_var is None:
        if answer_labels and not answer_is_equation:  # y = -x/2 + 3/4 for 2x + 4y - 3 = 0
            answer, answer_is_equation = labelled_answer, True
        if not answer_is_equation:
            return Grade(0.0)
        gold_value, answer_value = gold, answer  # compared as equations
    elif answer_is_equation and answer_var is None:
        return Grade(0.0, {"restated_equation": 1.0})
    elif gold_var and answer_var and canonical_latex(gold_var) != canonical_latex(answer_var):
        return Grade(0.0)

    if has_or(answer_value) and not has_or(gold_value):
        return Grade(0.0, {"hedged": 1.0})
    if len(_items(answer_value)) > len(_items(gold_value)):
        return Grade(0.0, {"hedged": 1.0})  # more candidates than the gold has values

    gold_number = parse_number(gold_value)
    if gold_number is not None:
        answer_number = parse_number(answer_value)
        return Grade(1.0 if answer_number is not None and answer_number == gold_number else 0.0)
    if canonical_latex(answer_value) == canonical_latex(gold_value):
        return Grade(1.0)
    refused = guard(answer_value, MAX_ANSWER_CHARS)
    if refused:
        return Grade(0.0, {"refused": 1.0})
    if guard(gold_value, max(MAX_ANSWER_CHARS, 2000)):
        return Grade(0.0, error="unsafe_reference")
    return _symbolic(gold_value, answer_value, budget)


def grade(sample: Sample, budget: Budget) -> Grade:
    """The correctness of one sample's final answer (see the module docstring)."""
    try:
        gold = gold_of(sample.reference)
    except BadReference:
        return Grade(0.0, error="bad_reference")
    text = normalize_unicode(tail(final_answer(sample.response), TAIL_CHARS))
    if not text.strip():
        return Grade(0.0, error="no_answer")
    extraction = extract_answer(text, max_boxes=MAX_BOXES)
    if extraction.hedge:
        return Grade(0.0, {"hedged": 1.0})
    if extraction.answer is None:
        return Grade(0.0, error="no_answer")
    answer = extraction.answer.strip()
    if gold.number is not None:
        value = parse_number(answer)
        if value is None:
            return Grade(0.0, {"unreadable_answer": 1.0})
        variable = strip_assignment(answer)[0]
        if gold.variable and variable and variable != gold.variable:
            return Grade(0.0)
        return Grade(1.0 if value == gold.number else 0.0)
    return _grade_latex(gold.latex or "", answer, budget)


handler = make_handler(grade, reward_name=REWARD_NAME, defaults={"sample_timeout_s": 2.0})
