"""The serving stack: an OpenAI-compatible HTTP API in front of the environment's trained models.

`POST /v1/chat/completions` and `GET /v1/models` (API Gateway HTTP API) go to one Lambda
(`lambda_gateway/`), which resolves the request's `model` through the registry (`rft.registry`,
SSM `/rft/<env>/models/*` and `/rft/<env>/aliases/*`) and calls the model.

- Authorization: IAM (SigV4, service `execute-api`) on every route by default; with
  `gateway.jwt_issuer` and `gateway.jwt_audience` both set, a JWT authorizer instead. No route is
  unauthenticated, and the `$default` stage throttles at `gateway.throttle_rate_limit` /
  `throttle_burst_limit` and writes JSON access logs to its own log group.
- The function's role reads only this environment's model records and aliases, and may invoke
  only Bedrock custom model deployments tagged `rft:environment=<env>` (the training workflow tags
  every deployment it creates with it, `rft.job_plan.run_tags`) and Mantle inference in this account
  and region. Which Mantle model it calls is decided by the registry record, since Mantle
  authorizes inference per project, not per model.
"""

from __future__ import annotations

import json

import aws_cdk as cdk
import jsii
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from rft import names
from stacks.config import EnvironmentSettings, GatewaySettings
from stacks.constructs.bundle_manifest import package_manifest
from stacks.constructs.log_retention import encrypted_log_group
from stacks.constructs.python_function import BundledPythonFunction
from stacks.security import (
    acknowledge_wildcard,
    arn,
    calls_services_outside_a_vpc,
    invoked_synchronously,
    shares_the_account_pool,
)

# The gateway's modules and those of rft/ they import (never the client: rft/cli...).
GATEWAY_SOURCES = package_manifest("lambda_gateway")
GATEWAY_HANDLER = "lambda_gateway.handler.handler"
GATEWAY_REQUIREMENTS = "lambda_gateway/requirements.txt"
# Written by the function as embedded metric format, dimension `Model` (lambda_gateway/metrics.py).
METRICS_NAMESPACE = "RftStack/Gateway"
MODEL_DIMENSION = "Model"
# The tag the training workflow puts on every deployment it creates (rft.job_plan.run_tags).
ENVIRONMENT_TAG = "rft:environment"
# API Gateway ends an HTTP API integration after at most 30 s; the function stops first and the
# model's service gets less again, so a slow model is an OpenAI-style 502, not a bare 503.
INTEGRATION_TIMEOUT = cdk.Duration.seconds(29)
FUNCTION_TIMEOUT = cdk.Duration.seconds(29)
UPSTREAM_TIMEOUT_SECONDS = 25
# Output keys: rft.environment reads `GatewayUrl` (the stack is `<env>-Serving`).

INVOKE_MODEL = "bedrock:InvokeModel"
# What the Bedrock docs list for invoking a custom model encrypted with a customer managed key.
CUSTOM_MODEL_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
MANTLE_INFERENCE = "bedrock-mantle:CreateInference"

# One JSON object per request: who called (IAM caller or JWT subject), what, the result and timings.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "sourceIp": "$context.identity.sourceIp",
    "caller": "$context.identity.caller",
    "userArn": "$context.identity.userArn",
    "accountId": "$context.identity.accountId",
    "jwtSubject": "$context.authorizer.claims.sub",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus",
    "integrationError": "$context.integrationErrorMessage",
    "authorizerError": "$context.authorizer.error",
    "error": "$context.error.message",
}


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)
        self._format = apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":")))

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return self._format


