"""The math grader against Math-Verify's own labelled cases, both graders side by side.

    python benchmarks/bench_math_conformance.py            # figures
    python benchmarks/bench_math_conformance.py --list     # and every case the grader decides otherwise

The cases are the (gold, pred, expected) triples of huggingface/Math-Verify's ``tests/``
(``benchmarks/data/math_verify_cases.jsonl``, extracted by ``benchmarks/math_verify_cases.py``;
Apache-2.0, see ``benchmarks/data/MATH_VERIFY_LICENSE`` and ``NOTICE``). Issue 18's set is the 252
cases without ``test_yujianll.py`` (labelled by a ``result`` field) and ``test_strict.py`` (whose
two labels are the two values of math-verify's ``strict`` switch); all cases are reported too.

math-verify is run twice: as its suite runs each case (the case's ``match_types``, ``precision``,
``strict``, ``allow_set_relation_comp``) and with its defaults (``verify(parse(gold),
parse(pred))``, as a user calls it). ``math_answer`` is run through its Lambda handler in batches
of 64, the gold answer as the reference and the prediction as the response. Where the grader
decides otherwise, README.md ("math_answer: what counts as the same answer") names the policy.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.graders.harness import Context, quiet_call, sample  # noqa: E402
from benchmarks.math_verify_cases import load  # noqa: E402

ISSUE_SET_EXCLUDES = ("tests/test_yujianll.py", "tests/test_strict.py")
BATCH = 64


def math_verify_as_suite(case: dict) -> int:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    if case.get("match_types") is None:
        return int(verify(parse(case["gold"]), parse(case["pred"])))
    targets = [
        LatexExtractionConfig(boxed_match_priority=0) if kind == "latex" else ExprExtractionConfig()
        for kind in case["match_types"]
    ]
    return int(
        verify(
            parse(case["gold"], targets),
            parse(case["pred"], targets),
            float_rounding=case.get("precision", 6),
            strict=case.get("strict", True),
            allow_set_relation_comp=case.get("allow_set_relation_comp", False),
        )
    )


def math_verify_defaults(case: dict) -> int:
    from math_verify import parse, verify

    return int(verify(parse(case["gold"]), parse(case["pred"])))


def math_answer(cases: list[dict]) -> tuple[list[int], list[list[str]], float]:
    from lambda_rewards.math_answer import handler

    samples = [sample(f"c{i}", "problem", case["pred"], case["gold"]) for i, case in enumerate(cases)]
    quiet_call(handler.handler, [sample("warm", "p", "\\boxed{\\sqrt{2}}", "\\sqrt{3}")], Context(300))
    started = time.perf_counter()
    results: list[dict] = []
    for offset in range(0, len(samples), BATCH):
        results += quiet_call(handler.handler, samples[offset : offset + BATCH], Context(300))
    elapsed = time.perf_counter() - started
    verdicts = [int(result["aggregate_reward_score"] == 1.0) for result in results]
    metrics = [[metric["name"] for metric in result["metrics_list"][1:]] for result in results]
    return verdicts, metrics, elapsed


def timed(grader: Any, cases: list[dict]) -> tuple[list[int], float]:
    import logging

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    logging.getLogger("latex2sympy2_extended").setLevel(logging.CRITICAL)
    started = time.perf_counter()
    verdicts = [grader(case) for case in cases]
    return verdicts, time.perf_counter() - started


def figures(verdicts: list[int], cases: list[dict], chosen: list[int]) -> str:
    agree = sum(verdicts[i] == cases[i]["expected"] for i in chosen)
    false_positive = sum(verdicts[i] == 1 and cases[i]["expected"] == 0 for i in chosen)
    false_negative = sum(verdicts[i] == 0 and cases[i]["expected"] == 1 for i in chosen)
    return (
        f"{agree:>3}/{len(chosen)} = {100 * agree / len(chosen):5.1f}%   "
        f"FP {false_positive:>2}  FN {false_negative:>3}"
    )


def main(argv: list[str]) -> int:
    cases = load()
    issue_set = [i for i, case in enumerate(cases) if not case["source"].startswith(ISSUE_SET_EXCLUDES)]
    ours, metrics, ours_seconds = math_answer(cases)
    suite, suite_seconds = timed(math_verify_as_suite, cases)
    defaults, defaults_seconds = timed(math_verify_defaults, cases)
    print(f"Math-Verify's labelled cases: {len(cases)} in all, {len(issue_set)} in issue 18's set")
    print(f"{'grader':<38} {'issue 18 set (252)':<33} all cases")
    for name, verdicts, seconds in (
        ("math_answer (handler, isolated worker)", ours, ours_seconds),
        ("math-verify as its suite runs it", suite, suite_seconds),
        ("math-verify with its defaults", defaults, defaults_seconds),
    ):
        chosen = figures(verdicts, cases, issue_set)
        everything = figures(verdicts, cases, list(range(len(cases))))
        print(f"{name:<38} {chosen:<33} {everything}   {len(cases) / seconds:,.0f} cases/s")
    target = sum(ours[i] == cases[i]["expected"] for i in issue_set) / len(issue_set)
    print(f"target >= 90% agreement on issue 18's set: {'met' if target >= 0.9 else 'MISSED'}")
    if "--list" in argv:
        print("\ncases math_answer decides otherwise than the label (source:line, label, metrics):")
        for i, case in enumerate(cases):
            if ours[i] != case["expected"]:
                where = f"{case['source']}:{case['line']}"
                print(f"  {where}  label {case['expected']}  {metrics[i]}")
                print(f"      gold {case['gold'][-90:]!r}\n      pred {case['pred'][-90:]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
