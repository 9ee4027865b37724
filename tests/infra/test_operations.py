"""The operations construct in a bare stack with stand-in resources, its settings, and its wiring."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Match, Template

from lambda_rewards.common import metrics as reward_metrics
from lambda_rewards.common.settings import RewardSettings as GraderRuntimeSettings
from stacks.config import ConfigError, OperationsSettings
from stacks.constructs.alarms import (
    GatewayMetric,
    MonitoredGateway,
    MonitoredGrader,
    MonitoredWorkflow,
    RewardMetric,
)
from stacks.constructs.operations import Operations
from tests.infra.helpers import build_stage, new_app, settings, template

GRADER_TIMEOUTS = {"math_answer": 300, "llm_judge": 600}
TAG = ("project", "rft-stack")


class Bare:
    """A bare stack holding stand-ins for the other stacks' resources and the construct."""

    def __init__(
        self,
        *,
        ops: OperationsSettings | None = None,
        gateway: bool = True,
        log_group: bool = True,
        imported_topic: bool = False,
        budget_emails: tuple[str, ...] = (),
        allow_service_to_publish: Any = None,
    ) -> None:
        self.app = new_app()
        self.stack = cdk.Stack(self.app, "Bare", env=cdk.Environment(region="us-west-2"))
        self.key = kms.Key(self.stack, "TopicKey")
        if imported_topic:
            self.topic = sns.Topic.from_topic_arn(
                self.stack, "Topic", "arn:aws:sns:us-west-2:111122223333:elsewhere"
            )
        else:
            self.topic = sns.Topic(self.stack, "Topic", master_key=self.key, enforce_ssl=True)
        self.functions = {
            name: lambda_.Function(
                self.stack,
                f"Fn{index}",
                runtime=lambda_.Runtime.PYTHON_3_14,
                handler="index.handler",
                code=lambda_.Code.from_inline("def handler(event, context): return []"),
                timeout=cdk.Duration.seconds(seconds),
            )
            for index, (name, seconds) in enumerate(GRADER_TIMEOUTS.items())
        }
        self.machine = sfn.StateMachine(
            self.stack,
            "Workflow",
            definition_body=sfn.DefinitionBody.from_chainable(sfn.Pass(self.stack, "Step")),
        )
        self.log_group = logs.LogGroup(self.stack, "WorkflowLogs") if log_group else None
        self.api = apigwv2.HttpApi(self.stack, "Api") if gateway else None
        self.settings = ops or OperationsSettings()
        self.operations = Operations(
            self.stack,
            "Operations",
            environment="staging",
            settings=self.settings,
            topic=self.topic,
            graders={
                name: MonitoredGrader(function=fn, timeout=cdk.Duration.seconds(GRADER_TIMEOUTS[name]))
                for name, fn in self.functions.items()
            },
            workflow=MonitoredWorkflow(state_machine=self.machine, log_group=self.log_group),
            gateway=MonitoredGateway(http_api=self.api) if self.api else None,
            cost_allocation_tag=TAG,
            budget_emails=budget_emails,
            allow_service_to_publish=allow_service_to_publish,
        )
        self.template = Template.from_stack(self.stack)

    def ref(self, construct: Any) -> dict:
        return {"Ref": self.stack.get_logical_id(construct.node.default_child)}

    def alarm(self, key: str) -> dict:
        logical_id = self.stack.get_logical_id(self.operations.alarms[key].node.default_child)
        return self.template.to_json()["Resources"][logical_id]["Properties"]

    def dashboard_body(self) -> str:
        (dashboard,) = self.template.find_resources("AWS::CloudWatch::Dashboard").values()
        return json.dumps(dashboard["Properties"]["DashboardBody"])

    def dashboard_widgets(self) -> list[dict]:
        """The dashboard's widgets as CloudWatch reads them (tokens replaced by a placeholder)."""
        (dashboard,) = self.template.find_resources("AWS::CloudWatch::Dashboard").values()
        parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
        return json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))["widgets"]


@pytest.fixture(scope="module")
def bare() -> Bare:
    return Bare()


