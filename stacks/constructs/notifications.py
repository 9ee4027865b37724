"""The environment's notification topic: what the workflow (and later the alarms) tell people.

The topic is encrypted with the environment's data key rather than the AWS-managed `aws/sns`
key: AWS services that publish on their own (CloudWatch alarms, for the operations part) need a
key policy that lets them use the key, and the policy of an AWS-managed key cannot be changed.
E-mail delivery needs nothing from the key policy: SNS decrypts the message itself before it
sends the mail. Publishers inside the account need `kms:GenerateDataKey` and `kms:Decrypt` on the
key in their IAM policy (`grant_publish` below gives both, and no more).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.security import from_this_account, service_sid

# What a publisher needs on the topic's key (SNS encrypts each message with a data key).
PUBLISHER_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
# The key policy statement the SNS guide gives for AWS services publishing to an encrypted topic.
SERVICE_KEY_ACTIONS = ("kms:GenerateDataKey*", "kms:Decrypt")


class Notifications(Construct):
    """An SNS topic: KMS-encrypted with `key`, TLS-only, with one e-mail subscription per address."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        emails: Sequence[str],
        display_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = key
        self.topic = sns.Topic(self, "Topic", display_name=display_name, master_key=key, enforce_ssl=True)
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))

    def grant_publish(self, grantee: iam.IGrantable) -> None:
        """Publish to the topic: `sns:Publish` on it and the two key actions publishing needs.

        (`Topic.grant_publish` would also grant `kms:GenerateDataKey*`, wider than SNS uses.)
        """
        for statement in self.publish_statements():
            grantee.grant_principal.add_to_principal_policy(statement)

    def publish_statements(self) -> list[iam.PolicyStatement]:
        return [
            iam.PolicyStatement(actions=["sns:Publish"], resources=[self.topic.topic_arn]),
            iam.PolicyStatement(actions=list(PUBLISHER_KEY_ACTIONS), resources=[self.key.key_arn]),
        ]

    def allow_service(self, service_principal: str) -> None:
        """Let an AWS service publish from this account (e.g. `cloudwatch.amazonaws.com` for alarms).

        Adds a topic policy statement (limited to this account with `aws:SourceAccount`) and a key
        policy statement, since such a service calls KMS as itself, not as a role of the account.
        """
        principal = iam.ServicePrincipal(service_principal)
        account = self.topic.env.account
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"Publish{service_sid(service_principal)}",
                principals=[principal],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=from_this_account(account),
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"SnsPublishFrom{service_sid(service_principal)}",
                principals=[principal],
                actions=list(SERVICE_KEY_ACTIONS),
                resources=["*"],  # in a key policy, "*" is this key
                conditions=from_this_account(account),
            ),
            allow_no_op=True,
        )
