"""Grader benchmarks: math_answer (numeric and LaTeX), json_schema, llm_judge (stubbed Bedrock).

    python benchmarks/bench_rewards.py            # every section, each in its own process
    python benchmarks/bench_rewards.py math_numeric math_latex   # some of them

Each section runs in a fresh interpreter so its peak memory (``resource.getrusage``) is its own,
and prints its figures next to the targets of issue 3. The numeric math section reads GSM8K from
``../shared/data/gsm8k`` (relative to the repository) and is skipped, with a message, when it is
absent. The other sections generate their data here (no MATH dataset ships with the project):
LaTeX pairs from templates (equivalent and wrong forms, including math-verify's known false
positives), hostile answers, JSON documents, and a Bedrock stub with latency and throttling.
Caches are cleared before each timed run and every answer is distinct, so cache hits are only the
ones a GRPO batch really has (one gold answer per prompt group).
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))

TARGETS = {
    "math_numeric": "math numeric answers >= 20,000 samples/s on one core",
    "math_latex": "LaTeX answers >= 50 samples/s with isolation",
    "math_hostile": "256 hostile samples answered in full within the deadline",
    "imports": "math handler import <= 200 ms (no LaTeX involved)",
    "memory": "every grader within 512 MB",
}
MEMORY_LIMIT_MB = 512


class Context:
    """A Lambda context with a fixed timeout from creation."""

    def __init__(self, seconds: float) -> None:
        self._deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def sample(sample_id: str, prompt: str, response: str, reference: Any) -> dict:
    return {
        "id": sample_id,
        "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}],
        "metadata": {"reference_answer": reference},
    }


def quiet_call(handler: Any, batch: list[dict], context: Any = None) -> list[dict]:
    with redirect_stdout(io.StringIO()):
        return handler(batch, context)


def percentiles_ms(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))] * 1000  # noqa: E731
    return f"p50 {pick(0.5):.3f} ms, p99 {pick(0.99):.3f} ms"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(name: str, lines: list[str], extra_rss: dict[str, float] | None = None) -> None:
    rss = peak_rss_mb()
    print(f"\n== {name}" + (f"   [target: {TARGETS[name]}]" if name in TARGETS else ""))
    for line in lines:
        print(f"   {line}")
    memory = f"peak RSS {rss:.0f} MB (handler process)"
    for label, value in (extra_rss or {}).items():
        memory += f", {label} {value:.0f} MB"
    worst = max([rss, *(extra_rss or {}).values()])
    memory += f"   [target: <= {MEMORY_LIMIT_MB} MB: {'met' if worst <= MEMORY_LIMIT_MB else 'MISSED'}]"
    print(f"   {memory}")


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


def latex_cases() -> list[tuple[str, str, float]]:
    """(gold, answer, expected score): MATH-style answers from templates, each gold with
    equivalent and wrong forms (including math-verify's known false positives)."""
    cases: list[tuple[str, str, float]] = []
    for k in range(2, 42):
        groups = [
            (
                f"\\frac{{\\sqrt{{{k}}}}}{{2}}",
                [f"\\frac{{1}}{{2}}\\sqrt{{{k}}}", f"\\sqrt{{{k}}}/2"],
                [f"\\frac{{\\sqrt{{{k + 1}}}}}{{2}}"],
            ),
            (
                f"{k}\\sqrt{{2}}",
                [f"\\sqrt{{{2 * k * k}}}", f"\\frac{{{2 * k}}}{{\\sqrt{{2}}}}"],
                [f"\\sqrt{{{2 * k}}}"],
            ),
            (f"({k}, {k + 3}]", [f"\\left({k},{k + 3}\\right]"], [f"[{k}, {k + 3}]"]),
            (f"x^2+{2 * k}x+{k * k}", [f"(x+{k})^2"], [f"(x-{k})^2"]),
            (
                f"\\frac{{{k}\\pi}}{{{k + 1}}}",
                [f"\\frac{{{k}}}{{{k + 1}}}\\pi"],
                [f"\\frac{{{k + 1}\\pi}}{{{k}}}"],
            ),
            (f"\\frac{{1}}{{{2000 + k}!}}", [f"1/{2000 + k}!"], [f"\\frac{{1}}{{{2002 + k}!}}"]),
            (f"2^{{-{90 + k}}}", [f"\\frac{{1}}{{2^{{{90 + k}}}}}"], [f"\\frac{{1}}{{2^{{{89 + k}}}}}"]),
            (f"e^{{{k}}}", [f"\\exp({k})"], [f"e^{{{k + 1}}}"]),
            (f"\\{{1, {k}\\}}", [f"\\{{{k},1\\}}"], [f"\\{{1, {k + 1}\\}}"]),
            (f"y={k}x+1", [f"y = 1 + {k}x"], [f"y={k}x-1"]),
            (
                f"1-\\frac{{1}}{{e^{{{k}}}}}",
                [f"\\frac{{e^{{{k}}}-1}}{{e^{{{k}}}}}"],
                [f"1+\\frac{{1}}{{e^{{{k}}}}}"],
            ),
            (f"{k}-2i", [f"-2i+{k}"], [f"{k}+2i"]),
        ]
        for gold, right, wrong in groups:
            cases += [(gold, answer, 1.0) for answer in right] + [(gold, answer, 0.0) for answer in wrong]
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


# --------------------------------------------------------------------------- imports


def bench_imports() -> None:
    lines = []
    for reward in ("math_answer", "json_schema", "llm_judge"):
        code = (
            "import time; t = time.perf_counter(); "
            f"import lambda_rewards.{reward}.handler; "
            "print(time.perf_counter() - t)"
        )
        runs = []
        for _ in range(5):
            out = subprocess.run(
                [sys.executable, "-c", code],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
                env={**os.environ, "JUDGE_MODEL_ID": "bench-model"},
            )
            runs.append(float(out.stdout.strip().splitlines()[-1]) * 1000)
        median = statistics.median(runs)
        verdict = f" [{'met' if median <= 200 else 'MISSED'}]" if reward == "math_answer" else ""
        lines.append(f"{reward}: import {median:.0f} ms (median of 5 fresh interpreters){verdict}")
    report("imports", lines)


# --------------------------------------------------------------------------- json_schema


SCHEMA = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{6}$"},
        "customer": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "email": {"type": "string"}},
            "required": ["name"],
        },
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
                "required": ["sku", "qty"],
            },
        },
        "total": {"type": "number", "minimum": 0},
    },
    "required": ["order_id", "items", "total"],
    "additionalProperties": False,
}