def _metric(properties: dict, metric_id: str | None = None) -> dict:
    """The MetricStat of an alarm: the single metric, or the one with `metric_id` in a math alarm."""
    if "MetricName" in properties:
        return {
            "Metric": {
                k: properties[k] for k in ("Namespace", "MetricName", "Dimensions") if k in properties
            },
            "Stat": properties.get("Statistic") or properties.get("ExtendedStatistic"),
            "Period": properties["Period"],
        }
    stats = [m for m in properties["Metrics"] if "MetricStat" in m]
    if metric_id is None:
        (only,) = stats
        return only["MetricStat"]
    return next(m["MetricStat"] for m in stats if m["Id"] == metric_id)


def _assert_reward_metric(stat: dict, reward: str, metric_name: str, stat_and_period: tuple) -> None:
    """`stat` reads `metric_name` of one grader in the namespace the graders publish to."""
    assert stat["Metric"] == {
        "Namespace": "RftStack/Rewards",
        "MetricName": metric_name,
        "Dimensions": [{"Name": "Reward", "Value": reward}],
    }
    assert (stat["Stat"], stat["Period"]) == stat_and_period


def _expression(properties: dict) -> str:
    (expression,) = [m["Expression"] for m in properties["Metrics"] if "Expression" in m]
    return expression


# ------------------------------------------------------------------------------------ alarms


def test_every_alarm_exists_once_per_grader_and_for_workflow_and_gateway(bare):
    expected = {
        f"{kind}:{name}"
        for kind in (
            "GraderErrorRate",
            "GraderThrottles",
            "GraderNearTimeout",
            "GraderScoreCollapse",
            "GraderSampleTimeouts",
            "GraderSandboxUnavailable",
        )
        for name in GRADER_TIMEOUTS
    } | {"WorkflowFailed", "WorkflowTimedOut", "Gateway5xxRate"}
    assert set(bare.operations.alarms) == expected
    assert len(bare.template.find_resources("AWS::CloudWatch::Alarm")) == len(expected)


def test_every_alarm_notifies_the_topic_and_treats_silence_as_healthy(bare):
    topic = bare.ref(bare.topic)
    for key in bare.operations.alarms:
        properties = bare.alarm(key)
        assert properties["AlarmActions"] == [topic], key
        assert properties["TreatMissingData"] == "notBreaching", key
        assert properties["AlarmDescription"].startswith("rft-stack staging: "), key


def test_sustained_alarms_also_report_recovery_event_alarms_do_not(bare):
    for key in bare.operations.alarms:
        has_ok = "OKActions" in bare.alarm(key)
        event_like = key.startswith(("GraderScoreCollapse", "WorkflowFailed", "WorkflowTimedOut"))
        assert has_ok is not event_like, key


def test_grader_error_rate_is_errors_over_invocations_in_percent(bare):
    for name, fn in bare.functions.items():
        properties = bare.alarm(f"GraderErrorRate:{name}")
        assert _expression(properties) == "100 * errors / invocations"
        for metric_id, metric_name in (("errors", "Errors"), ("invocations", "Invocations")):
            stat = _metric(properties, metric_id)
            assert stat["Metric"]["MetricName"] == metric_name
            assert stat["Metric"]["Dimensions"] == [{"Name": "FunctionName", "Value": bare.ref(fn)}]
            assert (stat["Stat"], stat["Period"]) == ("Sum", 300)
        assert properties["Threshold"] == 5
        assert properties["ComparisonOperator"] == "GreaterThanThreshold"
        assert properties["EvaluationPeriods"] == properties["DatapointsToAlarm"] == 3


