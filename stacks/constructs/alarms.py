"""The figures an environment is watched by (the graders' and the gateway's EMF names, AWS's own
metrics) and its alarms, each notifying the environment's SNS topic.

`RewardMetric` and `GatewayMetric` are the one place on the infrastructure side that names the
figures `lambda_rewards/common/metrics.py` and `lambda_gateway/metrics.py` write (a test keeps them
in step). `EnvironmentAlarms` creates the alarms under the `Operations` construct; the dashboard
(`operations.py`) shows them.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.config import OperationsSettings


class RewardMetric:
    """The batch figures every grader publishes, one EMF record per batch
    (`lambda_rewards/common/metrics.py`, `_EMF_FIELDS`)."""

    DEFAULT_NAMESPACE = "RftStack/Rewards"  # REWARD_METRICS_NAMESPACE; the rewards stack sets it
    DIMENSION = "Reward"  # the grader's name (its folder under lambda_rewards/)
    SAMPLES = "Samples"  # samples in the batch (Count)
    MEAN_SCORE = "MeanScore"  # the batch's mean score, 0..1
    ZERO_SCORE_SHARE = "ZeroScoreShare"  # share of the batch's samples that scored 0, 0..1
    ERRORS = "Errors"  # samples that could not be graded, timeouts excepted (Count)
    TIMEOUTS = "Timeouts"  # samples not graded within their budget or the batch deadline (Count)
    SANDBOX_UNAVAILABLE = "SandboxUnavailable"  # samples refused: no sandbox here (Count; code_tests)
    BATCH_DURATION = "BatchDuration"  # Milliseconds
    SAMPLE_LATENCY_P50 = "SampleLatencyP50"  # Milliseconds
    SAMPLE_LATENCY_P99 = "SampleLatencyP99"  # Milliseconds


class GatewayMetric:
    """The per-model figures the serving gateway publishes, one EMF record per chat request
    (`lambda_gateway/metrics.py`)."""

    DEFAULT_NAMESPACE = "RftStack/Gateway"  # METRICS_NAMESPACE of the gateway function
    MODEL_DIMENSION = "Model"  # the model name a request resolved to (never the alias)
    REQUESTS = "Requests"  # Count
    LATENCY = "Latency"  # the whole request, Milliseconds
    UPSTREAM_LATENCY = "UpstreamLatency"  # the model's service, Milliseconds
    PROMPT_TOKENS = "PromptTokens"  # Count
    COMPLETION_TOKENS = "CompletionTokens"  # Count
    THROTTLES = "Throttles"  # 429 answers (Count)
    UPSTREAM_ERRORS = "UpstreamErrors"  # 5xx answers (Count)
    CLIENT_ERRORS = "ClientErrors"  # 4xx answers but 429 (Count)


# The resolution of every operational alarm but the mean-score comparison.
ALARM_PERIOD = cdk.Duration.minutes(5)


@dataclass(frozen=True)
class MonitoredGrader:
    """A reward Lambda: its function (metrics cover every version and alias) and its timeout."""

    function: lambda_.IFunction
    timeout: cdk.Duration


@dataclass(frozen=True)
class MonitoredWorkflow:
    """The training workflow; with its execution log group, the dashboard lists the recent runs."""

    state_machine: sfn.IStateMachine
    log_group: logs.ILogGroup | None = None


@dataclass(frozen=True)
class MonitoredGateway:
    """The OpenAI-compatible serving endpoint: its HTTP API and the namespace of its EMF figures."""

    http_api: apigwv2.IHttpApi
    metrics_namespace: str = GatewayMetric.DEFAULT_NAMESPACE


def reward_metric(namespace: str, grader: str, metric_name: str, statistic: str, label: str) -> cw.Metric:
    """One of a grader's EMF batch figures (`RewardMetric`), per alarm period."""
    return cw.Metric(
        namespace=namespace,
        metric_name=metric_name,
        dimensions_map={RewardMetric.DIMENSION: grader},
        statistic=statistic,
        period=ALARM_PERIOD,
        label=label,
    )


def grader_error_rate(grader: MonitoredGrader) -> cw.MathExpression:
    return cw.MathExpression(
        expression="100 * errors / invocations",
        using_metrics={
            "errors": grader.function.metric_errors(period=ALARM_PERIOD, statistic="Sum"),
            "invocations": grader.function.metric_invocations(period=ALARM_PERIOD, statistic="Sum"),
        },
        label="Error rate (% of invocations)",
        period=ALARM_PERIOD,
    )


