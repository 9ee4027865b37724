"""The training stack's template: IAM (trust, PassRole, no `*` actions, grader invoke on aliases
only), the state machine's logging, tracing and definition, the topic, and the cleanup rule."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Match

from rft.names import ARTIFACTS_PREFIX
from rft.workflow_state import path
from stacks.constructs.workflow_states import MODEL_READY_DETAIL_TYPE, MODEL_READY_SOURCE
from tests.infra.helpers import build_stage, template


@functools.cache
def staging() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    stage = build_stage("staging")
    return (
        template(stage.training).to_json(),
        template(stage.rewards).to_json(),
        template(stage.data).to_json(),
    )


def resources(tpl: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in tpl["Resources"].items() if r["Type"] == kind}


def statements(tpl: dict[str, Any], policy_logical_prefix: str = "") -> list[dict[str, Any]]:
    found = []
    for lid, policy in resources(tpl, "AWS::IAM::Policy").items():
        if lid.startswith(policy_logical_prefix):
            found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def definition(tpl: dict[str, Any]) -> dict[str, Any]:
    (machine,) = resources(tpl, "AWS::StepFunctions::StateMachine").values()
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))


def role_of_policy(tpl: dict[str, Any], statement_filter) -> set[str]:
    roles = set()
    for policy in resources(tpl, "AWS::IAM::Policy").values():
        if any(statement_filter(s) for s in policy["Properties"]["PolicyDocument"]["Statement"]):
            roles.update(r["Ref"] for r in policy["Properties"]["Roles"])
    return roles


def grader_alias_exports(rewards: dict[str, Any]) -> set[str]:
    """Export names under which the rewards stack shares its graders' `live` aliases."""
    aliases = set(resources(rewards, "AWS::Lambda::Alias"))
    return {
        output["Export"]["Name"]
        for output in rewards.get("Outputs", {}).values()
        if "Export" in output and output["Value"].get("Ref") in aliases
    }


# --- IAM -----------------------------------------------------------------------------------------


def test_no_statement_of_the_training_stack_allows_a_wildcard_action():
    training, _, _ = staging()
    for statement in statements(training):
        for action in as_list(statement["Action"]):
            assert "*" not in action, statement


def test_the_bedrock_service_role_trusts_only_bedrock_for_this_accounts_customization_jobs():
    training, _, _ = staging()
    (role,) = [
        r for lid, r in resources(training, "AWS::IAM::Role").items() if lid.startswith("BedrockServiceRole")
    ]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    source_arn = trust["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Join"][1]
    assert source_arn == [
        "arn:aws:bedrock:us-west-2:",
        {"Ref": "AWS::AccountId"},
        ":model-customization-job/*",
    ]
    assert "ManagedPolicyArns" not in role["Properties"]


def test_the_bedrock_service_role_reads_datasets_writes_run_outputs_and_invokes_only_grader_aliases():
    training, rewards, _ = staging()
    granted = statements(training, "BedrockServiceRole")
    actions = {a for s in granted for a in as_list(s["Action"])}
    assert actions == {
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "kms:DescribeKey",
        "lambda:InvokeFunction",
    }
    (writes,) = [s for s in granted if "s3:PutObject" in as_list(s["Action"])]
    assert writes["Resource"]["Fn::Join"][1][-1] == f"/{ARTIFACTS_PREFIX}/*"
    (invoke,) = [s for s in granted if s["Action"] == "lambda:InvokeFunction"]
    targets = {r["Fn::ImportValue"] for r in as_list(invoke["Resource"])}
    assert targets == grader_alias_exports(rewards) and targets


def test_the_state_machine_may_pass_only_the_service_role_and_only_to_bedrock():
    training, _, _ = staging()
    passing = [s for s in statements(training) if "iam:PassRole" in as_list(s["Action"])]
    (pass_role,) = passing
    (service_role,) = [
        lid for lid in resources(training, "AWS::IAM::Role") if lid.startswith("BedrockServiceRole")
    ]
    assert pass_role["Resource"] == {"Fn::GetAtt": [service_role, "Arn"]}
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}
    (machine,) = resources(training, "AWS::StepFunctions::StateMachine").values()
    assert role_of_policy(training, lambda s: "iam:PassRole" in as_list(s["Action"])) == {
        machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    }