def test_grader_throttles(bare):
    for name, fn in bare.functions.items():
        properties = bare.alarm(f"GraderThrottles:{name}")
        assert properties["MetricName"] == "Throttles"
        assert properties["Namespace"] == "AWS/Lambda"
        assert properties["Dimensions"] == [{"Name": "FunctionName", "Value": bare.ref(fn)}]
        assert (properties["Statistic"], properties["Threshold"]) == ("Sum", 1)
        assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_grader_near_timeout_is_p99_against_the_ratio_of_each_graders_own_timeout(bare):
    for name, seconds in GRADER_TIMEOUTS.items():
        properties = bare.alarm(f"GraderNearTimeout:{name}")
        assert (properties["MetricName"], properties["ExtendedStatistic"]) == ("Duration", "p99")
        assert properties["Threshold"] == 0.8 * seconds * 1000
        assert properties["ComparisonOperator"] == "GreaterThanThreshold"


def test_score_collapse_compares_the_mean_score_with_the_previous_window(bare):
    for name in GRADER_TIMEOUTS:
        properties = bare.alarm(f"GraderScoreCollapse:{name}")
        assert "DIFF(mean)" in _expression(properties)
        _assert_reward_metric(_metric(properties, "mean"), name, "MeanScore", ("Average", 3600))
        assert properties["Threshold"] == 0.5
        assert properties["ComparisonOperator"] == "LessThanThreshold"
        # Two windows so that DIFF has a previous value; one breaching window is the collapse.
        assert (properties["EvaluationPeriods"], properties["DatapointsToAlarm"]) == (2, 1)


def test_per_sample_timeouts_come_from_the_graders_batch_figures(bare):
    for name in GRADER_TIMEOUTS:
        properties = bare.alarm(f"GraderSampleTimeouts:{name}")
        _assert_reward_metric(_metric(properties), name, "Timeouts", ("Sum", 300))
        assert properties["Threshold"] == 50
        assert properties["ComparisonOperator"] == "GreaterThanThreshold"


@pytest.mark.parametrize(
    ("key", "metric_name"),
    [("WorkflowFailed", "ExecutionsFailed"), ("WorkflowTimedOut", "ExecutionsTimedOut")],
)
def test_workflow_alarms_fire_on_any_failed_or_timed_out_run(bare, key, metric_name):
    properties = bare.alarm(key)
    assert (properties["Namespace"], properties["MetricName"]) == ("AWS/States", metric_name)
    assert properties["Dimensions"] == [{"Name": "StateMachineArn", "Value": bare.ref(bare.machine)}]
    assert (properties["Statistic"], properties["Threshold"]) == ("Sum", 1)
    assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert properties["EvaluationPeriods"] == 1


def test_gateway_5xx_rate(bare):
    properties = bare.alarm("Gateway5xxRate")
    assert _expression(properties) == "100 * errors / requests"
    api = bare.ref(bare.api)
    for metric_id, metric_name in (("errors", "5xx"), ("requests", "Count")):
        stat = _metric(properties, metric_id)
        assert stat["Metric"]["Namespace"] == "AWS/ApiGateway"
        assert stat["Metric"]["MetricName"] == metric_name
        assert stat["Metric"]["Dimensions"] == [{"Name": "ApiId", "Value": api}]
    assert properties["Threshold"] == 5


def test_thresholds_and_periods_follow_the_settings():
    ops = OperationsSettings(
        grader_error_rate_percent=12.5,
        grader_duration_timeout_ratio=0.5,
        mean_score_drop_ratio=0.25,
        mean_score_window_minutes=15,
        sample_timeouts_per_5min=7,
        grader_throttles_per_5min=4,
        gateway_5xx_rate_percent=2.0,
        evaluation_periods=5,
    )
    bare = Bare(ops=ops)
    assert bare.alarm("GraderErrorRate:math_answer")["Threshold"] == 12.5
    assert bare.alarm("GraderErrorRate:math_answer")["EvaluationPeriods"] == 5
    assert bare.alarm("GraderNearTimeout:llm_judge")["Threshold"] == 300_000
    collapse = bare.alarm("GraderScoreCollapse:math_answer")
    assert (collapse["Threshold"], _metric(collapse, "mean")["Period"]) == (0.25, 900)
    assert bare.alarm("GraderSampleTimeouts:math_answer")["Threshold"] == 7
    assert bare.alarm("GraderThrottles:math_answer")["Threshold"] == 4
    assert bare.alarm("Gateway5xxRate")["Threshold"] == 2
    assert bare.alarm("Gateway5xxRate")["DatapointsToAlarm"] == 5


