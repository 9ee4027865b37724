"""The evaluation plot: bins from the data, colour by sign, a visible interval, integer counts."""

from __future__ import annotations

import random

import pytest

from rft import evaluation, evaluation_plot
from rft.evaluation_plot import Bar, histogram_bars


def _report(differences_per_prompt: list[tuple[tuple[float, ...], tuple[float, ...]]]) -> dict:
    prompts = [evaluation.PromptScores(f"t{i}", t, b) for i, (t, b) in enumerate(differences_per_prompt)]
    return evaluation.build_report(
        name="m", environment="staging", reward="math_answer", dataset="d", trained_model="t",
        base_model="b", samples_per_prompt=len(prompts[0].trained), sampling={}, prompts=prompts,
    )  # fmt: skip


def test_few_distinct_values_get_one_bar_each() -> None:
    # 4 samples per prompt: differences are multiples of 0.25; a small gain is not split up.
    values = [0.25] * 7 + [0.0] * 30 + [-0.25] * 3 + [0.5]
    bars = histogram_bars(values)
    assert [(bar.centre, bar.count) for bar in bars] == [(-0.25, 3), (0.0, 30), (0.25, 7), (0.5, 1)]
    assert all(bar.width <= 0.25 for bar in bars)


def test_continuous_values_never_mix_wins_and_losses_in_a_bar() -> None:
    rng = random.Random(0)
    values = [rng.gauss(0.05, 0.08) for _ in range(400)] + [0.0] * 5
    bars = histogram_bars(values)
    assert sum(bar.count for bar in bars) == len(values)
    assert 5 <= len(bars) <= 41
    for bar in bars:
        if bar.sign != 0:
            low, high = bar.centre - bar.width / 2, bar.centre + bar.width / 2
            assert low >= -1e-12 or high <= 1e-12, bar  # zero is an edge, never inside a bar
    assert [bar.count for bar in bars if bar.sign == 0] == [5]  # exact ties have their own bar


def test_signs() -> None:
    assert (Bar(0.1, 0.1, 1).sign, Bar(-0.1, 0.1, 1).sign, Bar(0.0, 0.1, 1).sign) == (1, -1, 0)


@pytest.mark.parametrize("prompts", [12, 600])
def test_the_difference_panel(prompts: int) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    rng = random.Random(prompts)
    rows = [((float(rng.random() < 0.6),), (float(rng.random() < 0.5),)) for _ in range(prompts)]
    report = _report(rows)
    axes = Figure().subplots()
    evaluation_plot._differences(axes, report)
    colours = {tuple(round(c, 3) for c in patch.get_facecolor()[:3]) for patch in axes.patches}
    assert len(colours) == len(
        {bar.sign for bar in histogram_bars([r["difference"] for r in report["per_prompt"]])}
    )
    tallest = max(patch.get_height() for patch in axes.patches)
    [interval] = [line for line in axes.lines if line.get_marker() == "D"]
    assert interval.get_ydata()[0] > tallest  # the mean and its interval sit above every bar
    assert all(float(tick).is_integer() for tick in axes.get_yticks())
    legend = axes.get_legend()
    assert legend.get_bbox_to_anchor().y0 < axes.get_window_extent().y0  # below the axes, not on bars


def test_plot_png_is_a_png() -> None:
    report = _report([((1.0,), (0.0,)), ((0.0,), (0.0,)), ((1.0,), (1.0,))])
    assert evaluation_plot.plot_png(report).startswith(b"\x89PNG")
