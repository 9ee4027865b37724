"""Where asynchronous work that failed is kept: an encrypted SQS queue and an alarm on it.

A function that EventBridge invokes runs asynchronously: when it fails after its retries, or when
EventBridge cannot deliver the event at all, the event would otherwise be dropped without a trace.
Both failures land here (the function's dead-letter queue and the rule target's), encrypted with
the environment's key, and the alarm mails the environment's topic as soon as one is waiting.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from rft.assumptions import GENERATED_NAMES
from stacks.security import acknowledge, from_this_account

# SQS's longest retention: a failed cleanup stays readable for two weeks.
RETENTION = cdk.Duration.days(14)
# What a producer needs of the key to send to an SSE-KMS queue.
SENDER_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")


class DeadLetters(Construct):
    """The queue (`.queue`) and, unless alarms are off, an alarm (`.alarm`) on any message in it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        topic: sns.ITopic,
        what: str,
        alarm: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self._key = key
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            data_key_reuse=cdk.Duration.hours(1),
            retention_period=RETENTION,
            enforce_ssl=True,
        )
        acknowledge(
            self.queue,
            "AwsSolutions::AwsSolutions-SQS3",
            f"This queue is itself the dead-letter queue of {what}",
        )
        self.alarm: cw.Alarm | None = None
        if alarm:
            self.alarm = cw.Alarm(
                self,
                "Waiting",
                metric=self.queue.metric_approximate_number_of_messages_visible(
                    period=cdk.Duration.minutes(5), statistic="Maximum"
                ),
                threshold=0,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=(
                    f"{what} failed and its event is waiting in this dead-letter queue: read it, "
                    "act on it by hand, then delete it"
                ),
            )
            self.alarm.add_alarm_action(cw_actions.SnsAction(topic))

    def receive_failures_of(self, function: lambda_.Function, role: iam.IRole) -> None:
        """The function's own dead-letter queue: its asynchronous invocations that failed every retry."""
        cfn = function.node.default_child
        assert isinstance(cfn, lambda_.CfnFunction)
        cfn.dead_letter_config = lambda_.CfnFunction.DeadLetterConfigProperty(target_arn=self.queue.queue_arn)
        # Lambda sends to the dead-letter queue as the function's role.
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.queue.queue_arn])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(SENDER_KEY_ACTIONS), resources=[self._key.key_arn])
        )

    def allow_eventbridge_rules_of(self, stack: cdk.Stack) -> None:
        """Lets EventBridge put events it cannot deliver for this stack's rules into the queue.

        EventBridge uses the key as itself; the key lives in another stack, so the key policy names
        the rules by their generated names (`rft.assumptions.GENERATED_NAMES`), not by reference.
        """
        rules = f"arn:{stack.partition}:events:{stack.region}:{stack.account}:rule/" + GENERATED_NAMES.format(
            stack=stack.stack_name
        )
        self._key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeDeadLettersOf" + "".join(c for c in stack.stack_name if c.isalnum()),
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=list(SENDER_KEY_ACTIONS),
                resources=["*"],  # in a key policy, "*" is this key
                conditions=from_this_account(stack.account, rules),
            ),
            allow_no_op=True,
        )
