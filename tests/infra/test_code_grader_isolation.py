"""The code grader runs model-written code in a network with no way out, and needs none.

Nothing in any stack of the environment may give its VPC a path out: no internet, egress-only or
NAT gateway, no VPC endpoint, peering, transit or VPN attachment, no route besides the implicit
local one, and a security group without ingress or real egress. The grader itself answers a
batch with every network interface but loopback gone (a network namespace, when the machine
allows one; sockets refused in-process otherwise).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from stacks.config import ConfigError
from stacks.rewards_stack import CODE_GRADER
from stacks.stage import RftStage
from tests.infra.helpers import REPO_ROOT, all_resources, build_stage, configured_stage, settings, template

# Every CloudFormation resource type that can connect a VPC to anything outside it.
WAYS_OUT = {
    "AWS::EC2::InternetGateway",
    "AWS::EC2::EgressOnlyInternetGateway",
    "AWS::EC2::VPCGatewayAttachment",
    "AWS::EC2::NatGateway",
    "AWS::EC2::EIP",
    "AWS::EC2::VPCEndpoint",
    "AWS::EC2::VPCPeeringConnection",
    "AWS::EC2::TransitGatewayAttachment",
    "AWS::EC2::TransitGatewayVpcAttachment",
    "AWS::EC2::VPNGateway",
    "AWS::EC2::CarrierGateway",
    "AWS::EC2::Route",
    "AWS::EC2::LocalGatewayRouteTableVPCAssociation",
    "AWS::EC2::SecurityGroupEgress",
    "AWS::EC2::SecurityGroupIngress",
    "AWS::EC2::NetworkInterface",
    "AWS::EC2::VPCEndpointService",
}
# CloudFormation adds allow-all egress to a group that lists none; CDK lists this rule instead,
# which matches no packet (ICMP type 252 code 86 to the broadcast address).
CDK_NO_EGRESS_PLACEHOLDER = {
    "CidrIp": "255.255.255.255/32",
    "Description": "Disallow all traffic",
    "FromPort": 252,
    "IpProtocol": "icmp",
    "ToPort": 86,
}


def of_type(resources: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {key: r for key, r in resources.items() if r["Type"] == kind}


def code_grader(rft_stage: RftStage) -> dict[str, Any]:
    rewards = rft_stage.rewards
    function = rewards.graders[CODE_GRADER].function
    return template(rewards).to_json()["Resources"][rewards.resolve(function.node.default_child.logical_id)]


@pytest.mark.parametrize("name", ["staging", "prod"])
def test_nothing_in_the_environment_gives_a_vpc_a_way_out(name):
    resources = all_resources(configured_stage(name))
    assert len(of_type(resources, "AWS::EC2::VPC")) == 1
    assert {key: r["Type"] for key, r in resources.items() if r["Type"] in WAYS_OUT} == {}


@pytest.mark.parametrize("name", ["staging", "prod"])
def test_the_code_grader_runs_in_two_isolated_subnets_of_two_zones(name):
    rft_stage = configured_stage(name)
    rewards = template(rft_stage.rewards).to_json()["Resources"]
    subnets = of_type(rewards, "AWS::EC2::Subnet")
    assert len(subnets) == 2
    zones = {json.dumps(s["Properties"]["AvailabilityZone"]) for s in subnets.values()}
    assert len(zones) == 2, zones
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets.values())
    # Each subnet has its own route table holding only the implicit local route.
    associations = of_type(rewards, "AWS::EC2::SubnetRouteTableAssociation").values()
    assert sorted(a["Properties"]["SubnetId"]["Ref"] for a in associations) == sorted(subnets)
    vpc_config = code_grader(rft_stage)["Properties"]["VpcConfig"]
    assert sorted(s["Ref"] for s in vpc_config["SubnetIds"]) == sorted(subnets)


@pytest.mark.parametrize("name", ["staging", "prod"])
def test_the_code_graders_security_group_has_no_ingress_and_no_egress(name):
    rft_stage = configured_stage(name)
    rewards = template(rft_stage.rewards).to_json()["Resources"]
    ((group_id, group),) = of_type(rewards, "AWS::EC2::SecurityGroup").items()
    assert "SecurityGroupIngress" not in group["Properties"]
    assert group["Properties"]["SecurityGroupEgress"] == [CDK_NO_EGRESS_PLACEHOLDER]
    vpc_config = code_grader(rft_stage)["Properties"]["VpcConfig"]
    assert vpc_config["SecurityGroupIds"] == [{"Fn::GetAtt": [group_id, "GroupId"]}]


def test_attempts_to_connect_are_recorded_in_encrypted_flow_logs():
    rewards = template(configured_stage("staging").rewards).to_json()["Resources"]
    ((_, flow_log),) = of_type(rewards, "AWS::EC2::FlowLog").items()
    assert flow_log["Properties"]["TrafficType"] == "ALL"
    group = rewards[flow_log["Properties"]["LogGroupName"]["Ref"]]
    assert "DataKey" in json.dumps(group["Properties"]["KmsKeyId"])


def test_the_network_interfaces_policy_is_deployed_before_the_function():
    rft_stage = configured_stage("staging")
    rewards = template(rft_stage.rewards).to_json()["Resources"]
    attach = [
        k
        for k, r in of_type(rewards, "AWS::IAM::Policy").items()
        if "ec2:CreateNetworkInterface" in json.dumps(r)
    ]
    assert len(attach) == 1
    assert attach[0] in code_grader(rft_stage)["DependsOn"]
    # Only the describe calls (which take no resource) are on "*"; interfaces are created only in
    # this VPC's subnets with its security group.
    for statement in rewards[attach[0]]["Properties"]["PolicyDocument"]["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Resource"] == "*":
            assert all(a.startswith("ec2:Describe") for a in actions), statement
        if "ec2:CreateNetworkInterface" in actions:
            placement = json.dumps(statement["Resource"])
            assert placement.count(":subnet/") == 2 and placement.count(":security-group/") == 1
    # The managed AWSLambdaVPCAccessExecutionRole (which reaches every log group) stays off.
    role_id = code_grader(rft_stage)["Properties"]["Role"]["Fn::GetAtt"][0]
    assert "ManagedPolicyArns" not in rewards[role_id]["Properties"]


def test_turning_isolation_off_removes_the_network_and_nothing_else():
    rft_stage = build_stage("staging", rewards={"isolate_code_grader": False})
    resources = all_resources(rft_stage)
    assert not [r for r in resources.values() if r["Type"].startswith("AWS::EC2::")]
    assert "VpcConfig" not in code_grader(rft_stage)["Properties"]
    assert set(rft_stage.rewards.graders) == set(configured_stage("staging").rewards.graders)


def test_the_setting_must_be_a_boolean():
    with pytest.raises(ConfigError, match=r"setting 'rewards\.isolate_code_grader': must be bool, got 'no'"):
        settings("staging", rewards={"isolate_code_grader": "no"})


def test_running_unsandboxed_code_requires_the_closed_network():
    with pytest.raises(
        ConfigError,
        match=r"setting 'rewards\.code_tests_allow_unsandboxed': true requires rewards\.isolate_code_grader",
    ):
        settings("staging", rewards={"code_tests_allow_unsandboxed": True, "isolate_code_grader": False})
    assert settings("staging", rewards={"code_tests_allow_unsandboxed": True}).rewards.isolate_code_grader


def test_isolation_is_on_unless_turned_off():
    assert settings("staging").rewards.isolate_code_grader is True
    assert settings("prod").rewards.isolate_code_grader is True


# --- the grader needs no network -----------------------------------------------------------------

_RUN_GRADER = textwrap.dedent(
    """
    import contextlib, io, json, socket, sys

    def refuse(*args, **kwargs):
        raise OSError("network use in the code grader: " + repr(args)[:80])

    if sys.argv[2] == "refuse-sockets":
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        _connect = socket.socket.connect
        def connect(self, address):
            if self.family != socket.AF_UNIX:
                refuse(address)
            return _connect(self, address)
        socket.socket.connect = connect

    from lambda_rewards.code_tests.handler import handler

    class Context:
        def get_remaining_time_in_millis(self):
            return 60_000

    event = json.loads(sys.stdin.read())
    with contextlib.redirect_stdout(io.StringIO()) as logs:
        results = handler(event, Context())
    with open(sys.argv[1], "w") as out:
        json.dump({"results": results, "logs": logs.getvalue()}, out)
    """
)

_ADD = {
    "task_id": "isolation/add",
    "prompt": 'def add(a: int, b: int) -> int:\n    """Return the sum of a and b."""\n',
    "entry_point": "add",
    "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-5, 7) == 2\n",
}


def _sample(sample_id: str, code: str) -> dict[str, Any]:
    return {
        "id": sample_id,
        "messages": [
            {"role": "user", "content": _ADD["prompt"]},
            {"role": "assistant", "content": f"```python\n{code}```\n"},
        ],
        "metadata": {"reference_answer": _ADD},
    }


def _network_free_prefix() -> tuple[list[str], str, dict[str, str]]:
    """A command prefix that removes every network interface but loopback, when possible.

    In a user namespace the grader cannot switch users, so its sandbox is incomplete, as on
    Lambda (rft/assumptions.py): the run then allows unsandboxed grading, the configuration in
    which the closed network is all that contains the model's code.
    """
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-rn", "true"], capture_output=True).returncode == 0:
        return [unshare, "-rn"], "network-namespace", {"CODE_TESTS_ALLOW_UNSANDBOXED": "true"}
    return [], "refuse-sockets", {}


@pytest.mark.slow
def test_the_code_grader_grades_a_batch_without_any_network(tmp_path: Path):
    prefix, mode, environment = _network_free_prefix()
    event = {
        "trajectories": [
            _sample("right", "def add(a, b):\n    return a + b\n"),
            _sample("wrong", "def add(a, b):\n    return a - b\n"),
            # Model-written code that tries the network: it must fail, and the grade must not.
            _sample(
                "reaches-out",
                "import urllib.request\n"
                "def add(a, b):\n"
                "    urllib.request.urlopen('http://169.254.169.254/', timeout=1)\n"
                "    return a + b\n",
            ),
        ]
    }
    out = tmp_path / "results.json"
    completed = subprocess.run(
        [*prefix, sys.executable, "-c", _RUN_GRADER, str(out), mode],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, **environment},
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads(out.read_text())
    scores = {r["id"]: r["aggregate_reward_score"] for r in report["results"]}
    assert scores == {"right": 1.0, "wrong": 0.0, "reaches-out": 0.0}
    # The batch's metrics travel in the logs (embedded metric format), not over the network.
    assert '"_aws"' in report["logs"]