@dataclass(frozen=True, eq=False)
class EnvironmentAlarms:
    """The alarms of one environment, created as children of `scope` (the `Operations` construct),
    each notifying `topic`; `alarms` maps a key (`GraderErrorRate:math_answer`, `WorkflowFailed`) to it.

    Every alarm treats missing data as not breaching: graders, the workflow and the gateway only
    publish while they work, and an idle environment is healthy.
    """

    scope: Construct
    _: KW_ONLY
    environment: str
    settings: OperationsSettings
    topic: sns.ITopic
    reward_namespace: str
    _alarms: dict[str, cw.Alarm] = field(default_factory=dict, init=False, repr=False)

    @property
    def alarms(self) -> Mapping[str, cw.Alarm]:
        return types.MappingProxyType(self._alarms)

    def _score_ratio(self, grader: str) -> cw.MathExpression:
        """This window's mean score over the previous window's (DIFF gives m(t) - m(t-1)).

        A previous window at 0 with this one at 0 yields 0 (the grader stays at zero: keep
        alarming); a previous window at 0 with any score now yields 1 (recovering is not a collapse).
        """
        window = cdk.Duration.minutes(self.settings.mean_score_window_minutes)
        mean = cw.Metric(
            namespace=self.reward_namespace,
            metric_name=RewardMetric.MEAN_SCORE,
            dimensions_map={RewardMetric.DIMENSION: grader},
            statistic="Average",
            period=window,
        )
        return cw.MathExpression(
            expression="IF((mean - DIFF(mean)) > 0, mean / (mean - DIFF(mean)), IF(mean > 0, 1, 0))",
            using_metrics={"mean": mean},
            label="Mean score vs the previous window (ratio)",
            period=window,
        )

    def _alarm(
        self,
        key: str,
        construct_id: str,
        *,
        metric: cw.IMetric,
        threshold: float,
        comparison: cw.ComparisonOperator,
        description: str,
        evaluation_periods: int | None = None,
        datapoints_to_alarm: int | None = None,
        notify_recovery: bool = True,
    ) -> cw.Alarm:
        periods = evaluation_periods or self.settings.evaluation_periods
        alarm = cw.Alarm(
            self.scope,
            construct_id,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=periods,
            datapoints_to_alarm=datapoints_to_alarm or periods,
            # Graders, the workflow and the gateway publish only while they work: silence is idle.
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description=f"rft-stack {self.environment}: {description}",
        )
        action = cw_actions.SnsAction(self.topic)
        alarm.add_alarm_action(action)
        if notify_recovery:
            alarm.add_ok_action(action)
        self._alarms[key] = alarm
        return alarm

    def add_grader(self, name: str, grader: MonitoredGrader) -> None:
        s = self.settings
        cid = _construct_id(name)
        periods = s.evaluation_periods
        sustained = f"{periods} consecutive 5-minute periods"
        timeout_ms = grader.timeout.to_milliseconds()
        self._alarm(
            f"GraderErrorRate:{name}",
            f"GraderErrorRate{cid}",
            metric=grader_error_rate(grader),
            threshold=s.grader_error_rate_percent,
            comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            description=(
                f"grader '{name}' failed more than {s.grader_error_rate_percent:g}% of its invocations "
                f"in {sustained}. A failed invocation is a whole batch of rollouts left ungraded: "
                "read the function's log group and roll its 'live' alias back if a deploy caused it."
            ),
        )
        self._alarm(
            f"GraderThrottles:{name}",
            f"GraderThrottles{cid}",
            metric=grader.function.metric_throttles(period=ALARM_PERIOD, statistic="Sum"),
            threshold=s.grader_throttles_per_5min,
            comparison=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            description=(
                f"grader '{name}' was throttled in {sustained} (at least "
                f"{s.grader_throttles_per_5min} throttled invocations in each): training asks for more "
                "concurrency than the function has (its reserved concurrency, or the account's "
                "unreserved pool). A throttled batch is graded late or not at all."
            ),
        )
        self._alarm(
            f"GraderNearTimeout:{name}",
            f"GraderNearTimeout{cid}",
            metric=grader.function.metric_duration(period=ALARM_PERIOD, statistic="p99"),
            threshold=round(s.grader_duration_timeout_ratio * timeout_ms),
            comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            description=(
                f"grader '{name}': p99 duration above {s.grader_duration_timeout_ratio:.0%} of its "
                f"{grader.timeout.to_seconds():g} s timeout in {sustained}. Batches are close to being "
                "cut off: samples past the deadline score 0. Check per-sample timeouts and the judge's "
                "latency, or raise rewards.timeout_seconds."
            ),
        )
        self._alarm(
            f"GraderScoreCollapse:{name}",
            f"GraderScoreCollapse{cid}",
            metric=self._score_ratio(name),
            threshold=s.mean_score_drop_ratio,
            comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            # Two windows make DIFF defined; one breaching window is the step being looked for.
            evaluation_periods=2,
            datapoints_to_alarm=1,
            notify_recovery=False,
            description=(
                f"grader '{name}': mean score over the last {s.mean_score_window_minutes} minutes fell "
                f"below {s.mean_score_drop_ratio:g} * the window before (or stays at 0). Training "
                "scores rise or hold; a collapse usually means the grader broke (a deploy, a changed "
                "reference format, a judge model failing): look at its zero-score share and errors."
            ),
        )
        self._alarm(
            f"GraderSampleTimeouts:{name}",
            f"GraderSampleTimeouts{cid}",
            metric=reward_metric(
                self.reward_namespace, name, RewardMetric.TIMEOUTS, "Sum", "Samples timed out"
            ),
            threshold=s.sample_timeouts_per_5min,
            comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            description=(
                f"grader '{name}': more than {s.sample_timeouts_per_5min} samples per 5 minutes ran out "
                f"of their time budget in {sustained}; they scored 0, which trains the model on a "
                "wrong signal. A slow dependency (the judge model) or a grader change is the usual cause."
            ),
        )

        self._alarm(
            f"GraderSandboxUnavailable:{name}",
            f"GraderSandboxUnavailable{cid}",
            metric=reward_metric(
                self.reward_namespace,
                name,
                RewardMetric.SANDBOX_UNAVAILABLE,
                "Sum",
                "Samples refused: no sandbox",
            ),
            threshold=1,
            comparison=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            description=(
                f"grader '{name}' refused samples because its sandbox could not be established "
                "(error_sandbox_unavailable): they all score 0, so training learns nothing from "
                "them. On AWS Lambda this is expected (prctl is forbidden, see rft/assumptions.py): "
                "run the grader where the sandbox holds, or accept the unsafe degraded mode "
                "(rewards.code_tests_allow_unsandboxed) knowing what the README's threat model says."
            ),
        )

    def add_workflow(self, state_machine: sfn.IStateMachine) -> None:
        """One alarm per run that ends badly: each is its own event, so one is enough to notify."""
        for key, metric, description in (
            (
                "WorkflowFailed",
                state_machine.metric_failed(period=ALARM_PERIOD, statistic="Sum"),
                "a training run failed. The run's own notification carries the cause; open the "
                "execution in the Step Functions console for the failed step.",
            ),
            (
                "WorkflowTimedOut",
                state_machine.metric_timed_out(period=ALARM_PERIOD, statistic="Sum"),
                "a training run hit the workflow's hard timeout. Check that its Bedrock job was "
                "stopped (a job left running keeps costing money).",
            ),
        ):
            self._alarm(
                key,
                key,
                metric=metric,
                threshold=1,
                comparison=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                notify_recovery=False,
                description=description,
            )

    def add_gateway(self, gateway: MonitoredGateway) -> None:
        s = self.settings
        api = gateway.http_api
        rate = cw.MathExpression(
            expression="100 * errors / requests",
            using_metrics={
                "errors": api.metric_server_error(period=ALARM_PERIOD, statistic="Sum"),
                "requests": api.metric_count(period=ALARM_PERIOD, statistic="Sum"),
            },
            label="5xx (% of requests)",
            period=ALARM_PERIOD,
        )
        self._alarm(
            "Gateway5xxRate",
            "Gateway5xxRate",
            metric=rate,
            threshold=s.gateway_5xx_rate_percent,
            comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            description=(
                f"the serving gateway answered more than {s.gateway_5xx_rate_percent:g}% of requests "
                f"with 5xx in {s.evaluation_periods} consecutive 5-minute periods: callers of the "
                "trained models get errors. Read the gateway function's log group."
            ),
        )


def _construct_id(name: str) -> str:
    """`math_answer` -> `MathAnswer`."""
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_"))