def test_alarms_absent_when_disabled_but_dashboard_and_budget_remain():
    bare = Bare(ops=OperationsSettings(alarms_enabled=False))
    assert bare.operations.alarms == {}
    bare.template.resource_count_is("AWS::CloudWatch::Alarm", 0)
    bare.template.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    bare.template.resource_count_is("AWS::Budgets::Budget", 1)
    assert "Alarms are off in this environment" in bare.dashboard_body()
    assert '\\"type\\":\\"alarm\\"' not in bare.dashboard_body()


def test_without_a_gateway_there_is_no_gateway_alarm_or_row():
    bare = Bare(gateway=False)
    assert "Gateway5xxRate" not in bare.operations.alarms
    body = bare.dashboard_body()
    assert "AWS/ApiGateway" not in body
    assert "Gateway:" not in body


# --------------------------------------------------------------------------------- dashboard


def test_dashboard_references_every_grader_by_function_and_reward_name(bare):
    body = bare.dashboard_body()
    for name, fn in bare.functions.items():
        assert json.dumps(bare.ref(fn)) in body
        assert f'\\"Reward\\",\\"{name}\\"' in body
        for title in (
            f"{name}: invocations, errors, throttles",
            f"{name}: duration p50 / p99 (ms) vs timeout",
            f"{name}: concurrent executions (max)",
            f"{name}: mean score, share of zero scores (0-1)",
        ):
            assert title in body
    for metric_name in ("Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions"):
        assert f'\\"AWS/Lambda\\",\\"{metric_name}\\"' in body
    for metric_name in ("MeanScore", "ZeroScoreShare", "Timeouts", "Samples", "Errors"):
        assert f'\\"RftStack/Rewards\\",\\"{metric_name}\\"' in body
    assert "samples / PERIOD(samples)" in body


def test_duration_graph_marks_each_graders_timeout(bare):
    body = bare.dashboard_body()
    for seconds in GRADER_TIMEOUTS.values():
        assert f'\\"value\\":{seconds * 1000},' in body
        assert f"timeout {seconds} s" in body


def test_dashboard_references_the_state_machine_and_its_runs(bare):
    body = bare.dashboard_body()
    assert json.dumps(bare.ref(bare.machine)) in body
    for metric_name in (
        "ExecutionsStarted",
        "ExecutionsSucceeded",
        "ExecutionsFailed",
        "ExecutionsAborted",
        "ExecutionsTimedOut",
        "ExecutionTime",
    ):
        assert f'\\"AWS/States\\",\\"{metric_name}\\"' in body
    assert f"durationP50 / {3_600_000}" in body
    assert json.dumps(bare.ref(bare.log_group)) in body
    assert "Most recent training runs" in body


def test_dashboard_lists_alarm_states(bare):
    body = bare.dashboard_body()
    assert '\\"type\\":\\"alarm\\"' in body
    for alarm in bare.operations.alarms.values():
        logical_id = bare.stack.get_logical_id(alarm.node.default_child)
        assert json.dumps({"Fn::GetAtt": [logical_id, "Arn"]}) in body


def test_dashboard_without_workflow_log_group_has_no_log_query():
    body = Bare(log_group=False).dashboard_body()
    assert "Most recent training runs" not in body
    assert "AWS/States" in body


def test_dashboard_gateway_row_when_a_gateway_is_given(bare):
    body = bare.dashboard_body()
    api = json.dumps(bare.ref(bare.api))
    assert api in body
    for metric_name in ("Count", "4xx", "5xx", "Latency"):
        assert f'\\"AWS/ApiGateway\\",\\"{metric_name}\\"' in body
    assert "Gateway: tokens per model" in body
    assert "SEARCH(" in body


# ------------------------------------------------------------------------------------ budget


