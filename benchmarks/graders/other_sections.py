"""Benchmark sections of the other graders (json_schema, llm_judge with a stubbed Bedrock) and
the import time of each grader. Each runs in its own interpreter (see ``benchmarks/bench_rewards.py``)."""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
from typing import Any

from benchmarks.graders.harness import ROOT, Context, percentiles_ms, quiet_call, report, sample

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