def bench_json() -> None:
    from lambda_rewards.json_schema import handler as js

    rng = random.Random(3)
    samples = []
    for i in range(20_000):
        doc = {
            "order_id": f"AB-{i:06d}",
            "customer": {"name": f"Customer {i}", "email": f"c{i}@example.com"},
            "items": [{"sku": f"S{j}", "qty": rng.randint(1, 5)} for j in range(rng.randint(1, 6))],
            "total": round(rng.uniform(1, 500), 2),
        }
        reference = {"schema": SCHEMA, "expected": doc}
        kind = i % 5
        if kind == 0:
            text = json.dumps(doc)
        elif kind == 1:
            text = "```json\n" + json.dumps(doc, indent=2) + "\n```"
        elif kind == 2:
            text = json.dumps({**doc, "total": doc["total"] + 1})
        elif kind == 3:
            text = json.dumps(doc)[:-1] + ', "total": NaN}'
        else:
            text = json.dumps({**doc, "extra": True})
        samples.append(sample(f"j{i}", "make the order", text, reference))
    hostile = [
        "[" * 100_000 + "]" * 100_000,
        '{"a": "' + "x" * 5_000_000 + '"}',
        '{"a": ' + "9" * 100_000 + "}",
        '{"a": 1, "a": 2}',
    ]
    samples += [sample(f"x{i}", "p", text, {"schema": SCHEMA}) for i, text in enumerate(hostile)]
    js._validator.cache_clear()
    started = time.perf_counter()
    results = []
    for offset in range(0, len(samples), 64):
        results += quiet_call(js.handler, samples[offset : offset + 64])
    elapsed = time.perf_counter() - started
    from lambda_rewards.common.contract import Budget, parse_sample

    budget = Budget(1.0, time.monotonic() + 3600)
    latencies = []
    for raw in samples[:5000] + samples[-4:]:
        t = time.perf_counter()
        js.grade(parse_sample(raw), budget)
        latencies.append(time.perf_counter() - t)
    mean = statistics.mean(r["aggregate_reward_score"] for r in results)
    report(
        "json_schema",
        [
            f"{len(samples):,} answers (valid, fenced, wrong field, NaN, extra key, 4 hostile up to 5 MB)",
            f"throughput {len(samples) / elapsed:,.0f} samples/s; per sample {percentiles_ms(latencies)}",
            f"mean score {mean:.3f} (about {(2 + 0.75) / 5:.3f}: 2/5 exact, 1/5 partial, 2/5 rejected)",
        ],
    )