class ServingStack(cdk.Stack):
    """The gateway function, its least-privilege role, and the HTTP API that fronts it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EnvironmentSettings,
        data_key: kms.IKey,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        gateway = settings.gateway
        self.environment_name = settings.name

        bundled = BundledPythonFunction(
            self,
            "Gateway",
            sources=list(GATEWAY_SOURCES),
            handler=GATEWAY_HANDLER,
            requirements=GATEWAY_REQUIREMENTS,
            description=f"rft-stack {settings.name}: OpenAI-compatible gateway to the trained models",
            log_retention_days=settings.log_retention_days,
            retain_logs=settings.retain_data,
            log_key=data_key,
            memory_size=1024,
            timeout=FUNCTION_TIMEOUT,
            environment={
                "RFT_ENVIRONMENT": settings.name,
                "METRICS_NAMESPACE": METRICS_NAMESPACE,
                "POWERTOOLS_SERVICE_NAME": "rft-gateway",
                "UPSTREAM_TIMEOUT_SECONDS": str(UPSTREAM_TIMEOUT_SECONDS),
            },
        )
        self.function: lambda_.Function = bundled.function
        self.function_log_group: logs.ILogGroup = bundled.log_group
        self.role = bundled.role
        self.policy = self._model_access_policy(settings.name)
        invoked_synchronously(
            self.function, "API Gateway (the HTTP API's Lambda integration), which answers the client with it"
        )
        calls_services_outside_a_vpc(self.function, "Bedrock, the Mantle endpoint and SSM Parameter Store")
        shares_the_account_pool(
            self.function,
            "The API stage's throttling bounds its concurrency (gateway.throttle_burst_limit = "
            f"{gateway.throttle_burst_limit}); reserving would take it from the account's other functions",
        )
        if settings.bedrock_base_models:
            # The workflow encrypts Nova custom models with the data key: invoking one needs it.
            self._allow_custom_model_key(data_key)

        self.access_log_group = encrypted_log_group(
            self,
            "AccessLogs",
            retention=settings.log_retention_days,
            retain=settings.retain_data,
            key=data_key,
        )
        self.authorization = "JWT" if gateway.jwt_issuer else "AWS_IAM"
        self.api = apigwv2.HttpApi(
            self,
            "Api",
            description=f"rft-stack {settings.name}: OpenAI-compatible /v1/chat/completions and /v1/models",
            default_authorizer=self._authorizer(gateway),
            create_default_stage=False,
        )
        self.stage = apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=gateway.throttle_rate_limit, burst_limit=gateway.throttle_burst_limit
            ),
            access_log_settings=_AccessLogSettings(self.access_log_group),
        )
        integration = integrations.HttpLambdaIntegration(
            "GatewayFunction",
            self.function,
            payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0,
            timeout=INTEGRATION_TIMEOUT,
        )
        self.api.add_routes(
            path="/v1/chat/completions", methods=[apigwv2.HttpMethod.POST], integration=integration
        )
        self.api.add_routes(path="/v1/models", methods=[apigwv2.HttpMethod.GET], integration=integration)

        url = self.stage.url
        cdk.CfnOutput(
            self, names.GATEWAY_URL_OUTPUT, value=url, description="The gateway's URL (the API root)"
        )
        cdk.CfnOutput(
            self,
            names.OPENAI_BASE_URL_OUTPUT,
            value=f"{url}v1",
            description="base_url for the openai SDK (requests signed with SigV4, service execute-api)",
        )

    @property
    def metrics_namespace(self) -> str:
        return METRICS_NAMESPACE

    def _authorizer(self, gateway: GatewaySettings) -> apigwv2.IHttpRouteAuthorizer:
        if gateway.jwt_issuer:
            return authorizers.HttpJwtAuthorizer(
                "JwtAuthorizer", gateway.jwt_issuer, jwt_audience=list(gateway.jwt_audience)
            )
        return authorizers.HttpIamAuthorizer()

    def _model_access_policy(self, environment: str) -> iam.Policy:
        deployments = arn(self, "bedrock", "custom-model-deployment/*")
        mantle_projects = arn(self, "bedrock-mantle", "project/*")
        policy = iam.Policy(
            self,
            "ModelAccess",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    sid="ReadModelRecordsAndAliases",
                    actions=["ssm:GetParameter", "ssm:GetParameters"],
                    resources=[
                        arn(self, "ssm", names.parameter_resource(environment, names.MODELS)),
                        arn(self, "ssm", names.parameter_resource(environment, names.ALIASES)),
                    ],
                ),
                iam.PolicyStatement(
                    sid="ListModelRecordsAndAliases",
                    actions=["ssm:GetParametersByPath"],
                    resources=[
                        arn(self, "ssm", "parameter" + names.parameter_path(environment, names.MODELS)),
                        arn(self, "ssm", "parameter" + names.parameter_path(environment, names.ALIASES)),
                    ],
                ),
                iam.PolicyStatement(
                    sid="InvokeThisEnvironmentsDeployments",
                    actions=[INVOKE_MODEL],
                    resources=[deployments],
                    conditions={"StringEquals": {f"aws:ResourceTag/{ENVIRONMENT_TAG}": environment}},
                ),
                iam.PolicyStatement(
                    sid="MantleInference", actions=[MANTLE_INFERENCE], resources=[mantle_projects]
                ),
            ],
        )
        for kind in (names.MODELS, names.ALIASES):
            acknowledge_wildcard(
                policy,
                arn(self, "ssm", names.parameter_resource(environment, kind)),
                f"Model records and aliases of '{environment}' are SSM parameters the training workflow and "
                "`rft models promote` create at run time, one per model or alias: the path is fixed to this "
                "environment, only the last segment is a wildcard",
            )
        acknowledge_wildcard(
            policy,
            deployments,
            "Bedrock custom model deployments are created at run time by the training workflow, so their "
            f"ids are unknown at synth; the statement only matches deployments tagged {ENVIRONMENT_TAG}="
            f"{environment} in this account and region",
        )
        acknowledge_wildcard(
            policy,
            mantle_projects,
            "Mantle authorizes CreateInference on its project resource (ids not known at synth), not per "
            "model; the gateway only calls the model ids its environment's registry records name",
        )
        return policy

    def _allow_custom_model_key(self, key: kms.IKey) -> None:
        """The training workflow encrypts Nova custom models with the data key
        (CustomModelKmsKeyId); invoking such a model's deployment needs the key too, used by
        Bedrock on the caller's behalf only."""
        self.policy.add_statements(
            iam.PolicyStatement(
                sid="UseCustomModelKey",
                actions=list(CUSTOM_MODEL_KEY_ACTIONS),
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"bedrock.{self.region}.amazonaws.com"}},
            )
        )
