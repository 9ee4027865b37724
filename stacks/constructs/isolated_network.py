"""A network with no way out, for a function that runs model-written code (the code grader).

Two isolated subnets in two availability zones (Lambda keeps running when one zone fails); no
internet gateway, no NAT gateway, no VPC endpoint, and a security group with no ingress and no
egress rule. The route tables hold only the VPC's local route, and nothing else in the VPC
listens, so code that escapes the grader's sandbox still cannot reach the internet, an AWS API
or the instance metadata of anything. The function needs none of that: Lambda itself collects
its logs (where its metrics travel, as embedded metric format) outside the VPC.

Flow logs record every attempt at a connection (all rejected) in the environment's encrypted logs.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.constructs.log_retention import encrypted_log_group
from stacks.security import acknowledge_wildcard, arn

AVAILABILITY_ZONES = 2
# What Lambda needs of EC2 to attach a function to the VPC (the managed
# AWSLambdaVPCAccessExecutionRole's actions, which this construct grants without that policy).
ENI_DESCRIBE_ACTIONS = ("ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets")
ENI_MANAGE_ACTIONS = (
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)


class IsolatedNetwork(Construct):
    """`.vpc`, `.subnets` and `.security_group` to give a Lambda function (see `attach`)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        log_key: kms.IKey,
        log_retention_days: int,
        retain_logs: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr("10.0.0.0/24"),
            max_azs=AVAILABILITY_ZONES,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="Isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=26
                )
            ],
            # The default security group is attached to nothing here; restricting it would add a
            # custom-resource Lambda (with its own role and log group) for no change in reach.
            restrict_default_security_group=False,
        )
        self.subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        self.security_group = ec2.SecurityGroup(
            self,
            "NoTraffic",
            vpc=self.vpc,
            description="rft-stack code grader: no ingress, no egress",
            allow_all_outbound=False,
        )
        self.flow_log_group = encrypted_log_group(
            self, "FlowLogs", retention=log_retention_days, retain=retain_logs, key=log_key
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )

    def allow_attaching(self, role: iam.IRole) -> iam.Policy:
        """The permissions Lambda uses, as the function's role, to put the function in the VPC:
        network interfaces in this VPC's subnets with its security group, and nothing else."""
        interfaces = arn(self, "ec2", "network-interface/*")
        placement = [
            *(arn(self, "ec2", f"subnet/{subnet.subnet_id}") for subnet in self.vpc.isolated_subnets),
            arn(self, "ec2", f"security-group/{self.security_group.security_group_id}"),
        ]
        policy = iam.Policy(
            self,
            "AttachFunction",
            roles=[role],
            statements=[
                iam.PolicyStatement(actions=list(ENI_DESCRIBE_ACTIONS), resources=["*"]),
                iam.PolicyStatement(
                    actions=["ec2:CreateNetworkInterface"], resources=[interfaces, *placement]
                ),
                iam.PolicyStatement(actions=list(ENI_MANAGE_ACTIONS), resources=[interfaces]),
            ],
        )
        acknowledge_wildcard(
            policy,
            "*",
            "ec2:DescribeNetworkInterfaces and ec2:DescribeSubnets accept no resource-level permissions",
        )
        acknowledge_wildcard(
            policy,
            interfaces,
            "Lambda creates and deletes the function's network interfaces itself, as the function's "
            "role; their ids do not exist before (creation is limited to this VPC's subnets and group)",
        )
        return policy