def test_budget_uses_the_limit_and_the_cost_allocation_tag_and_notifies_the_topic(bare):
    subscribers = [{"SubscriptionType": "SNS", "Address": bare.ref(bare.topic)}]
    bare.template.has_resource_properties(
        "AWS::Budgets::Budget",
        {
            "Budget": {
                "BudgetType": "COST",
                "TimeUnit": "MONTHLY",
                "BudgetLimit": {"Amount": 1000, "Unit": "USD"},
                "CostFilters": {"TagKeyValue": ["user:project$rft-stack"]},
            },
            "NotificationsWithSubscribers": [
                {
                    "Notification": {
                        "NotificationType": "FORECASTED",
                        "ComparisonOperator": "GREATER_THAN",
                        "Threshold": 80,
                        "ThresholdType": "PERCENTAGE",
                    },
                    "Subscribers": subscribers,
                },
                {
                    "Notification": {
                        "NotificationType": "ACTUAL",
                        "ComparisonOperator": "GREATER_THAN",
                        "Threshold": 100,
                        "ThresholdType": "PERCENTAGE",
                    },
                    "Subscribers": subscribers,
                },
            ],
        },
    )


def test_budget_limit_follows_the_settings():
    bare = Bare(ops=OperationsSettings(monthly_budget_usd=1234.5))
    bare.template.has_resource_properties(
        "AWS::Budgets::Budget", {"Budget": {"BudgetLimit": {"Amount": 1234.5, "Unit": "USD"}}}
    )


@pytest.mark.parametrize(
    ("service", "source_arn_tail"), [("budgets", ":budgets::"), ("cloudwatch", ":cloudwatch:")]
)
def test_services_may_publish_to_the_topic_only_from_this_account(bare, service, source_arn_tail):
    (policy,) = bare.template.find_resources("AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (allow,) = [s for s in statements if s.get("Principal") == {"Service": f"{service}.amazonaws.com"}]
    assert (allow["Effect"], allow["Action"]) == ("Allow", "sns:Publish")
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert source_arn_tail in json.dumps(allow["Condition"]["ArnLike"]["aws:SourceArn"])
    # The foundation's TLS-only statement is kept.
    assert any(s["Effect"] == "Deny" for s in statements)


@pytest.mark.parametrize("service", ["budgets", "cloudwatch"])
def test_services_may_use_the_topics_key(bare, service):
    bare.template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": f"{service}.amazonaws.com"},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                                "Condition": {
                                    "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
                                },
                            }
                        )
                    ]
                )
            }
        },
    )


def test_an_imported_topic_gets_budget_mail_sent_to_the_addresses_instead():
    bare = Bare(imported_topic=True, budget_emails=("a@example.com", "b@example.com"))
    assert bare.operations.budget_notifies_topic is False
    (budget,) = bare.template.find_resources("AWS::Budgets::Budget").values()
    for notification in budget["Properties"]["NotificationsWithSubscribers"]:
        assert notification["Subscribers"] == [
            {"SubscriptionType": "EMAIL", "Address": "a@example.com"},
            {"SubscriptionType": "EMAIL", "Address": "b@example.com"},
        ]


def test_the_topic_owner_may_grant_the_services_itself():
    granted: list[str] = []
    bare = Bare(allow_service_to_publish=granted.append)
    assert granted == ["cloudwatch.amazonaws.com", "budgets.amazonaws.com"]
    assert bare.operations.budget_notifies_topic is True
    (policy,) = bare.template.find_resources("AWS::SNS::TopicPolicy").values()
    assert "amazonaws.com" not in json.dumps(policy)  # the owner's statements, not the construct's
    assert Bare(ops=OperationsSettings(alarms_enabled=False), allow_service_to_publish=granted.append)
    assert granted[2:] == ["budgets.amazonaws.com"]


def test_an_imported_topic_without_addresses_is_a_clear_error():
    with pytest.raises(ValueError, match="give budget_emails"):
        Bare(imported_topic=True)


# --------------------------------------------------------------- the figures the code writes


