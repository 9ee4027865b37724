"""code_tests grader on HumanEval: correctness of the judge and throughput of the sandbox.

    python benchmarks/bench_code_tests.py [--workers N] [--batch N]

Reads ``../shared/data/humaneval/HumanEval.jsonl.gz`` (relative to the repository root) and sends
the problems through the Lambda handler in Bedrock's event shape:

* canonical solutions, as a chat model writes them (the whole function in a ```python block):
  all 164 must score 1.0;
* ``pass`` stubs: none may score above 0 (all-or-nothing scoring pays nothing for passing only the
  asserts that expect None);
* the canonical bodies alone, HumanEval's completion style (the grader prepends the prompt).

Prints problems/s, p50/p99 of one problem's sandboxed run, CPU per problem (grader and children:
unlike problems/s, not skewed by other work on the machine) with the rate it allows on idle cores,
the grader's and the launcher's peak RSS, and the load average (the machine may be shared). Target
on a 2-core machine: >= 25 problems/s.

    python benchmarks/bench_code_tests.py --data /path/to/HumanEval.jsonl.gz
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "humaneval" / "HumanEval.jsonl.gz"


def _reference(problem: dict, with_prompt: bool) -> dict:
    """The full HumanEval reference, or only {test, entry_point}: the helpers then come from the
    user message."""
    reference = {"test": problem["test"], "entry_point": problem["entry_point"]}
    return {**reference, "prompt": problem["prompt"]} if with_prompt else reference


def _event(problems: list[dict], answer, with_prompt: bool = True) -> list[dict]:
    return [
        {
            "id": problem["task_id"],
            "messages": [
                {"role": "user", "content": "Complete this function:\n" + problem["prompt"]},
                {"role": "assistant", "content": answer(problem)},
            ],
            "metadata": {"reference_answer": _reference(problem, with_prompt)},
        }
        for problem in problems
    ]


def _metric(result: dict, name: str) -> float | None:
    for metric in result["metrics_list"]:
        if metric["name"] == name:
            return metric["value"]
    return None


def _launcher_stat() -> tuple[float, float]:
    """CPU seconds of the launcher and of the children it reaped; its peak RSS in MB."""
    from lambda_rewards.code_tests.launcher import LAUNCHER

    process = LAUNCHER._process
    if process is None:
        return 0.0, 0.0
    try:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{process.pid}/status").read_text()
    except OSError:
        return 0.0, 0.0
    ticks = sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime..cstime
    peak = next(
        (int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM")), 0.0
    )
    return ticks, peak


def _cpu_seconds() -> float:
    """The grader's CPU, and the launcher's with every child it forked and reaped."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime + _launcher_stat()[0]


def _run(
    handler, problems: list[dict], answer, batch: int, with_prompt: bool = True
) -> tuple[list[dict], float, float]:
    """Results, wall seconds, CPU seconds (grader + every child, whatever else runs on the box)."""
    results: list[dict] = []
    started, cpu = time.perf_counter(), _cpu_seconds()
    for start in range(0, len(problems), batch):
        with contextlib.redirect_stdout(io.StringIO()):  # the batch log lines (EMF)
            results += handler(_event(problems[start : start + batch], answer, with_prompt), None)
    return results, time.perf_counter() - started, _cpu_seconds() - cpu


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, help="CODE_TESTS_WORKERS (default: the grader's)")
    parser.add_argument("--batch", type=int, default=64, help="samples per handler call (default 64)")
    parser.add_argument("--data", type=Path, default=DATA, help=f"HumanEval.jsonl.gz (default {DATA})")
    args = parser.parse_args()
    if not args.data.exists():
        print(f"bench_code_tests: skipped, {args.data} not found")
        return 0
    if args.workers:
        os.environ["CODE_TESTS_WORKERS"] = str(args.workers)
    sys.path.insert(0, str(ROOT))
    from lambda_rewards.code_tests import handler as module
    from lambda_rewards.code_tests.sandbox import hardening_flags

    with gzip.open(args.data, "rt", encoding="utf-8") as stream:
        problems = [json.loads(line) for line in stream if line.strip()]
    flags = hardening_flags()
    print(
        f"HumanEval: {len(problems)} problems, workers={module.SETTINGS.workers}, batch={args.batch}, "
        f"cpus={os.cpu_count()}, python={sys.version.split()[0]}, "
        f"hardening={flags} (complete: UCNDS)"
    )
    _run(module.handler, problems[:2], lambda p: p["canonical_solution"], 2)  # warm up

    def fenced(p: dict) -> str:
        return f"Here it is:\n```python\n{p['prompt']}{p['canonical_solution']}```\n"

    runs = {  # label: (answer, reference carries the prompt)
        "canonical (fenced function)": (fenced, True),
        "canonical (completion body)": (lambda p: p["canonical_solution"], True),
        "canonical, no prompt in ref": (fenced, False),
        "body, no prompt in ref": (lambda p: p["canonical_solution"], False),
        "pass stubs": (lambda p: f"```python\n{p['prompt']}    pass\n```", True),
        "pass stubs, no prompt in ref": (lambda p: f"```python\n{p['prompt']}    pass\n```", False),
    }
    failures = 0
    for label, (answer, with_prompt) in runs.items():
        results, seconds, cpu = _run(module.handler, problems, answer, args.batch, with_prompt)
        scores = [result["aggregate_reward_score"] for result in results]
        full = sum(score == 1.0 for score in scores)
        runs_s = [value for result in results if (value := _metric(result, "run_seconds")) is not None]
        errors = sum(
            any(m["name"].startswith("error_") for m in result["metrics_list"]) for result in results
        )
        print(
            f"  {label:28s} passed {full:3d}/{len(problems)}  mean {statistics.fmean(scores):.3f}  "
            f"errors {errors:2d}  {len(problems) / seconds:6.1f} problems/s  "
            f"run p50 {_quantile(runs_s, 0.5) * 1000:5.1f} ms  p99 {_quantile(runs_s, 0.99) * 1000:6.1f} ms  "
            f"CPU {cpu / len(problems) * 1000:4.1f} ms/problem "
            f"(= {os.cpu_count() * len(problems) / cpu:4.0f}/s on {os.cpu_count()} idle cores)"
        )
        stubs = label.startswith("pass stubs")
        expected = 0 if stubs else len(problems)
        if full != expected or (stubs and any(scores)):
            failures += 1
            for problem, score in zip(problems, scores, strict=True):
                if (score == 1.0) != (expected > 0):
                    print(f"    unexpected: {problem['task_id']} scored {score:.3f}")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS: grader process {own:.0f} MB, launcher {_launcher_stat()[1]:.0f} MB")
    print(f"  load average while measuring: {' '.join(f'{value:.1f}' for value in os.getloadavg())}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