def test_the_state_machine_calls_only_the_bedrock_actions_it_uses():
    training, _, _ = staging()
    bedrock = {
        a
        for s in statements(training, "WorkflowStateMachineRole")
        for a in as_list(s["Action"])
        if a.startswith("bedrock:")
    }
    assert bedrock == {
        "bedrock:CreateModelCustomizationJob",
        "bedrock:GetModelCustomizationJob",
        "bedrock:StopModelCustomizationJob",
        "bedrock:CreateCustomModelDeployment",
        "bedrock:GetCustomModelDeployment",
        "bedrock:TagResource",
    }
    (create,) = [
        s
        for s in statements(training, "WorkflowStateMachineRole")
        if "bedrock:CreateModelCustomizationJob" in as_list(s["Action"])
    ]
    # The Mantle models of cdk.json's environments are not Bedrock foundation models: no grant.
    assert not [r for r in as_list(create["Resource"]) if "foundation-model" in json.dumps(r)]


@functools.cache
def nova_stage():
    """A Bedrock-plane (Nova) environment: cdk.json has none, so the tests build one."""
    return build_stage(
        "staging",
        region="us-east-1",
        allowed_base_models=["amazon.nova-2-lite-v1:0:256k"],
        rewards={"judge_model_ids": []},
    )


def test_a_nova_environment_may_create_jobs_only_on_its_bedrock_base_models():
    training = template(nova_stage().training).to_json()
    (create,) = [
        s
        for s in statements(training, "WorkflowStateMachineRole")
        if "bedrock:CreateModelCustomizationJob" in as_list(s["Action"])
    ]
    literal = [r for r in as_list(create["Resource"]) if isinstance(r, str)]
    assert literal == ["arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-2-lite-v1:0:256k"]


