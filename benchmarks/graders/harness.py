"""Shared pieces of the grader benchmarks: Lambda-shaped samples and contexts, quiet handler
calls, latency percentiles and the report format (figures next to their targets, peak memory)."""

from __future__ import annotations

import io
import resource
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# ../shared/data beside the repository (or beside a worktree's parent folder).
DATA = next(
    (folder / "shared" / "data" for folder in ROOT.parents if (folder / "shared" / "data").is_dir()),
    ROOT.parent / "shared" / "data",
)

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