def test_reward_metric_names_are_the_ones_the_graders_write():
    written = {name: unit for _, name, unit in reward_metrics._EMF_FIELDS}
    named_here = {
        value
        for key, value in vars(RewardMetric).items()
        if key.isupper() and key not in ("DEFAULT_NAMESPACE", "DIMENSION")
    }
    assert named_here == set(written)
    assert GraderRuntimeSettings().metrics_namespace == RewardMetric.DEFAULT_NAMESPACE
    summary = reward_metrics.BatchSummary(reward="math_answer", scores=[1.0, 0.0])
    record = reward_metrics.batch_record(summary, namespace=RewardMetric.DEFAULT_NAMESPACE, emf=True)
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Dimensions"] == [[RewardMetric.DIMENSION]]
    assert record[RewardMetric.DIMENSION] == "math_answer"


def test_gateway_metric_names_are_the_ones_the_gateway_writes(capsys):
    from lambda_gateway import metrics as gateway_metrics

    figures = gateway_metrics.RequestFigures(model="my-model", upstream_latency_ms=12.0)
    gateway_metrics.emit(figures, namespace=GatewayMetric.DEFAULT_NAMESPACE)
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == gateway_metrics.DEFAULT_NAMESPACE == GatewayMetric.DEFAULT_NAMESPACE
    assert directive["Dimensions"] == [[GatewayMetric.MODEL_DIMENSION]]
    written = {metric["Name"] for metric in directive["Metrics"]}
    named_here = {
        value
        for key, value in vars(GatewayMetric).items()
        if key.isupper() and key not in ("DEFAULT_NAMESPACE", "MODEL_DIMENSION")
    }
    assert named_here == written


def test_gateway_row_draws_one_line_per_model_from_the_gateways_figures(bare):
    expressions = [
        metric[0]["expression"]
        for widget in bare.dashboard_widgets()
        if widget["properties"].get("title", "").startswith("Gateway:")
        for metric in widget["properties"].get("metrics", [])
        if isinstance(metric[0], dict) and "expression" in metric[0]
    ]
    for metric_name in ("PromptTokens", "CompletionTokens", "Latency", "UpstreamErrors", "Throttles"):
        assert any(f'{{RftStack/Gateway,Model}} MetricName="{metric_name}"' in e for e in expressions)
    assert "PROP('Dim.Model')" in bare.dashboard_body()


def test_training_row_draws_reward_length_and_entropy_per_run_from_the_guards_figures(bare, capsys):
    from rft.guard import metric_records

    titles = {}
    for widget in bare.dashboard_widgets():
        title = widget["properties"].get("title", "")
        if title.startswith("Training: "):
            (metric,) = widget["properties"]["metrics"]
            titles[title] = metric[0]["expression"]
    assert len(titles) == 3
    # The metric names the row searches are the ones the guard Lambda writes (EMF), by run.
    (record,) = metric_records(
        "run-1",
        [{"step": 1, "critic_rewards_mean": 0.5, "response_length_mean": 400, "actor_entropy": 0.9}],
        after=0,
    )
    written = {m["Name"] for m in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    for expression in titles.values():
        # Each graph searches exactly one of the metrics the guard writes, by run.
        assert len([n for n in written if f'MetricName="{n}"' in expression]) == 1
        assert "{RftStack/Training,Run}" in expression
    assert sorted(n for n in written if any(f'"{n}"' in e for e in titles.values())) == [
        "Entropy",
        "ResponseLength",
        "Reward",
    ]
    assert "PROP('Dim.Run')" in bare.dashboard_body()


# ---------------------------------------------------------------------------------- settings


def test_operations_settings_defaults():
    ops = settings("staging").operations
    assert ops.alarms_enabled is True
    assert ops.grader_throttles_per_5min == 1
    assert ops.mean_score_window_minutes == 60
    assert ops.evaluation_periods == 3
    assert settings("staging").operations.monthly_budget_usd == 500
    assert settings("prod").operations.monthly_budget_usd == 5000


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        ("grader_throttles_per_5min", 0, "must be >= 1"),
        ("mean_score_window_minutes", 7, "must be a multiple of 5 from 5 to 360"),
        ("mean_score_window_minutes", 365, "must be a multiple of 5 from 5 to 360"),
        ("evaluation_periods", 289, "must be 1-288"),
        ("monthly_budget_usd", 0, "must be positive"),
        ("alarms_enabled", "no", "must be bool"),
    ],
)
def test_bad_operations_settings_name_the_setting(setting, value, problem):
    with pytest.raises(ConfigError, match=rf"setting 'operations\.{setting}': {problem}"):
        settings("staging", operations={setting: value})