def test_the_gateway_may_use_the_custom_model_key_only_where_nova_models_are_trained():
    """Nova custom models are encrypted with the data key; invoking one needs kms:Decrypt on it."""
    nova = template(nova_stage().serving).to_json()
    (key_use,) = [s for s in statements(nova) if s.get("Sid") == "UseCustomModelKey"]
    assert sorted(as_list(key_use["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert "Fn::ImportValue" in json.dumps(key_use["Resource"])
    assert key_use["Condition"] == {"StringEquals": {"kms:ViaService": "bedrock.us-east-1.amazonaws.com"}}
    mantle_only = template(build_stage("staging").serving).to_json()
    assert not [s for s in statements(mantle_only) if "kms:" in json.dumps(s.get("Action"))]


def test_the_mantle_step_may_invoke_only_grader_aliases_and_lambda_roles_have_no_managed_policies():
    training, rewards, _ = staging()
    (invoke,) = [
        s for s in statements(training, "MantlePermissions") if s["Action"] == "lambda:InvokeFunction"
    ]
    assert {r["Fn::ImportValue"] for r in invoke["Resource"]} == grader_alias_exports(rewards)
    for lid, role in resources(training, "AWS::IAM::Role").items():
        assert "ManagedPolicyArns" not in role["Properties"], lid


def test_the_state_machine_invokes_the_workflow_functions_through_their_aliases_only():
    training, _, _ = staging()
    aliases = set(resources(training, "AWS::Lambda::Alias"))
    (invoke,) = [
        s for s in statements(training, "WorkflowStateMachineRole") if s["Action"] == "lambda:InvokeFunction"
    ]
    assert {r["Ref"] for r in invoke["Resource"]} <= aliases


# --- the state machine ---------------------------------------------------------------------------


def test_the_state_machine_is_standard_logs_everything_with_retention_and_is_traced():
    training, _, _ = staging()
    (machine,) = resources(training, "AWS::StepFunctions::StateMachine").values()
    properties = machine["Properties"]
    assert properties["StateMachineType"] == "STANDARD"
    assert properties["TracingConfiguration"] == {"Enabled": True}
    logging = properties["LoggingConfiguration"]
    assert logging["Level"] == "ALL" and logging["IncludeExecutionData"] is True
    log_group = logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert training["Resources"][log_group]["Properties"]["RetentionInDays"] == 30


def test_the_definition_uses_jsonpath_sdk_tasks_for_bedrock_and_waits_from_the_state():
    training, _, _ = staging()
    states = definition(training)["States"]
    assert "QueryLanguage" not in definition(training)
    assert all(state.get("QueryLanguage", "JSONPath") == "JSONPath" for state in states.values())
    waits = [s for s in states.values() if s["Type"] == "Wait"]
    assert waits and all(set(s) & {"Seconds", "Timestamp", "TimestampPath"} == set() for s in waits)
    assert all("SecondsPath" in s for s in waits)
    sdk = {
        s["Resource"].rsplit(":", 1)[-1]
        for s in states.values()
        if "aws-sdk:bedrock" in str(s.get("Resource"))
    }
    assert sdk == {
        "createModelCustomizationJob",
        "getModelCustomizationJob",
        "stopModelCustomizationJob",
        "createCustomModelDeployment",
        "getCustomModelDeployment",
    }
    start = states["Start Bedrock job"]
    assert start["Parameters"]["CustomizationType"] == "REINFORCEMENT_FINE_TUNING"
    grader = start["Parameters"]["CustomizationConfig"]["RftConfig"]["GraderConfig"]["LambdaGrader"]
    assert grader == {"LambdaArn.$": "$.plan.grader_arn"}
    assert start["Parameters"]["ClientRequestToken.$"] == "$.plan.bedrock.create_job.ClientRequestToken"
    (throttling,) = [r for r in start["Retry"] if "Bedrock.ThrottlingException" in r["ErrorEquals"]]
    assert throttling["JitterStrategy"] == "FULL" and throttling["MaxDelaySeconds"] > 0


# A state-document path inside any string of a state ($$. is the context object, not the document).
DOCUMENT_PATH = re.compile(r"(?<![$\w])\$\.([A-Za-z_][\w.]*)")


def _document_paths(value: Any, key: str = "") -> list[str]:
    if key in ("ResultSelector", "OutputPath"):  # these read the task's own result
        return []
    if isinstance(value, dict):
        return [found for k, v in value.items() for found in _document_paths(v, k)]
    if isinstance(value, list):
        return [found for item in value for found in _document_paths(item, key)]
    return DOCUMENT_PATH.findall(value) if isinstance(value, str) else []


def test_every_path_the_definition_reads_or_writes_is_a_key_of_the_state_document():
    training, _, _ = staging()
    found = {p for state in definition(training)["States"].values() for p in _document_paths(state)}
    assert {"plan.provider", "training.job_id", "watch.deadline", "caught.Error"} <= found
    for dotted in found:
        path(*dotted.split("."))  # raises UnknownStateKeyError naming the key


def test_every_task_is_caught_and_every_failure_notifies_before_failing():
    training, _, _ = staging()
    states = definition(training)["States"]
    for name, state in states.items():
        if state["Type"] == "Task" and name != "Notify failure":
            # Every task ends in a catch-all (the event wait catches its timeout first: then it polls).
            assert state["Catch"][-1]["ErrorEquals"] == ["States.ALL"], name
    assert states["Notify failure"]["Next"] == "Failed"
    assert states["Failed"] == {
        "Type": "Fail",
        "ErrorPath": "$.failure.error",
        "CausePath": "$.failure.cause",
    }
    entry = states["Announce model ready"]["Parameters"]["Entries"][0]
    assert entry["Source"] == MODEL_READY_SOURCE and entry["DetailType"] == MODEL_READY_DETAIL_TYPE


def test_the_execution_has_a_hard_time_limit_beyond_the_longest_watch():
    training, _, _ = staging()
    assert definition(training)["TimeoutSeconds"] >= 30 * 24 * 3600


# --- topic, cleanup, outputs ---------------------------------------------------------------------


@pytest.mark.parametrize(("environment", "emails"), [("staging", 1), ("prod", 2)])
def test_the_topic_is_encrypted_tls_only_and_mails_the_configured_addresses(environment, emails):
    stage = build_stage(environment)
    training = template(stage.training)
    training.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    (topic,) = resources(training.to_json(), "AWS::SNS::Topic").values()
    assert "Fn::ImportValue" in topic["Properties"]["KmsMasterKeyId"]  # the data key, from the data stack
    training.resource_count_is("AWS::SNS::Subscription", emails)
    training.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email"})
    training.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "sns:Publish",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_cloudwatch_may_use_the_data_key_to_publish_alarms_to_the_topic():
    _, _, data = staging()
    (key,) = resources(data, "AWS::KMS::Key").values()
    allowed = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert len(allowed) == 1 and set(allowed[0]["Action"]) == {"kms:GenerateDataKey*", "kms:Decrypt"}


def test_aborted_or_timed_out_executions_of_this_state_machine_trigger_the_cleanup_function():
    training, _, _ = staging()
    (rule,) = [
        r
        for r in resources(training, "AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"]["source"] == ["aws.states"]
    ]
    (machine,) = resources(training, "AWS::StepFunctions::StateMachine")
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"status": ["ABORTED", "TIMED_OUT"], "stateMachineArn": [{"Ref": machine}]},
    }
    (target,) = rule["Properties"]["Targets"]
    alias = target["Arn"]["Ref"]
    assert alias.startswith("CleanupLive")
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 8
    cleanup = statements(training, "CleanupPermissions")
    actions = {a for s in cleanup for a in as_list(s["Action"])}
    assert {"states:GetExecutionHistory", "bedrock:StopModelCustomizationJob", "sns:Publish"} <= actions


def test_the_workflow_functions_are_arm64_python_3_14_and_traced():
    training, _, _ = staging()
    functions = resources(training, "AWS::Lambda::Function").values()
    handlers = sorted(f["Properties"]["Handler"] for f in functions)
    assert handlers == [
        "lambda_workflow.cleanup.handler",
        "lambda_workflow.guard.handler",
        "lambda_workflow.job_events.handler",
        "lambda_workflow.mantle.handler",
        "lambda_workflow.publish.handler",
        "lambda_workflow.validate.handler",
    ]
    for function in functions:
        properties = function["Properties"]
        assert properties["Architectures"] == ["arm64"] and properties["Runtime"] == "python3.14"
        assert properties["TracingConfig"] == {"Mode": "Active"}


def test_the_client_finds_the_state_machine_and_the_topic_in_the_outputs():
    training, _, _ = staging()
    assert set(training["Outputs"]) >= {"StateMachineArn", "NotificationTopicArn"}


def test_mantle_actions_are_scoped_to_this_accounts_projects_and_only_the_bearer_call_is_unscoped():
    training, _, _ = staging()
    for prefix in ("MantlePermissions", "CleanupPermissions"):
        mantle = [s for s in statements(training, prefix) if str(s["Action"]).count("bedrock-mantle:")]
        unscoped = [s for s in mantle if s["Resource"] == "*"]
        assert [s["Action"] for s in unscoped] == ["bedrock-mantle:CallWithBearerToken"], prefix
        for statement in mantle:
            if statement["Resource"] != "*":
                assert statement["Resource"]["Fn::Join"][1][-1] == ":project/*"
                assert "bedrock-mantle:CallWithBearerToken" not in as_list(statement["Action"])


# --- the health guard ------------------------------------------------------------------------------


def test_the_guard_function_runs_with_the_environments_guard_settings():
    stage = build_stage("staging", training={"auto_stop": False, "guard": {"window": 8}})
    functions = resources(template(stage.training).to_json(), "AWS::Lambda::Function").values()
    (guard,) = [f for f in functions if f["Properties"]["Handler"] == "lambda_workflow.guard.handler"]
    variables = guard["Properties"]["Environment"]["Variables"]
    assert variables["AUTO_STOP"] == "false"
    assert json.loads(variables["GUARD_SETTINGS"])["window"] == 8


def test_the_guard_function_only_reads_run_artifacts():
    training, _, _ = staging()
    allowed = [s for s in statements(training, "GuardPermissions")]
    actions = sorted(a for s in allowed for a in as_list(s["Action"]))
    assert actions == ["kms:Decrypt", "s3:GetObject", "s3:ListBucket"]
    (listing,) = [s for s in allowed if s["Action"] == "s3:ListBucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": [f"{ARTIFACTS_PREFIX}/*"]}}
    (reading,) = [s for s in allowed if s["Action"] == "s3:GetObject"]
    assert json.dumps(reading["Resource"]).endswith(f'/{ARTIFACTS_PREFIX}/*"]]}}')


