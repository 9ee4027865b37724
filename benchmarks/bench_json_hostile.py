"""Benchmark: hostile json_schema answers cost a sample far less than its 1 s budget.

Each answer is built to make a naive pre-parse check quadratic (an unterminated string of escaped
quotes after ``[["``, a fence opener followed by a run of spaces, ...). Each is graded through the
deployed handler at 40 KB and at the 256 KB size limit (least CPU time of five: other processes
on a shared machine do not count), and the growth from 32 KB to 256 KB is printed: about 8x is
linear, about 64x quadratic. Exits 1 when a 256 KB answer takes more than a tenth of the sample
budget.

    python benchmarks/bench_json_hostile.py
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lambda_rewards.json_schema import handler as js

REFERENCE = {"schema": {"type": "array"}}
BUDGET_SECONDS = 1.0
TARGET_SECONDS = BUDGET_SECONDS / 10

HOSTILE: dict[str, Callable[[int], str]] = {
    '[[" + \\" * N': lambda size: '[["' + '\\"' * ((size - 3) // 2),
    "``` + spaces * N": lambda size: "```" + " " * (size - 4) + "x",
    '[" + \\\\" * N': lambda size: '["' + '\\\\"' * (size // 3),
    '[ + "a * N': lambda size: "[" + '"a' * (size // 2),
    "<think> + spaces * N": lambda size: "<" + " " * (size - 20) + "</think>[]",
}


def seconds_to_grade(text: str) -> float:
    sample = {"id": "s", "messages": [{"role": "assistant", "content": text}], "reference_answer": REFERENCE}
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        with redirect_stdout(io.StringIO()):
            js.handler([sample], None)
        best = min(best, time.process_time() - started)
    return best


def main() -> int:
    largest = js.MAX_BYTES - 16
    print(f"{'answer':24} {'40 KB':>10} {'256 KB':>10} {'growth 32->256 KB':>18}")
    worst = 0.0
    for name, build in HOSTILE.items():
        at_40k = seconds_to_grade(build(40_960))
        at_256k = seconds_to_grade(build(largest))
        growth = at_256k / seconds_to_grade(build(largest // 8))
        worst = max(worst, at_256k)
        print(f"{name:24} {at_40k * 1000:8.2f}ms {at_256k * 1000:8.2f}ms {growth:17.1f}x")
    verdict = "ok" if worst <= TARGET_SECONDS else "MISSED"
    print(
        f"slowest 256 KB answer: {worst * 1000:.2f} ms (target <= {TARGET_SECONDS * 1000:.0f} ms): {verdict}"
    )
    return 0 if worst <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
