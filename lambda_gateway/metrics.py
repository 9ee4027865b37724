"""Per-model figures as CloudWatch embedded-metric-format records (aws-lambda-powertools).

One record per chat request, dimension `Model` (the model name the request resolved to, never the
alias: an alias's traffic moves with it, a model's figures stay its own): `Requests`, `Latency`
(whole request, ms), `UpstreamLatency` (the model's service, ms), `PromptTokens`,
`CompletionTokens`, `Throttles`, `UpstreamErrors` and `ClientErrors`.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_NAMESPACE = "RftStack/Gateway"
MODEL_DIMENSION = "Model"


@dataclass
class RequestFigures:
    model: str
    latency_ms: float = 0.0
    upstream_latency_ms: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    status: int = 200


def emit(figures: RequestFigures, *, namespace: str) -> None:
    from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

    metrics = EphemeralMetrics(namespace=namespace)
    metrics.add_dimension(name=MODEL_DIMENSION, value=figures.model)
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=round(figures.latency_ms, 3))
    if figures.upstream_latency_ms is not None:
        metrics.add_metric(
            name="UpstreamLatency", unit=MetricUnit.Milliseconds, value=round(figures.upstream_latency_ms, 3)
        )
    metrics.add_metric(name="PromptTokens", unit=MetricUnit.Count, value=figures.prompt_tokens)
    metrics.add_metric(name="CompletionTokens", unit=MetricUnit.Count, value=figures.completion_tokens)
    metrics.add_metric(name="Throttles", unit=MetricUnit.Count, value=int(figures.status == 429))
    metrics.add_metric(name="UpstreamErrors", unit=MetricUnit.Count, value=int(figures.status >= 500))
    metrics.add_metric(
        name="ClientErrors",
        unit=MetricUnit.Count,
        value=int(400 <= figures.status < 500 and figures.status != 429),
    )
    metrics.flush_metrics()
