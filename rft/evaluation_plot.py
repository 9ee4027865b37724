"""The evaluation plot: score distributions of both models, and the paired differences.

The bins come from the data. A prompt's score is a mean of ``k`` samples of a reward that is often
0/1, so scores and differences usually take a few exact values (multiples of ``1/k``): then each
value gets its own bar, and a +0.056 gain is one bar, not three. Continuous rewards get bins whose
edges are multiples of one width, so zero is always an edge and no bar mixes wins and losses;
exact ties keep a bar of their own. Difference bars are coloured by sign (wins, losses, ties), the
mean and its 95% interval are drawn above the bars where nothing covers them, the legend sits
below the axes, and counts are integers.

matplotlib (Agg backend) and numpy are imported only when a plot is drawn.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Up to this many distinct values, every value gets its own bar.
MAX_DISTINCT_BARS = 25
# Bins for continuous values: between these counts, whatever the data's spread.
MIN_BINS, MAX_BINS = 5, 40
MAX_BAR_WIDTH = 0.25  # scores live in [0, 1]: two values far apart still get slim bars
ROUND_DIGITS = 9  # values equal to this many digits are one value (means of k samples)

WIN, LOSS, TIE = "#2ca02c", "#d62728", "#9e9e9e"
BASE, TRAINED = "#9e9e9e", "#1f77b4"


@dataclass(frozen=True)
class Bar:
    """One bar of a histogram: centre, width, how many values fall in it."""

    centre: float
    width: float
    count: int

    @property
    def sign(self) -> int:
        return 0 if abs(self.centre) < 10**-ROUND_DIGITS else (1 if self.centre > 0 else -1)


def histogram_bars(values: Sequence[float], *, zero_apart: bool = True) -> list[Bar]:
    """Bars for ``values``: one per distinct value when there are few, else bins of one width
    with edges at its multiples (zero is an edge), exact zeros in a bar of their own when
    ``zero_apart`` (a tie is neither a win nor a loss)."""
    if not values:
        return []
    rounded = [round(value, ROUND_DIGITS) for value in values]
    distinct = sorted(set(rounded))
    if len(distinct) <= MAX_DISTINCT_BARS:
        gap = min((b - a for a, b in itertools.pairwise(distinct)), default=1.0)
        width = 0.8 * min(gap, MAX_BAR_WIDTH)
        return [Bar(value, width, rounded.count(value)) for value in distinct]
    return _binned(rounded, zero_apart=zero_apart)


def _binned(values: list[float], *, zero_apart: bool) -> list[Bar]:
    import numpy as np

    nonzero = np.asarray([value for value in values if value != 0.0 or not zero_apart])
    spread = float(nonzero.max() - nonzero.min()) or 1.0
    edges = np.histogram_bin_edges(nonzero, bins="auto")
    width = float(edges[1] - edges[0]) if len(edges) > 1 else spread
    width = min(max(width, spread / MAX_BINS), spread / MIN_BINS)
    low = math.floor(float(nonzero.min()) / width)
    high = math.ceil(float(nonzero.max()) / width)
    counts: dict[int, int] = {}
    for value in nonzero:
        index = min(max(math.floor(value / width), low), high - 1)
        counts[index] = counts.get(index, 0) + 1
    bars = [Bar((index + 0.5) * width, width, count) for index, count in sorted(counts.items())]
    ties = len(values) - len(nonzero)
    if ties:
        bars.append(Bar(0.0, width / 2, ties))
    return sorted(bars, key=lambda bar: bar.centre)


def plot_png(report: Mapping[str, Any]) -> bytes:
    """Two panels: the per-prompt score distributions of both models, and the paired differences."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.8), dpi=100)
    left, right = figure.subplots(1, 2)
    _distributions(left, report)
    _differences(right, report)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _prompt_means(report: Mapping[str, Any], model: str) -> list[float]:
    return [math.fsum(row[model]) / len(row[model]) if row[model] else 0.0 for row in report["per_prompt"]]


def _distributions(axes: Any, report: Mapping[str, Any]) -> None:
    base, trained = _prompt_means(report, "base"), _prompt_means(report, "trained")
    bars = histogram_bars(base + trained, zero_apart=False)  # one set of bins for both: bars pair up
    positions = [bar.centre for bar in bars]
    width = min(bar.width for bar in bars) / 2 if bars else 0.4
    for offset, values, colour, label in (
        (-width / 2, base, BASE, f"base (mean {report['base']['mean']:.3f})"),
        (width / 2, trained, TRAINED, f"trained (mean {report['trained']['mean']:.3f})"),
    ):
        counts = _counts_in(values, bars)
        axes.bar([p + offset for p in positions], counts, width=width, color=colour, label=label)
    axes.set_xlabel(f"mean reward per prompt ({report['reward']})")
    axes.set_ylabel("prompts")
    axes.set_title(f"{report['name']}: score distributions")
    _integer_counts(axes)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, frameon=False)


def _counts_in(values: Sequence[float], bars: Sequence[Bar]) -> list[int]:
    """How many of ``values`` fall in each bar (the nearest centre: bars come from these values)."""
    counts = [0] * len(bars)
    for value in values:
        nearest = min(range(len(bars)), key=lambda i: abs(bars[i].centre - value))
        counts[nearest] += 1
    return counts


def _differences(axes: Any, report: Mapping[str, Any]) -> None:
    differences = [row["difference"] for row in report["per_prompt"]]
    bars = histogram_bars(differences)
    colours = {1: WIN, -1: LOSS, 0: TIE}
    labels = {1: "trained better", -1: "base better", 0: "tie"}
    shown: set[int] = set()
    for bar in bars:
        label = labels[bar.sign] if bar.sign not in shown else None
        shown.add(bar.sign)
        axes.bar(bar.centre, bar.count, width=bar.width, color=colours[bar.sign], label=label)
    _integer_counts(axes)
    difference = report["difference"]
    low, high = difference["ci95"]
    mean = difference["mean"]
    top = max((bar.count for bar in bars), default=1)
    level = top * 1.12  # above every bar: the interval is never hidden behind one
    axes.set_ylim(0, top * 1.3)
    axes.axvline(0.0, color="black", linewidth=0.8)
    axes.errorbar(
        [mean],
        [level],
        xerr=[[mean - low], [high - mean]],
        fmt="D",
        color="black",
        capsize=6,
        linewidth=2,
        label=f"mean {mean:+.3f}, 95% CI [{low:+.3f}, {high:+.3f}]",
    )
    axes.set_xlabel("trained - base, per prompt")
    axes.set_ylabel("prompts")
    axes.set_title(
        f"paired differences (n={report['prompts']}): "
        f"{difference['wins']} better, {difference['losses']} worse, {difference['ties']} tied"
    )
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, frameon=False)


def _integer_counts(axes: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