# --------------------------------------------------------------------------- llm_judge


def bench_judge() -> None:
    import threading

    from botocore.exceptions import ClientError

    from lambda_rewards.llm_judge.handler import make_judge_handler

    class StubBedrock:
        """Converse with 150 ms latency; 10% of calls throttled."""

        def __init__(self) -> None:
            self.calls = 0
            self.lock = threading.Lock()
            self.rng = random.Random(5)

        def converse(self, **request: Any) -> dict:
            with self.lock:
                self.calls += 1
                throttled = self.rng.random() < 0.1
            time.sleep(0.15)
            if throttled:
                raise ClientError(
                    {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "Converse"
                )
            return {"output": {"message": {"content": [{"text": '{"score": 7, "reason": "fine"}'}]}}}

    lines = []
    for concurrency in (1, 8, 16):
        stub = StubBedrock()
        handler = make_judge_handler(
            client_factory=lambda stub=stub: stub,
            environ={
                "JUDGE_MODEL_ID": "stub",
                "JUDGE_RUBRIC": "be right",
                "JUDGE_MAX_CONCURRENCY": str(concurrency),
            },
        )
        samples = [sample(f"q{i}", f"question {i}", f"answer {i}", "ideal") for i in range(64)]
        started = time.perf_counter()
        results = quiet_call(handler, samples, Context(300))
        elapsed = time.perf_counter() - started
        graded = sum(r["aggregate_reward_score"] == 0.7 for r in results)
        lines.append(
            f"concurrency {concurrency:>2}: 64 samples in {elapsed:.2f} s ({64 / elapsed:.1f} samples/s), "
            f"{stub.calls} calls, {graded}/64 graded after retries"
        )
    report("llm_judge (stubbed Bedrock, 150 ms per call, 10% throttled)", lines)


# --------------------------------------------------------------------------- driver

SECTIONS = {
    "imports": bench_imports,
    "math_numeric": bench_math_numeric,
    "math_latex": bench_math_latex,
    "math_hostile": bench_math_hostile,
    "json_schema": bench_json,
    "llm_judge": bench_judge,
}


def main(argv: list[str]) -> int:
    if argv[:1] == ["--section"]:
        SECTIONS[argv[1]]()
        return 0
    chosen = argv or list(SECTIONS)
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown:
        print(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}", file=sys.stderr)
        return 2
    print(f"rewards benchmarks on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    failed = 0
    for name in chosen:
        done = subprocess.run([sys.executable, __file__, "--section", name], cwd=ROOT, check=False)
        failed += done.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