def test_each_watch_loop_checks_health_and_a_stop_fails_the_run_with_the_findings():
    training, _, _ = staging()
    states = definition(training)["States"]
    for plane, stop in (("Bedrock", "Stop unhealthy Bedrock job"), ("Mantle", "Stop unhealthy Mantle job")):
        check = states[f"Check {plane} training health"]
        assert check["ResultPath"] == path("guard")
        assert check["Catch"][0]["ResultPath"] == path("guard_error")  # a broken guard does not end training
        verdict = states[f"{plane} training healthy?"]
        assert verdict["Choices"][0] == {"Variable": "$.guard.stop", "BooleanEquals": True, "Next": stop}
        assert states[stop]["Next"] == "Training unhealthy"
    assert states["Training unhealthy"]["Parameters"] == {
        "step": "Watch",
        "error": "TrainingUnhealthy",
        "cause.$": "$.guard.cause",
    }


# --- event-driven completion -----------------------------------------------------------------------


def test_finished_bedrock_jobs_wake_their_run_through_an_encrypted_token_table():
    training, _, _ = staging()
    (table,) = resources(training, "AWS::DynamoDB::Table").values()
    sse = table["Properties"]["SSESpecification"]
    assert sse["SSEEnabled"] is True and sse["SSEType"] == "KMS"
    assert "Fn::ImportValue" in json.dumps(sse["KMSMasterKeyId"])  # the environment's data key
    assert table["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    rules = [
        r["Properties"]
        for r in resources(training, "AWS::Events::Rule").values()
        if r["Properties"]["EventPattern"].get("source") == ["aws.bedrock"]
    ]
    (rule,) = rules
    assert rule["EventPattern"]["detail-type"] == ["Model Customization Job State Change"]
    assert rule["EventPattern"]["detail"] == {"jobStatus": ["Completed", "Failed", "Stopped"]}
    allowed = statements(training, "JobEventsPermissions")
    actions = sorted(a for s in allowed for a in as_list(s["Action"]))
    assert actions == [
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "states:SendTaskSuccess",
    ]


def test_the_bedrock_wait_is_a_task_token_wait_timed_by_the_poll_interval():
    training, _, _ = staging()
    states = definition(training)["States"]
    wait = states["Wait for Bedrock job event"]
    assert wait["Resource"].endswith(":states:::lambda:invoke.waitForTaskToken")
    assert wait["TimeoutSecondsPath"] == "$.watch.wait_seconds"
    assert wait["Parameters"]["Payload"]["token.$"] == "$$.Task.Token"
    assert [c["ErrorEquals"] for c in wait["Catch"]] == [["States.Timeout"], ["States.ALL"]]
    assert (
        wait["Catch"][0]["Next"] == "Get Bedrock job" and wait["Catch"][1]["Next"] == "Wait for Bedrock job"
    )
