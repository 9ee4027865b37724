"""The dashboard's training row: each run's reward, response length and entropy, one line per run,
from the figures the workflow's health guard sends at every look (rft.guard: EMF records, namespace
`RftStack/Training`, dimension `Run`)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw

from rft.guard import CLOUDWATCH_METRICS, RUN_DIMENSION, TRAINING_NAMESPACE
from rft.health import ENTROPY, LENGTH, REWARD

# Training steps arrive every few minutes; a 5-minute period shows each one.
PERIOD = cdk.Duration.minutes(5)


def per_run(signal: str, label: str) -> cw.MathExpression:
    """One series per run of `signal` (a rft.health metric name), found by a SEARCH expression: runs
    are named at run time, so they cannot be listed at synth time."""
    metric = CLOUDWATCH_METRICS[signal]
    search = f'{{{TRAINING_NAMESPACE},{RUN_DIMENSION}}} MetricName="{metric}"'
    return cw.MathExpression(
        expression=f"SEARCH('{search}', 'Average', {int(PERIOD.to_seconds())})",
        using_metrics={},
        label=f"${{PROP('Dim.{RUN_DIMENSION}')}} {label}",
        period=PERIOD,
    )


def training_health_widgets() -> list[cw.IWidget]:
    return [
        cw.GraphWidget(
            title="Training: mean reward per run",
            left=[per_run(REWARD, "reward")],
            left_y_axis=cw.YAxisProps(label="reward", show_units=False, min=0, max=1),
            width=8,
        ),
        cw.GraphWidget(
            title="Training: mean response length per run (tokens)",
            left=[per_run(LENGTH, "length")],
            left_y_axis=cw.YAxisProps(label="tokens", show_units=False, min=0),
            width=8,
        ),
        cw.GraphWidget(
            title="Training: policy entropy per run",
            left=[per_run(ENTROPY, "entropy")],
            left_y_axis=cw.YAxisProps(label="entropy", show_units=False, min=0),
            width=8,
        ),
    ]
