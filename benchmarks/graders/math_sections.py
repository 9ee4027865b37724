"""Benchmark sections of the math grader: GSM8K numeric answers, MATH-style LaTeX answers, and a
hostile batch. Each runs in its own interpreter (see ``benchmarks/bench_rewards.py``)."""

from __future__ import annotations

import json
import os
import random
import re
import statistics
import sys
import time
from string import Template
from typing import Any

from benchmarks.graders.harness import DATA, Context, percentiles_ms, quiet_call, report, sample

# --------------------------------------------------------------------------- math: numeric


def gsm8k_rows() -> list[dict] | None:
    rows = []
    for name in ("test.jsonl", "train.jsonl"):
        path = DATA / "gsm8k" / name
        if not path.is_file():
            return None
        rows += [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    return rows


def numeric_rollouts(rows: list[dict]) -> tuple[list[dict], list[float]]:
    """Four rollouts per GSM8K problem, as a policy writes them: the worked solution ending in
    ``#### N``, a boxed answer after prose, "The answer is N." with a thousands separator or
    decimals, and a wrong answer. Gold: the dataset's full solution (``#### N``)."""
    rng = random.Random(7)
    samples, expected = [], []
    for index, row in enumerate(rows):
        solution = re.sub(r"<<[^>]*>>", "", row["answer"])  # calculator annotations
        gold_text = solution.rsplit("####", 1)[1].strip()
        gold = int(gold_text.replace(",", ""))
        work = solution.rsplit("####", 1)[0].strip()
        rollouts = [
            (f"{work}\n#### {gold_text}", 1.0),
            (f"{work}\nSo the total is $\\boxed{{{gold}}}$ dollars.", 1.0),
            (f"{work}\nThe answer is {gold:,}.{'0' * rng.randint(0, 2)}".rstrip("."), 1.0),
            (f"{work}\n#### {gold + rng.choice([-2, -1, 1, 10])}", 0.0),
        ]
        for rollout, (text, score) in enumerate(rollouts):
            samples.append(sample(f"{index}-{rollout}", row["question"], text, row["answer"]))
            expected.append(score)
    return samples, expected


def bench_math_numeric() -> None:
    rows = gsm8k_rows()
    if rows is None:
        print(f"\n== math_numeric: skipped, GSM8K not found under {DATA / 'gsm8k'}")
        return
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    from lambda_rewards.common.contract import Budget, parse_sample
    from lambda_rewards.math_answer import handler as math
    from lambda_rewards.math_answer.numeric import parse_number

    samples, expected = numeric_rollouts(rows)
    batch_size = 64
    best = 0.0
    results: list[dict] = []
    for _ in range(3):
        parse_number.cache_clear()
        math._gold_from_text.cache_clear()
        started = time.perf_counter()
        results = []
        for offset in range(0, len(samples), batch_size):
            results += quiet_call(math.handler, samples[offset : offset + batch_size])
        best = max(best, len(samples) / (time.perf_counter() - started))
    agree = sum(r["aggregate_reward_score"] == e for r, e in zip(results, expected, strict=True))
    parse_number.cache_clear()
    math._gold_from_text.cache_clear()
    budget = Budget(2.0, time.monotonic() + 3600)
    latencies = []
    for raw in samples[:20_000]:
        started = time.perf_counter()
        math.grade(parse_sample(raw), budget)
        latencies.append(time.perf_counter() - started)
    heavy = sorted(m for m in ("sympy", "math_verify", "mpmath") if m in sys.modules)
    report(
        "math_numeric",
        [
            f"{len(samples):,} GSM8K rollouts ({len(rows):,} problems x 4), batches of {batch_size}, 1 core",
            f"throughput {best:,.0f} samples/s through the handler [{'met' if best >= 20_000 else 'MISSED'}]",
            f"per sample (grade only): {percentiles_ms(latencies)}",
            f"scores agree with the intended label on {agree:,}/{len(samples):,} rollouts",
            f"symbolic libraries loaded: {heavy or 'none'}",
        ],
    )


# --------------------------------------------------------------------------- math: LaTeX


# MATH-style answers as templates of k (2 to 41): a gold answer | the forms equal to it | forms that
# are not (including math-verify's known false positives). Forms are separated by " ; ", and a $name
# stands for a number latex_numbers computes from k.
LATEX_GROUPS = r"""
\frac{\sqrt{$k}}{2}      | \frac{1}{2}\sqrt{$k} ; \sqrt{$k}/2              | \frac{\sqrt{$k_plus_1}}{2}
$k\sqrt{2}               | \sqrt{$two_k_squared} ; \frac{$two_k}{\sqrt{2}} | \sqrt{$two_k}
($k, $k_plus_3]          | \left($k,$k_plus_3\right]                       | [$k, $k_plus_3]
x^2+${two_k}x+$k_squared | (x+$k)^2                                        | (x-$k)^2
\frac{$k\pi}{$k_plus_1}  | \frac{$k}{$k_plus_1}\pi                         | \frac{$k_plus_1\pi}{$k}
\frac{1}{$big!}          | 1/$big!                                         | \frac{1}{$bigger!}
2^{-$power}              | \frac{1}{2^{$power}}                            | \frac{1}{2^{$power_less_1}}
e^{$k}                   | \exp($k)                                        | e^{$k_plus_1}
\{1, $k\}                | \{$k,1\}                                        | \{1, $k_plus_1\}
y=${k}x+1                | y = 1 + ${k}x                                   | y=${k}x-1
1-\frac{1}{e^{$k}}       | \frac{e^{$k}-1}{e^{$k}}                         | 1+\frac{1}{e^{$k}}
$k-2i                    | -2i+$k                                          | $k+2i
"""


def latex_numbers(k: int) -> dict[str, int]:
    return {
        "k": k,
        "k_plus_1": k + 1,
        "k_plus_3": k + 3,
        "two_k": 2 * k,
        "k_squared": k * k,
        "two_k_squared": 2 * k * k,
        "big": 2000 + k,
        "bigger": 2002 + k,
        "power": 90 + k,
        "power_less_1": 89 + k,
    }


def latex_cases() -> list[tuple[str, str, float]]:
    """(gold, answer, expected score) for every group of LATEX_GROUPS and every k."""
    groups = [[part.strip() for part in line.split("|")] for line in LATEX_GROUPS.strip().splitlines()]
    cases: list[tuple[str, str, float]] = []
    for k in range(2, 42):
        numbers = latex_numbers(k)
        for gold, right, wrong in groups:
            gold_k = Template(gold).substitute(numbers)
            cases += [(gold_k, Template(form).substitute(numbers), 1.0) for form in right.split(" ; ")]
            cases += [(gold_k, Template(form).substitute(numbers), 0.0) for form in wrong.split(" ; ")]
    return cases


def bench_math_latex() -> None:
    from lambda_rewards.math_answer import handler as math

    cases = latex_cases()
    samples = [
        sample(f"l{i}", f"problem {gold}", f"Simplifying, the answer is $\\boxed{{{answer}}}$.", gold)
        for i, (gold, answer, _) in enumerate(cases)
    ]
    started = time.perf_counter()
    quiet_call(math.handler, [sample("warm", "p", "\\boxed{\\sqrt{2}}", "\\sqrt{3}")])
    cold = time.perf_counter() - started
    math._verdicts.clear()
    batch_size = 64
    latencies = []
    results: list[dict] = []
    started = time.perf_counter()
    for offset in range(0, len(samples), batch_size):
        batch_started = time.perf_counter()
        results += quiet_call(math.handler, samples[offset : offset + batch_size])
        latencies.append((time.perf_counter() - batch_started) / len(samples[offset : offset + batch_size]))
    elapsed = time.perf_counter() - started
    rate = len(samples) / elapsed
    agree = sum(r["aggregate_reward_score"] == case[2] for r, case in zip(results, cases, strict=True))
    symbolic = sum(any(m["name"] == "symbolic" for m in r["metrics_list"]) for r in results)
    false_positive = sum(
        r["aggregate_reward_score"] == 1.0 and c[2] == 0.0 for r, c in zip(results, cases, strict=True)
    )
    memory = math.runner().memory_report()
    report(
        "math_latex",
        [
            f"{len(samples):,} LaTeX answers ({len({c[0] for c in cases})} golds), batches of {batch_size}",
            f"throughput {rate:,.1f} samples/s, killable worker [{'met' if rate >= 50 else 'MISSED'}]",
            f"mean per sample {statistics.mean(latencies) * 1000:.1f} ms; {symbolic:,} compared symbolically",
            f"agreement with labels {agree:,}/{len(samples):,}; false positives {false_positive}",
            f"first LaTeX sample of a cold process (zygote import + warm-up): {cold:.2f} s",
            f"worker stats: {math.runner().stats}",
        ],
        {"zygote": memory["zygote_peak_rss_mb"], "worker": memory["worker_peak_rss_mb"]},
    )


def hostile_answers() -> list[tuple[str, Any, float]]:
    """256 hostile (response, gold, expected score) triples. Most are refused by the guards; a few
    pass them and are slow (the worker's time limit stops them); two kinds are right answers in a
    hostile wrapping and must still score 1."""
    one_mb = 1_000_000
    kinds: list[tuple[str, Any, float]] = [
        ("\\boxed{9^{9^{9^{9}}}}", "\\sqrt{2}", 0.0),
        ("\\boxed{2^{2^{2^{2^{2}}}}}", "65536", 0.0),
        ("\\boxed{10^{100000}}", "\\sqrt{2}", 0.0),
        ("\\boxed{(10^{10})!}", "\\sqrt{2}", 0.0),
        ("\\boxed{99999!}", 5, 0.0),
        ("\\boxed{" + "9" * 5000 + "}", 5, 0.0),
        ("\\boxed{" + "\\frac{1}{" * 400 + "1" + "}" * 400 + "}", "\\sqrt{2}", 0.0),
        ("\\boxed{" + "(" * 3000 + "x" + ")" * 3000 + "}", "x", 0.0),
        ("\\boxed{" + "[" * 50_000 + "}", "\\sqrt{2}", 0.0),
        ("\\boxed{" + "x+" * 5000 + "1}", "x+1", 0.0),
        ("".join(f"\\boxed{{{i}}}" for i in range(20_000)), 5, 0.0),
        ("\\boxed{\\sin(\\sin(\\sin(\\sin(\\sin(\\sin(\\sin(\\sin(\\sin(x)))))))))}", "\\sin x", 0.0),
        ("\\boxed{(x+1)^{9999}}", "(1+x)^{9999}", 1.0),  # right, and expensive-looking
        ("\\boxed{x^{9999}-1}", "(x-1)(x^{9998}+1)", 0.0),
        ("\u202e\\boxed{3}\u202c" * 2000, 3, 0.0),
        ("\\boxed{" + "\\sqrt{" * 12 + "2" + "}" * 12 + "}", "\\sqrt{3}", 0.0),
    ]
    out = [kinds[i % len(kinds)] for i in range(232)]
    # pass every guard, then overrun the per-sample budget (distinct, so no verdict is reused)
    out += [(f"\\boxed{{{i}}}", f"\\sum_{{k=1}}^{{{990 + i}}} k^{{k}}", 0.0) for i in range(8)]
    out += [("A" * one_mb + "\\boxed{3}", 3, 1.0)] * 4 + [("\\boxed{3}" + "A" * one_mb, 3, 0.0)] * 4
    out += [("\\boxed{" + "1" * one_mb + "}", 1, 0.0)] * 4 + [("{" * one_mb, "\\sqrt{2}", 0.0)] * 4
    return out


def _hostile_run(math: Any, samples: list[dict], lambda_timeout: float) -> tuple[list[dict], float]:
    started = time.perf_counter()
    results = quiet_call(math.handler, samples, Context(lambda_timeout))
    return results, time.perf_counter() - started


def bench_math_hostile() -> None:
    from lambda_rewards.math_answer import handler as math

    triples = hostile_answers()
    samples = [sample(f"h{i}", "p", text, gold) for i, (text, gold, _) in enumerate(triples)]
    payload_mb = len(json.dumps(samples)) / 1e6
    quiet_call(math.handler, [sample("warm", "p", "\\boxed{\\sqrt{2}}", "\\sqrt{3}")])
    lambda_timeout = 300.0  # what the AWS samples configure; the handler keeps a 3 s margin
    results, elapsed = _hostile_run(math, samples, lambda_timeout)
    answered = [r["id"] for r in results] == [s["id"] for s in samples]
    wrong = sum(r["aggregate_reward_score"] != t[2] for r, t in zip(results, triples, strict=True))
    reasons: dict[str, int] = {}
    for r in results:
        for m in r["metrics_list"][1:]:
            reasons[m["name"]] = reasons.get(m["name"], 0) + 1
    ok = answered and elapsed < lambda_timeout - 3 and wrong == 0

    # The same kind of batch under a short Lambda timeout: 256 distinct answers that each pass the
    # guards and overrun their 2 s budget (512 s of work): the batch deadline answers the rest.
    slow = [
        sample(f"s{i}", "p", f"\\boxed{{{i}}}", f"\\sum_{{k=1}}^{{{700 + i}}} k^{{k}}") for i in range(256)
    ]
    short_timeout = 30.0
    slow_results, slow_elapsed = _hostile_run(math, slow, short_timeout)
    slow_answered = [r["id"] for r in slow_results] == [s["id"] for s in slow]
    slow_timeouts = sum(any(m["name"] == "error_timeout" for m in r["metrics_list"]) for r in slow_results)
    slow_ok = slow_answered and slow_elapsed < short_timeout
    report(
        "math_hostile",
        [
            f"{len(samples)} hostile samples ({payload_mb:.1f} MB: towers, 1 MB outputs, nesting, slow sums)",
            f"answered {len(results)}/{len(samples)} in order in {elapsed:.2f} s of a {lambda_timeout:.0f} s "
            f"Lambda timeout; scores as intended for {len(samples) - wrong}/{len(samples)} "
            f"[{'met' if ok else 'MISSED'}]",
            f"metrics: {dict(sorted(reasons.items()))}",
            f"256 guard-passing answers each overrunning 2 s, {short_timeout:.0f} s Lambda timeout: answered "
            f"{len(slow_results)}/256 in {slow_elapsed:.2f} s, {slow_timeouts} timeouts "
            f"[{'met' if slow_ok else 'MISSED'}]",
            f"worker stats: {math.runner().stats}",
        ],
        {f"{k.split('_')[0]}": v for k, v in math.runner().memory_report().items()},
    )
