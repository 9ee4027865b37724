"""Operations for one environment: a CloudWatch dashboard, alarms that notify the environment's SNS
topic, and a monthly AWS Budgets budget scoped by the project's cost-allocation tag.

Everything is built from figures the other parts already publish:
- AWS's own metrics: Lambda for every grader (`AWS/Lambda`, FunctionName), Step Functions for the
  training workflow (`AWS/States`, StateMachineArn), API Gateway for the HTTP API (`AWS/ApiGateway`,
  ApiId);
- the graders' batch figures, written as CloudWatch embedded metric format (EMF) by
  `lambda_rewards/common/metrics.py`: `RewardMetric` (in `alarms.py`, with the alarms) is the one
  place here that names them (a test keeps it in step with the code that writes them);
- the gateway's per-model figures, written by `lambda_gateway/`: `GatewayMetric`, beside it.

The construct takes plain resources (keyword-only, typed), so it can be built in a bare stack with
stand-ins; `OperationsStack` wires it to the other stacks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.config import OperationsSettings
from stacks.constructs.alarms import (
    ALARM_PERIOD,
    EnvironmentAlarms,
    GatewayMetric,
    MonitoredGateway,
    MonitoredGrader,
    MonitoredWorkflow,
    RewardMetric,
    reward_metric,
)
from stacks.constructs.training_dashboard import training_health_widgets
from stacks.security import from_this_account, service_sid

# Training runs last hours: their duration is drawn per hour.
WORKFLOW_DURATION_PERIOD = cdk.Duration.hours(1)
MS_PER_HOUR = 3_600_000
RECENT_RUNS = 20
# Budgets notifications, in percent of the monthly limit.
BUDGET_FORECAST_PERCENT = 80
BUDGET_ACTUAL_PERCENT = 100
BUDGETS_PRINCIPAL = "budgets.amazonaws.com"
CLOUDWATCH_PRINCIPAL = "cloudwatch.amazonaws.com"
MAX_BUDGET_EMAILS = 10  # Budgets: e-mail subscribers per notification


class Operations(Construct):
    """One CloudWatch dashboard, the alarms (→ `topic`) and the monthly budget of one environment.

    Alarms (each one per grader where it names a grader), all notifying `topic`:
      GraderErrorRate      100 * Errors / Invocations > `grader_error_rate_percent`
      GraderThrottles      Throttles ≥ `grader_throttles_per_5min`
      GraderNearTimeout    Duration p99 > `grader_duration_timeout_ratio` * the grader's timeout
      GraderScoreCollapse  MeanScore of the last window / of the window before < `mean_score_drop_ratio`
      GraderSampleTimeouts Timeouts (per-sample) > `sample_timeouts_per_5min`
      WorkflowFailed, WorkflowTimedOut    any failed or timed-out training run
      Gateway5xxRate       100 * 5xx / Count > `gateway_5xx_rate_percent` (only with a gateway)
    Sustained conditions need `evaluation_periods` breaching 5-minute periods in a row. Every alarm
    treats missing data as not breaching: graders, the workflow and the gateway only publish while
    they work, and an idle environment is healthy. `alarms_enabled: false` creates none of them.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: str,
        settings: OperationsSettings,
        topic: sns.ITopic,
        graders: Mapping[str, MonitoredGrader],
        workflow: MonitoredWorkflow,
        gateway: MonitoredGateway | None = None,
        cost_allocation_tag: tuple[str, str],
        budget_emails: Sequence[str] = (),
        allow_service_to_publish: Callable[[str], None] | None = None,
        reward_metrics_namespace: str = RewardMetric.DEFAULT_NAMESPACE,
    ) -> None:
        """`allow_service_to_publish(principal)` is the topic owner's way of letting an AWS service
        (CloudWatch for the alarms, Budgets for the budget) publish to its topic, topic and key
        policy both; without it the construct adds those statements itself. `budget_emails` are
        notified by the budget directly when the topic's policy cannot be changed (an imported
        topic)."""
        super().__init__(scope, construct_id)
        self._environment = environment
        self._settings = settings
        self._topic = topic
        self._allow_service = allow_service_to_publish
        self._reward_namespace = reward_metrics_namespace
        self._alarm_set = EnvironmentAlarms(
            self,
            environment=environment,
            settings=settings,
            topic=topic,
            reward_namespace=reward_metrics_namespace,
        )

        if settings.alarms_enabled:
            for name, grader in sorted(graders.items()):
                self._alarm_set.add_grader(name, grader)
            self._alarm_set.add_workflow(workflow.state_machine)
            if gateway is not None:
                self._alarm_set.add_gateway(gateway)
            stack = cdk.Stack.of(topic)
            self._let_publish(
                CLOUDWATCH_PRINCIPAL,
                f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:*",
            )

        self.dashboard = cw.Dashboard(self, "Dashboard", default_interval=cdk.Duration.hours(12))
        self._add_overview()
        for name, grader in sorted(graders.items()):
            self._add_grader_row(name, grader)
        self._add_workflow_rows(workflow)
        if gateway is not None:
            self._add_gateway_row(gateway)
        if self._alarm_set.alarms:
            self.dashboard.add_widgets(
                cw.AlarmStatusWidget(
                    title="Alarm states (red: notifying the environment's topic)",
                    alarms=list(self._alarm_set.alarms.values()),
                    sort_by=cw.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
                    width=24,
                    height=4,
                )
            )

        stack = cdk.Stack.of(topic)
        self.budget_notifies_topic = self._let_publish(
            BUDGETS_PRINCIPAL, f"arn:{stack.partition}:budgets::{stack.account}:*"
        )
        if not self.budget_notifies_topic and not budget_emails:
            raise ValueError(
                "the budget cannot notify the topic (its policy is not managed by this app): "
                "give budget_emails to notify instead"
            )
        self.budget = self._monthly_budget(cost_allocation_tag, budget_emails)

    @property
    def alarms(self) -> Mapping[str, cw.Alarm]:
        """Alarm key (`GraderErrorRate:math_answer`, `WorkflowFailed`, ...) -> alarm."""
        return self._alarm_set.alarms

    # --------------------------------------------------------------------------------- dashboard

    def _add_overview(self) -> None:
        s = self._settings
        alarms = (
            "Alarms notify the environment's SNS topic."
            if s.alarms_enabled
            else "**Alarms are off in this environment** (`operations.alarms_enabled: false`)."
        )
        self.dashboard.add_widgets(
            cw.TextWidget(
                markdown=(
                    f"# rft-stack · {self._environment}\n"
                    "Reward functions (graders) score every batch of rollouts Bedrock sends while a "
                    "job trains; the training workflow starts, watches and publishes jobs; the gateway "
                    f"serves the trained models. {alarms} Monthly budget: "
                    f"{s.monthly_budget_usd:,.0f} USD (mail at {BUDGET_FORECAST_PERCENT}% forecast "
                    f"and {BUDGET_ACTUAL_PERCENT}% actual). Figures are per 5 minutes unless a title "
                    "says otherwise."
                ),
                width=24,
                height=2,
            )
        )

    def _add_grader_row(self, name: str, grader: MonitoredGrader) -> None:
        fn = grader.function
        timeout_ms = grader.timeout.to_milliseconds()
        near_timeout = round(self._settings.grader_duration_timeout_ratio * timeout_ms)
        samples = reward_metric(self._reward_namespace, name, RewardMetric.SAMPLES, "Sum", "Samples")
        self.dashboard.add_widgets(
            _counts_graph(
                f"{name}: invocations, errors, throttles",
                "count",
                {
                    "Invocations": fn.metric_invocations,
                    "Errors": fn.metric_errors,
                    "Throttles": fn.metric_throttles,
                },
            ),
            cw.GraphWidget(
                title=f"{name}: duration p50 / p99 (ms) vs timeout",
                left=_p50_and_p99(fn.metric_duration),
                left_annotations=[
                    cw.HorizontalAnnotation(
                        value=timeout_ms, label=f"timeout {grader.timeout.to_seconds():g} s", color="#d62728"
                    ),
                    cw.HorizontalAnnotation(
                        value=near_timeout, label="alarm: p99 near timeout", color="#ff7f0e"
                    ),
                ],
                left_y_axis=_axis("ms"),
                width=6,
            ),
            cw.GraphWidget(
                title=f"{name}: concurrent executions (max)",
                left=[
                    fn.metric(
                        "ConcurrentExecutions", period=ALARM_PERIOD, statistic="Maximum", label="Concurrent"
                    )
                ],
                left_y_axis=_axis("executions"),
                width=4,
            ),
            cw.GraphWidget(
                title=f"{name}: mean score, share of zero scores (0-1)",
                left=[
                    reward_metric(
                        self._reward_namespace, name, RewardMetric.MEAN_SCORE, "Average", "Mean score"
                    ),
                    reward_metric(
                        self._reward_namespace,
                        name,
                        RewardMetric.ZERO_SCORE_SHARE,
                        "Average",
                        "Share scored 0",
                    ),
                ],
                left_y_axis=cw.YAxisProps(show_units=False, min=0, max=1),
                width=4,
            ),
            cw.GraphWidget(
                title=f"{name}: samples/s (left); samples timed out, not gradable (right)",
                left=[
                    cw.MathExpression(
                        expression="samples / PERIOD(samples)",
                        using_metrics={"samples": samples},
                        label="Samples graded per second",
                        period=ALARM_PERIOD,
                    )
                ],
                right=[
                    reward_metric(
                        self._reward_namespace, name, RewardMetric.TIMEOUTS, "Sum", "Samples timed out"
                    ),
                    reward_metric(
                        self._reward_namespace, name, RewardMetric.ERRORS, "Sum", "Samples not gradable"
                    ),
                    reward_metric(
                        self._reward_namespace,
                        name,
                        RewardMetric.SANDBOX_UNAVAILABLE,
                        "Sum",
                        "Refused: no sandbox",
                    ),
                ],
                left_y_axis=_axis("samples/s"),
                right_y_axis=_axis("samples scored 0"),
                width=4,
            ),
        )

    def _add_workflow_rows(self, workflow: MonitoredWorkflow) -> None:
        machine = workflow.state_machine
        # A graph may not reuse one metric id for two statistics: one id per statistic.
        hours = [
            cw.MathExpression(
                expression=f"{metric_id} / {MS_PER_HOUR}",
                using_metrics={
                    metric_id: machine.metric_time(period=WORKFLOW_DURATION_PERIOD, statistic=statistic)
                },
                label=label,
                period=WORKFLOW_DURATION_PERIOD,
            )
            for metric_id, statistic, label in (
                ("durationP50", "p50", "p50 (hours)"),
                ("durationMax", "Maximum", "longest (hours)"),
            )
        ]
        self.dashboard.add_widgets(
            _counts_graph(
                "Training runs: started, succeeded, failed, aborted, timed out",
                "runs",
                {
                    "Started": machine.metric_started,
                    "Succeeded": machine.metric_succeeded,
                    "Failed": machine.metric_failed,
                    "Aborted": machine.metric_aborted,
                    "Timed out": machine.metric_timed_out,
                },
                width=12,
            ),
            cw.GraphWidget(
                title="Training run duration, per hour of completion (hours)",
                left=hours,
                left_y_axis=_axis("hours"),
                width=12,
            ),
        )
        # Each run's reward, response length and entropy, as the health guard reads them.
        self.dashboard.add_widgets(*training_health_widgets())
        if workflow.log_group is not None:
            self.dashboard.add_widgets(
                cw.LogQueryWidget(
                    title=f"Most recent training runs (last {RECENT_RUNS}): state now, started, last event",
                    log_group_names=[workflow.log_group.log_group_name],
                    query_lines=[
                        "filter type like /^Execution(Started|Succeeded|Failed|Aborted|TimedOut)$/",
                        "stats earliest(@timestamp) as started, latest(@timestamp) as last_event, "
                        "latest(type) as state by execution_arn",
                        "sort started desc",
                        f"limit {RECENT_RUNS}",
                    ],
                    view=cw.LogQueryVisualizationType.TABLE,
                    width=24,
                    height=6,
                )
            )

    def _add_gateway_row(self, gateway: MonitoredGateway) -> None:
        api = gateway.http_api

        def per_model(metric_name: str, statistic: str, label: str) -> cw.MathExpression:
            search = (
                f'{{{gateway.metrics_namespace},{GatewayMetric.MODEL_DIMENSION}}} MetricName="{metric_name}"'
            )
            return cw.MathExpression(
                expression=f"SEARCH('{search}', '{statistic}', {int(ALARM_PERIOD.to_seconds())})",
                using_metrics={},
                # One line per model: CloudWatch's dynamic label names the series' model.
                label=f"${{PROP('Dim.{GatewayMetric.MODEL_DIMENSION}')}} {label}",
                period=ALARM_PERIOD,
            )

        self.dashboard.add_widgets(
            _counts_graph(
                "Gateway: requests, 4xx, 5xx",
                "requests",
                {
                    "Requests": api.metric_count,
                    "4xx": api.metric_client_error,
                    "5xx": api.metric_server_error,
                },
            ),
            cw.GraphWidget(
                title="Gateway: latency p50 / p99 (ms)",
                left=_p50_and_p99(api.metric_latency),
                left_y_axis=_axis("ms"),
                width=6,
            ),
            cw.GraphWidget(
                title="Gateway: tokens per model (prompt left, completion right)",
                left=[per_model(GatewayMetric.PROMPT_TOKENS, "Sum", "Prompt tokens")],
                right=[per_model(GatewayMetric.COMPLETION_TOKENS, "Sum", "Completion tokens")],
                left_y_axis=_axis("tokens"),
                right_y_axis=_axis("tokens"),
                width=6,
            ),
            cw.GraphWidget(
                title="Gateway: p99 latency per model (ms), model errors and throttles (right)",
                left=[per_model(GatewayMetric.LATENCY, "p99", "p99 latency")],
                right=[
                    per_model(GatewayMetric.UPSTREAM_ERRORS, "Sum", "5xx"),
                    per_model(GatewayMetric.THROTTLES, "Sum", "429"),
                ],
                left_y_axis=_axis("ms"),
                right_y_axis=_axis("requests"),
                width=6,
            ),
        )

    # ------------------------------------------------------------------------------------ budget

    def _let_publish(self, principal: str, source_arn: str) -> bool:
        if self._allow_service is not None:
            self._allow_service(principal)
            return True
        return self._let_service_publish(principal, source_arn)

    def _let_service_publish(self, principal: str, source_arn: str) -> bool:
        """Lets an AWS service publish to the topic: a topic-policy statement (confused-deputy
        conditions on this account and the service's resources) and, when the topic is encrypted
        with a key of this app, the use of that key. Returns False when the topic's policy is not
        this app's to change (an imported topic)."""
        topic = self._topic
        account = topic.stack.account
        sid = service_sid(principal)
        added = topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"Allow{sid}ToPublish",
                principals=[iam.ServicePrincipal(principal)],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions=from_this_account(account, source_arn),
            )
        ).statement_added
        key = topic.master_key
        if isinstance(key, kms.Key):
            # An encrypted topic takes a service's message only if the service may use its key.
            key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"Allow{sid}ToPublishToEncryptedTopic",
                    principals=[iam.ServicePrincipal(principal)],
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    resources=["*"],
                    conditions=from_this_account(account),
                )
            )
        elif key is not None:
            cdk.Annotations.of(self).add_warning_v2(
                f"rft-stack:operations:{sid}TopicKey",
                f"the topic is encrypted with a key this app does not manage: its key policy must let "
                f"{principal} use kms:Decrypt and kms:GenerateDataKey*, or its messages are dropped",
            )
        return added

    def _monthly_budget(self, tag: tuple[str, str], emails: Sequence[str]) -> budgets.CfnBudget:
        key, value = tag
        if self.budget_notifies_topic:
            subscribers = [
                budgets.CfnBudget.SubscriberProperty(subscription_type="SNS", address=self._topic.topic_arn)
            ]
        else:
            if len(emails) > MAX_BUDGET_EMAILS:
                raise ValueError(f"a budget notification takes at most {MAX_BUDGET_EMAILS} e-mail addresses")
            subscribers = [
                budgets.CfnBudget.SubscriberProperty(subscription_type="EMAIL", address=address)
                for address in emails
            ]

        def notify(kind: str, percent: int) -> budgets.CfnBudget.NotificationWithSubscribersProperty:
            return budgets.CfnBudget.NotificationWithSubscribersProperty(
                notification=budgets.CfnBudget.NotificationProperty(
                    notification_type=kind,
                    comparison_operator="GREATER_THAN",
                    threshold=percent,
                    threshold_type="PERCENTAGE",
                ),
                subscribers=subscribers,
            )

        return budgets.CfnBudget(
            self,
            "MonthlyBudget",
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_type="COST",
                time_unit="MONTHLY",
                budget_limit=budgets.CfnBudget.SpendProperty(
                    amount=self._settings.monthly_budget_usd, unit="USD"
                ),
                # A user-defined cost-allocation tag, in Budgets' `user:<key>$<value>` form; the tag
                # must be activated once in the Billing console before costs carry it.
                cost_filters={"TagKeyValue": [f"user:{key}${value}"]},
            ),
            notifications_with_subscribers=[
                notify("FORECASTED", BUDGET_FORECAST_PERCENT),
                notify("ACTUAL", BUDGET_ACTUAL_PERCENT),
            ],
        )


# The dashboard's graphs: a resource's metric method (e.g. `IFunction.metric_errors`) and its label.
MetricOf = Callable[..., cw.Metric]


def _counts_graph(title: str, axis: str, series: Mapping[str, MetricOf], *, width: int = 6) -> cw.GraphWidget:
    """Counts per alarm period, one line per label and metric, in order."""
    counts = [metric(period=ALARM_PERIOD, statistic="Sum", label=label) for label, metric in series.items()]
    return cw.GraphWidget(title=title, left=counts, left_y_axis=_axis(axis), width=width)


def _p50_and_p99(metric: MetricOf) -> list[cw.IMetric]:
    """The median and the tail of a duration or latency, per alarm period."""
    return [metric(period=ALARM_PERIOD, statistic=statistic, label=statistic) for statistic in ("p50", "p99")]


def _axis(label: str) -> cw.YAxisProps:
    """An axis from 0 with its own label (CloudWatch's unit label would repeat it)."""
    return cw.YAxisProps(label=label, show_units=False, min=0)
