"""A failed cleanup does not vanish: retries, an encrypted dead-letter queue for both the function's
failures and EventBridge's undeliverable events, and an alarm on it."""

from __future__ import annotations

import fnmatch
import functools
from typing import Any

from stacks.constructs.workflow_cleanup import (
    CLEANUP_MAX_EVENT_AGE,
    CLEANUP_RETRIES,
    EVENT_DELIVERY_RETRIES,
    EVENT_MAX_AGE,
)
from stacks.stage import RftStage
from tests.infra.helpers import build_stage, template
from tests.infra.test_log_encryption import data_key_logical_id, key_policy_statements, resolve_join


@functools.cache
def staging() -> RftStage:
    return build_stage("staging")


def resources(rft_stage: RftStage, kind: str) -> dict[str, dict[str, Any]]:
    return template(rft_stage.training).find_resources(kind)


def only(found: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    assert len(found) == 1, sorted(found)
    return next(iter(found.items()))


def cleanup_function(rft_stage: RftStage) -> dict[str, Any]:
    return resources(rft_stage, "AWS::Lambda::Function")[
        rft_stage.training.resolve(rft_stage.training.cleanup.function.node.default_child.logical_id)
    ]


def queue_id(rft_stage: RftStage) -> str:
    queue_id, _ = only(resources(rft_stage, "AWS::SQS::Queue"))
    return queue_id


def test_the_queue_is_encrypted_with_the_data_key_keeps_messages_two_weeks_and_requires_tls():
    rft_stage = staging()
    _, queue = only(resources(rft_stage, "AWS::SQS::Queue"))
    assert data_key_logical_id(rft_stage) in str(queue["Properties"]["KmsMasterKeyId"])
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    (policy,) = resources(rft_stage, "AWS::SQS::QueuePolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )


def test_the_cleanup_functions_failed_invocations_go_to_the_queue_after_its_retries():
    rft_stage = staging()
    function = cleanup_function(rft_stage)
    assert function["Properties"]["DeadLetterConfig"] == {
        "TargetArn": {"Fn::GetAtt": [queue_id(rft_stage), "Arn"]}
    }
    _, config = only(resources(rft_stage, "AWS::Lambda::EventInvokeConfig"))
    alias_id = rft_stage.training.resolve(rft_stage.training.cleanup.alias.node.default_child.logical_id)
    assert {"Ref": alias_id} in config["Properties"]["Qualifier"]["Fn::Select"][1][
        "Fn::Split"
    ]  # what the rule invokes
    assert config["Properties"]["MaximumRetryAttempts"] == CLEANUP_RETRIES == 2
    assert config["Properties"]["MaximumEventAgeInSeconds"] == CLEANUP_MAX_EVENT_AGE.to_seconds() == 6 * 3600


def test_the_cleanup_role_may_send_to_the_queue_and_use_the_key_for_it():
    rft_stage = staging()
    role = function_role_statements(rft_stage)
    queue_arn = {"Fn::GetAtt": [queue_id(rft_stage), "Arn"]}
    assert any(s["Action"] == "sqs:SendMessage" and s["Resource"] == queue_arn for s in role)
    assert any(
        sorted(s["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
        and data_key_logical_id(rft_stage) in str(s["Resource"])
        for s in role
    )


def function_role_statements(rft_stage: RftStage) -> list[dict[str, Any]]:
    role_id = cleanup_function(rft_stage)["Properties"]["Role"]["Fn::GetAtt"][0]
    found = []
    for policy in resources(rft_stage, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return found


def test_eventbridge_retries_delivery_and_keeps_undeliverable_events_in_the_queue():
    rft_stage = staging()
    rule_id, rule = only(
        {
            rid: r
            for rid, r in resources(rft_stage, "AWS::Events::Rule").items()
            if r["Properties"]["EventPattern"]["source"] == ["aws.states"]
        }
    )
    (target,) = rule["Properties"]["Targets"]
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id(rft_stage), "Arn"]}}
    assert target["RetryPolicy"] == {
        "MaximumRetryAttempts": EVENT_DELIVERY_RETRIES,
        "MaximumEventAgeInSeconds": EVENT_MAX_AGE.to_seconds(),
    }
    (policy,) = resources(rft_stage, "AWS::SQS::QueuePolicy").values()
    sends = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow" and s.get("Principal") == {"Service": "events.amazonaws.com"}
    ]
    assert sends and all(
        s["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]} for s in sends
    )


def test_the_key_lets_eventbridge_encrypt_only_for_this_environments_training_rules():
    rft_stage = staging()
    (statement,) = [
        s
        for s in key_policy_statements(rft_stage)
        if s.get("Principal") == {"Service": "events.amazonaws.com"}
    ]
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert resolve_join(statement["Condition"]["StringEquals"]["aws:SourceAccount"]) == "111122223333"
    pattern = resolve_join(statement["Condition"]["ArnLike"]["aws:SourceArn"])
    rule = "arn:aws:events:us-west-2:111122223333:rule/{}"
    assert fnmatch.fnmatchcase(rule.format("staging-Training-StopJobsOfAbortedRuns1A2B3C-Ab12Cd34"), pattern)
    assert not fnmatch.fnmatchcase(rule.format("staging-Other-SomeRule-Ab12Cd34"), pattern)
    assert not fnmatch.fnmatchcase(rule.format("prod-Training-StopJobsOfAbortedRuns1A2B3C-Ab12Cd34"), pattern)


def test_any_message_in_the_queue_raises_an_alarm_to_the_environments_topic():
    rft_stage = staging()
    alarms = [
        a
        for a in resources(rft_stage, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    ]
    (alarm,) = alarms
    props = alarm["Properties"]
    assert props["Namespace"] == "AWS/SQS"
    assert props["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id(rft_stage), "QueueName"]}}
    ]
    assert (props["Threshold"], props["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert props["EvaluationPeriods"] == 1
    topic_id, _ = only(resources(rft_stage, "AWS::SNS::Topic"))
    assert props["AlarmActions"] == [{"Ref": topic_id}]


def test_with_alarms_off_the_queue_stays_and_the_alarm_goes():
    rft_stage = build_stage("staging", operations={"alarms_enabled": False})
    assert len(resources(rft_stage, "AWS::SQS::Queue")) == 1
    assert not resources(rft_stage, "AWS::CloudWatch::Alarm")
