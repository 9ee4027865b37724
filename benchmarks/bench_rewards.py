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

This file is the driver; the sections live in ``benchmarks/graders/`` (``math_sections.py``,
``other_sections.py``, and ``harness.py`` for what they share). The math grader's conformance
with Math-Verify's labelled cases is ``benchmarks/bench_math_conformance.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository, for lambda_rewards and benchmarks.graders

from benchmarks.graders.math_sections import (  # noqa: E402 - after the path is set
    bench_math_hostile,
    bench_math_latex,
    bench_math_numeric,
)
from benchmarks.graders.other_sections import bench_imports, bench_json, bench_judge  # noqa: E402

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