def test_operations_settings_are_read_from_cdk_json():
    ops = settings(
        "staging",
        operations={"alarms_enabled": False, "mean_score_window_minutes": 30, "grader_throttles_per_5min": 3},
    ).operations
    assert (ops.alarms_enabled, ops.mean_score_window_minutes, ops.grader_throttles_per_5min) == (
        False,
        30,
        3,
    )


# ----------------------------------------------------------------------------- in the stage


@pytest.fixture(scope="module")
def staging_stage():
    return build_stage("staging")


def test_the_stage_monitors_every_deployed_grader_and_the_workflow(staging_stage):
    alarms = staging_stage.operations.operations.alarms
    for name in staging_stage.rewards.graders:
        assert f"GraderErrorRate:{name}" in alarms
        assert f"GraderScoreCollapse:{name}" in alarms
    assert {"WorkflowFailed", "WorkflowTimedOut"} <= set(alarms)
    body = json.dumps(template(staging_stage.operations).find_resources("AWS::CloudWatch::Dashboard"))
    assert "Most recent training runs" in body


def test_the_stage_notifies_the_training_topic_and_lets_budgets_publish_to_it(staging_stage):
    ops = template(staging_stage.operations)
    (budget,) = ops.find_resources("AWS::Budgets::Budget").values()
    for notification in budget["Properties"]["NotificationsWithSubscribers"]:
        (subscriber,) = notification["Subscribers"]
        assert subscriber["SubscriptionType"] == "SNS"
        assert "Training:ExportsOutputRefNotificationsTopic" in json.dumps(subscriber["Address"])
    assert budget["Properties"]["Budget"]["BudgetLimit"] == {"Amount": 500, "Unit": "USD"}
    training = template(staging_stage.training)
    (policy,) = training.find_resources("AWS::SNS::TopicPolicy").values()
    principals = [s.get("Principal") for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    assert {"Service": "budgets.amazonaws.com"} in principals
    assert principals.count({"Service": "cloudwatch.amazonaws.com"}) == 1
    key_policy = json.dumps(template(staging_stage.data).find_resources("AWS::KMS::Key"))
    assert key_policy.count('"budgets.amazonaws.com"') == 1


def test_the_budget_carries_the_stage_tags(staging_stage):
    (budget,) = template(staging_stage.operations).find_resources("AWS::Budgets::Budget").values()
    assert {"Key": "project", "Value": "rft-stack"} in budget["Properties"]["ResourceTags"]


def test_the_stage_monitors_the_serving_gateway(staging_stage):
    assert "Gateway5xxRate" in staging_stage.operations.operations.alarms
    body = json.dumps(template(staging_stage.operations).find_resources("AWS::CloudWatch::Dashboard"))
    assert "Serving:ExportsOutputRefApi" in body
    assert "RftStack/Gateway,Model" in body


def test_samples_refused_without_a_sandbox_raise_an_alarm_at_once(bare):
    properties = bare.alarm("GraderSandboxUnavailable:math_answer")
    stat = _metric(properties)
    assert stat["Metric"]["MetricName"] == RewardMetric.SANDBOX_UNAVAILABLE
    assert (stat["Stat"], stat["Period"]) == ("Sum", 300)
    assert properties["Threshold"] == 1 and properties["EvaluationPeriods"] == 1
    assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    summary = reward_metrics.BatchSummary(reward="code_tests")
    for error in ("sandbox_unavailable", "sandbox_unavailable", "timeout", None):
        summary.add(0.0, error, 0.01)
    record = reward_metrics.batch_record(summary, namespace=RewardMetric.DEFAULT_NAMESPACE, emf=True)
    assert record[RewardMetric.SANDBOX_UNAVAILABLE] == 2
