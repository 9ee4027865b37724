"""The training report: a run's curves (mean reward, response length, policy entropy, gradient norm)
with the health guard's findings marked where it saw them.

matplotlib (Agg backend) is imported only when a plot is drawn.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from rft.health import ENTROPY, GRAD_NORM, LENGTH, REWARD, Assessment

PANELS: tuple[tuple[str, str], ...] = (
    (REWARD, "mean reward"),
    (LENGTH, "response length (tokens)"),
    (ENTROPY, "policy entropy"),
    (GRAD_NORM, "gradient norm"),
)
STOP_COLOUR, WARN_COLOUR = "#d62728", "#ff7f0e"


def series(steps: Sequence[Mapping[str, Any]], name: str) -> tuple[list[int], list[float]]:
    """(steps, values) of one metric, skipping steps that do not carry it as a number."""
    xs, ys = [], []
    for entry in steps:
        step, value = entry.get("step"), entry.get(name)
        if isinstance(step, int) and isinstance(value, int | float) and not isinstance(value, bool):
            xs.append(step)
            ys.append(float(value))
    return xs, ys


def training_report_png(
    run: str, steps: Sequence[Mapping[str, Any]], assessment: Assessment, stop_codes: Sequence[str]
) -> bytes:
    """The PNG: one panel per signal, each finding a vertical line at its step (red when it stops
    the run, orange when it warns), the verdict in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(PANELS), 1, figsize=(9, 10), sharex=True)
    for axis, (name, label) in zip(axes, PANELS, strict=True):
        xs, ys = series(steps, name)
        if xs:
            axis.plot(xs, ys, color="#1f77b4", linewidth=1.4)
        else:
            axis.text(0.5, 0.5, "not reported", transform=axis.transAxes, ha="center", color="#9e9e9e")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    for finding in assessment.findings:
        colour = STOP_COLOUR if finding.code.value in stop_codes else WARN_COLOUR
        for axis in axes:
            axis.axvline(finding.step, color=colour, linestyle="--", linewidth=1.2)
        axes[0].annotate(
            finding.code.value,
            xy=(finding.step, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -12),
            textcoords="offset points",
            color=colour,
            fontsize=8,
            rotation=90,
            va="top",
        )
    axes[-1].set_xlabel("training step")
    codes = ", ".join(f.code.value for f in assessment.findings) or "no findings"
    figure.suptitle(f"Run {run}: health guard {assessment.verdict.value} ({codes}), {assessment.steps} steps")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()
