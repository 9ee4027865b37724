"""Benchmark: validating a 20,000-prompt RFT dataset streams in constant memory in ≤ 3 s.

Builds the dataset from ../shared/data/gsm8k/train.jsonl converted with rft.converters.gsm8k
(cycled to 20,000 prompts) when that file exists, else from synthetic prompts of similar size; then
validates it from a file stream three times (best wall time), and once more under tracemalloc for
the peak Python memory. Constant memory is shown by validating a file five times larger: its peak
must stay within a small margin of the 20,000-prompt peak. Exits 1 when a target is missed.

    python benchmarks/bench_validate.py [--prompts N]
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rft.converters import convert, gsm8k
from rft.datasets import DatasetLimits, DatasetReport, validate_file

TARGET_SECONDS = 3.0
GSM8K = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "gsm8k" / "train.jsonl"


def source_lines() -> tuple[str, Iterator[str]]:
    if GSM8K.exists():
        with GSM8K.open(encoding="utf-8") as handle:
            converted = list(convert(handle, gsm8k(), source="GSM8K"))
        return f"GSM8K train converted ({len(converted):,} distinct prompts, cycled)", itertools.cycle(
            converted
        )

    def synthetic() -> Iterator[str]:
        for i in itertools.count():
            yield json.dumps(
                {
                    "messages": [
                        {"role": "system", "content": "Solve step by step; end with '#### <answer>'."},
                        {"role": "user", "content": f"Problem {i}: " + "A farmer has some apples. " * 12},
                    ],
                    "reference_answer": {"answer": str(i)},
                    "task_id": f"synthetic-{i:05d}",
                }
            )

    return "synthetic prompts", synthetic()


def write_dataset(path: Path, lines: Iterator[str], count: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        for line in itertools.islice(lines, count):
            out.write(line + "\n")


def timed(path: Path, limits: DatasetLimits, runs: int = 3) -> tuple[float, DatasetReport]:
    best, report = float("inf"), validate_file(path, limits=limits)
    for _ in range(runs):
        start = time.perf_counter()
        report = validate_file(path, limits=limits)
        best = min(best, time.perf_counter() - start)
    return best, report


def peak_bytes(path: Path, limits: DatasetLimits) -> int:
    tracemalloc.start()
    try:
        validate_file(path, limits=limits)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=20_000)
    args = parser.parse_args()

    label, lines = source_lines()
    with tempfile.TemporaryDirectory() as folder:
        small, large = Path(folder) / "train.jsonl", Path(folder) / "train-x5.jsonl"
        write_dataset(small, lines, args.prompts)
        write_dataset(large, lines, args.prompts * 5)
        limits = DatasetLimits()
        large_limits = DatasetLimits(max_prompts=args.prompts * 5)

        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        seconds, report = timed(small, limits)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = peak_bytes(small, limits)
        large_seconds, large_report = timed(large, large_limits, runs=1)
        large_peak = peak_bytes(large, large_limits)

    size = report.bytes
    print(f"dataset: {label}")
    print(f"prompts: {report.prompts:,}  bytes: {size:,}  valid: {report.ok}")
    print(
        f"validate (best of 3): {seconds:.3f} s  ({report.prompts / seconds:,.0f} prompts/s, "
        f"{size / seconds / 1e6:.1f} MB/s)  target ≤ {TARGET_SECONDS:.1f} s"
    )
    print(f"peak Python memory (tracemalloc): {peak / 1024:,.0f} KiB for {size / 1e6:.1f} MB of data")
    print(f"max RSS growth while validating: {(rss_after - rss_before):,} KiB")
    print(
        f"constant memory: {large_report.prompts:,} prompts ({large_report.bytes / 1e6:.1f} MB) "
        f"validated in {large_seconds:.3f} s with peak {large_peak / 1024:,.0f} KiB"
    )

    failures = []
    if not report.ok:
        failures.append(f"the generated dataset did not validate: {report.summary()}")
    if seconds > TARGET_SECONDS:
        failures.append(f"validation took {seconds:.3f} s > {TARGET_SECONDS} s")
    # One line plus one read chunk (1 MiB) is the design bound; allow 2x for interpreter noise.
    if large_peak > max(2 * peak, peak + 1024 * 1024):
        failures.append(f"peak memory grew with the data: {peak:,} → {large_peak:,} bytes")
    for failure in failures:
        print(f"FAIL: {failure}")
    print("PASS" if not failures else "FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
