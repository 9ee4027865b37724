"""The serving stack: authorization on every route, access logs, throttling, the role's scope."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Match, Template

from rft.names import GATEWAY_URL_OUTPUT, OPENAI_BASE_URL_OUTPUT
from stacks.security import add_security_checks
from stacks.serving_stack import ACCESS_LOG_FIELDS, ServingStack
from tests.infra.helpers import new_app, settings

ROUTES = {"POST /v1/chat/completions", "GET /v1/models"}


def serving(name: str = "staging", **overrides) -> tuple[cdk.App, ServingStack]:
    app = new_app()
    stage = cdk.Stage(app, name, env=cdk.Environment(region="us-west-2"))
    key = kms.Key(cdk.Stack(stage, "Data"), "DataKey", enable_key_rotation=True)
    stack = ServingStack(stage, "Serving", settings=settings(name, **overrides), data_key=key)
    add_security_checks(stage)
    return app, stack


def resources(template: Template, kind: str) -> dict:
    return template.find_resources(kind)


def statements(template: Template) -> list[dict]:
    found = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return found


def flat(value) -> str:
    """An ARN with its CloudFormation intrinsics flattened, for matching."""
    return json.dumps(value)


@pytest.fixture(scope="module")
def staging() -> Template:
    _, stack = serving()
    return Template.from_stack(stack)


def test_every_route_requires_iam_authorization_and_none_is_open(staging):
    routes = resources(staging, "AWS::ApiGatewayV2::Route")
    assert {r["Properties"]["RouteKey"] for r in routes.values()} == ROUTES
    for route in routes.values():
        assert route["Properties"]["AuthorizationType"] == "AWS_IAM"
    staging.resource_count_is("AWS::ApiGatewayV2::Authorizer", 0)


def test_with_jwt_settings_every_route_uses_the_jwt_authorizer():
    _, stack = serving(gateway={"jwt_issuer": "https://login.example.com", "jwt_audience": ["apps", "ci"]})
    template = Template.from_stack(stack)
    (authorizer_id,) = resources(template, "AWS::ApiGatewayV2::Authorizer")
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Authorizer",
        {
            "AuthorizerType": "JWT",
            "IdentitySource": ["$request.header.Authorization"],
            "JwtConfiguration": {"Issuer": "https://login.example.com", "Audience": ["apps", "ci"]},
        },
    )
    routes = resources(template, "AWS::ApiGatewayV2::Route")
    assert len(routes) == len(ROUTES)
    for route in routes.values():
        assert route["Properties"]["AuthorizationType"] == "JWT"
        assert route["Properties"]["AuthorizerId"] == {"Ref": authorizer_id}


def test_the_stage_throttles_with_the_environments_settings_and_logs_every_request(staging):
    (stage,) = resources(staging, "AWS::ApiGatewayV2::Stage").values()
    properties = stage["Properties"]
    assert properties["StageName"] == "$default"
    assert properties["AutoDeploy"] is True
    assert properties["DefaultRouteSettings"] == {"ThrottlingRateLimit": 20, "ThrottlingBurstLimit": 40}
    log_settings = properties["AccessLogSettings"]
    assert json.loads(log_settings["Format"]) == ACCESS_LOG_FIELDS
    (log_group_id,) = [
        key
        for key, group in resources(staging, "AWS::Logs::LogGroup").items()
        if log_settings["DestinationArn"] == {"Fn::GetAtt": [key, "Arn"]}
    ]
    assert resources(staging, "AWS::Logs::LogGroup")[log_group_id]["Properties"]["RetentionInDays"] == 30


def test_throttling_and_retention_follow_overrides():
    _, stack = serving(
        "prod", gateway={"throttle_rate_limit": 5.5, "throttle_burst_limit": 11}, log_retention_days=90
    )
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {"DefaultRouteSettings": {"ThrottlingRateLimit": 5.5, "ThrottlingBurstLimit": 11}},
    )
    template.has_resource(
        "AWS::Logs::LogGroup", {"Properties": {"RetentionInDays": 90}, "DeletionPolicy": "Retain"}
    )


def test_both_routes_reach_the_gateway_function_with_payload_2(staging):
    (integration,) = resources(staging, "AWS::ApiGatewayV2::Integration").values()
    assert integration["Properties"]["IntegrationType"] == "AWS_PROXY"
    assert integration["Properties"]["PayloadFormatVersion"] == "2.0"
    assert integration["Properties"]["TimeoutInMillis"] == 29000
    staging.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "lambda_gateway.handler.handler",
            "Runtime": "python3.14",
            "Architectures": ["arm64"],
            "Timeout": 29,
            "TracingConfig": {"Mode": "Active"},
            "Environment": {
                "Variables": Match.object_like(
                    {"RFT_ENVIRONMENT": "staging", "METRICS_NAMESPACE": "RftStack/Gateway"}
                )
            },
        },
    )


def test_the_role_reads_only_this_environments_records_and_aliases(staging):
    ssm = [s for s in statements(staging) if any(a.startswith("ssm:") for a in _actions(s))]
    reads = {a for s in ssm for a in _actions(s)}
    assert reads == {"ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"}
    resources_text = flat([s["Resource"] for s in ssm])
    for path in ("parameter/rft/staging/models", "parameter/rft/staging/aliases"):
        assert path in resources_text
    assert resources_text.count("parameter/") == 4
    assert "parameter/rft/staging/evaluations" not in resources_text
    assert "parameter/*" not in resources_text


def test_the_role_invokes_only_deployments_tagged_with_its_environment(staging):
    (invoke,) = [s for s in statements(staging) if "bedrock:InvokeModel" in _actions(s)]
    assert _actions(invoke) == ["bedrock:InvokeModel"]
    assert ":custom-model-deployment/*" in flat(invoke["Resource"])
    assert "foundation-model" not in flat(invoke["Resource"])
    assert invoke["Condition"] == {"StringEquals": {"aws:ResourceTag/rft:environment": "staging"}}


def test_the_role_may_run_mantle_inference_and_nothing_else_of_mantle(staging):
    mantle = [s for s in statements(staging) if any(a.startswith("bedrock-mantle:") for a in _actions(s))]
    assert [_actions(s) for s in mantle] == [["bedrock-mantle:CreateInference"]]
    assert ":project/*" in flat(mantle[0]["Resource"])


def test_the_role_has_no_managed_policy_and_writes_only_its_own_log_group(staging):
    for role in resources(staging, "AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]
    (logs,) = [s for s in statements(staging) if "logs:PutLogEvents" in _actions(s)]
    assert "Fn::GetAtt" in logs["Resource"]


def test_no_statement_allows_every_action_or_a_bare_wildcard_except_xray(staging):
    for statement in statements(staging):
        actions = _actions(statement)
        assert not any(a.endswith(":*") or a == "*" for a in actions)
        if statement["Resource"] == "*":
            assert set(actions) == {"xray:PutTelemetryRecords", "xray:PutTraceSegments"}


def test_outputs_give_the_url_and_the_openai_base_url(staging):
    outputs = staging.to_json()["Outputs"]
    assert flat(outputs[GATEWAY_URL_OUTPUT]["Value"]).endswith('"/"]]}')
    assert flat(outputs[OPENAI_BASE_URL_OUTPUT]["Value"]).endswith('"/v1"]]}')
    assert ".execute-api.us-west-2." in flat(outputs[GATEWAY_URL_OUTPUT]["Value"])


def test_the_stack_passes_the_security_gate_in_both_authorization_modes():
    for overrides in ({}, {"gateway": {"jwt_issuer": "https://login.example.com", "jwt_audience": ["apps"]}}):
        app, _ = serving(**overrides)
        app.synth()  # raises on any unacknowledged cdk-nag finding


def _actions(statement: dict) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def _render_arn(value, *, account: str) -> str:
    """A policy resource as the ARN IAM compares: Fn::Join joined, pseudo parameters filled."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_render_arn(part, account=account) for part in parts)
    pseudo = {"AWS::Partition": "aws", "AWS::Region": "us-west-2", "AWS::AccountId": account}
    return pseudo[value["Ref"]]


def test_get_parameters_by_path_is_granted_on_the_exact_path_the_registry_sends(staging):
    """SSM authorizes GetParametersByPath against the path in the request (not the parameters it
    returns), as `arn:...:parameter<Path>`: a trailing `/` in the call is a different resource
    from the path IAM grants, and every listing would be denied."""
    import boto3
    from moto import mock_aws

    from rft.registry import ModelRegistry

    account = "123456789012"
    (by_path,) = [s for s in statements(staging) if "ssm:GetParametersByPath" in _actions(s)]
    granted = {_render_arn(r, account=account) for r in by_path["Resource"]}
    sent: list[str] = []
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-west-2")
        ssm.meta.events.register(
            "provide-client-params.ssm.GetParametersByPath", lambda params, **_: sent.append(params["Path"])
        )
        registry = ModelRegistry(ssm, "staging")
        registry.list_models()
        registry.list_aliases()
    assert sent
    requested = {f"arn:aws:ssm:us-west-2:{account}:parameter{path}" for path in sent}
    assert requested <= granted, sorted(requested - granted)
