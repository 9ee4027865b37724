"""Every AWS SDK task of the synthesized training workflow, turned into the API input it sends, is
valid under botocore's service model; what the workflow reads back from a task's result exists in
the operation's output shape; every Retry/Catch error name is one the operation can raise.

The inputs come from real plans (`rft.job_plan.plan_job`) of a Nova environment in us-east-1 (cdk.json's
environments train on Mantle, so the Bedrock plane is built here): with and without validation
data, every hyperparameter at both ends of its range, the longest names and the most tags.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

import pytest
from botocore.model import StructureShape

from rft import hyperparameters as hp
from rft import job_plan, jobs
from tests.contract.service_models import (
    contract_problems,
    error_names,
    from_sfn_case,
    operation,
    output_member,
)
from tests.infra.helpers import build_stage, template

REGION = "us-east-1"
ACCOUNT = "123456789012"
NOVA = "amazon.nova-2-lite-v1:0:256k"
SDK_RESOURCE = re.compile(r"arn:[^:]+:states:::aws-sdk:(?P<service>[a-z0-9-]+):(?P<action>\w+)")
# What the template's references resolve to at deploy time, by the parameter they fill.
DEPLOY_TIME_VALUES = {
    "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/staging-Training-BedrockServiceRole-AbCdEf123456",
    "CustomModelKmsKeyId": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
}
# Step Functions' own error names, and the Lambda integration's (documented by Step Functions).
STEP_FUNCTIONS_ERRORS = re.compile(r"States\.[A-Za-z]+")
SERVICE_ERROR_PREFIX = {"bedrock": "Bedrock"}


@cache
def definitions() -> dict[str, dict[str, Any]]:
    """The state machine of the Nova environment built here and of each cdk.json environment."""
    stages = {
        "nova-us-east-1": build_stage(
            "staging", region=REGION, allowed_base_models=[NOVA], rewards={"judge_model_ids": []}
        ),
        "staging": build_stage("staging"),
        "prod": build_stage("prod"),
    }
    return {name: _definition(template(stage.training).to_json()) for name, stage in stages.items()}


def _definition(tpl: Mapping[str, Any]) -> dict[str, Any]:
    (machine,) = [r for r in tpl["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))


def all_states(states: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from all_states(branch["States"])
        if "ItemProcessor" in state:
            yield from all_states(state["ItemProcessor"]["States"])


def sdk_tasks(definition: Mapping[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    found = []
    for name, state in all_states(definition["States"]):
        match = SDK_RESOURCE.fullmatch(str(state.get("Resource", "")).replace("TOKEN", "aws"))
        if state.get("Type") == "Task" and match:
            found.append((name, match["service"], match["action"], state))
    return found


# --- The documents the tasks read: real plans ---------------------------------------------------


def settings() -> job_plan.WorkflowSettings:
    return job_plan.WorkflowSettings(
        environment="staging",
        region=REGION,
        datasets_bucket="staging-data-datasetsbucket-1a2b3c4d5e6f",
        artifacts_bucket="staging-data-artifactsbucket-1a2b3c4d5e6f",
        role_arn=DEPLOY_TIME_VALUES["RoleArn"],
        graders={
            "math_answer": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:staging-Rewards-MathAnswer-x:live"
        },
        custom_model_kms_key_id=DEPLOY_TIME_VALUES["CustomModelKmsKeyId"],
    )


def _request(**overrides: Any) -> dict[str, Any]:
    request = {
        "name": "gsm8k-nova-1",
        "base_model": NOVA,
        "training_data": "s3://staging-data-datasetsbucket-1a2b3c4d5e6f/datasets/train-3f2a.jsonl",
        "reward": "math_answer",
    }
    return {**request, **overrides}


def _extreme_hyperparameters(end: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, spec in hp.SPECS.items():
        if spec.choices:
            values[name] = spec.choices[0 if end == "min" else -1]
        elif end == "min" or spec.maximum is None:
            values[name] = spec.kind(spec.minimum) if end == "min" else 1_000_000
        else:
            values[name] = spec.kind(spec.maximum)
    return values


LONGEST_NAME = "r" + "-a" * 31  # 63 characters, the run-name maximum
REQUESTS = {
    "minimal": _request(),
    "validation data": _request(
        validation_data="s3://staging-data-datasetsbucket-1a2b3c4d5e6f/datasets/val-9c1d.jsonl"
    ),
    "every hyperparameter, minimum": _request(hyperparameters=_extreme_hyperparameters("min")),
    "every hyperparameter, maximum": _request(hyperparameters=_extreme_hyperparameters("max")),
    "longest names, most tags": _request(
        name=LONGEST_NAME,
        training_data="s3://staging-data-datasetsbucket-1a2b3c4d5e6f/" + "d/" * 200 + "train.jsonl",
        tags={f"{'k' * 120}{i:03d}": "v" * 256 for i in range(jobs.MAX_USER_TAGS)},
    ),
}


def document(request: Mapping[str, Any]) -> dict[str, Any]:
    """The state document as the Bedrock branch sees it after each step it reads from."""
    plan = job_plan.plan_job(job_plan.validate_request(request, settings()), settings())
    job_arn = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-customization-job/{NOVA}/abcdefghijkl"
    return {
        "plan": plan,
        "training": {"job_id": job_arn, "provider": "bedrock"},
        "bedrock_job": {
            "OutputModelArn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/{NOVA}/mnopqrstuvwx"
        },
        "deployment": {"arn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model-deployment/yzabcdefghij"},
    }


def resolve(parameters: Any, doc: Mapping[str, Any], where: str = "") -> Any:
    """ASL `Parameters` filled from `doc` (JSONPath `$.a.b` only: what the workflow uses)."""
    if isinstance(parameters, dict):
        out = {}
        for key, value in parameters.items():
            if key.endswith(".$"):
                out[key[:-2]] = _read(doc, value)
            else:
                out[key] = resolve(value, doc, f"{where}.{key}")
        return out
    if isinstance(parameters, list):
        return [resolve(item, doc, where) for item in parameters]
    if parameters == "TOKEN":
        name = where.rsplit(".", 1)[-1]
        assert name in DEPLOY_TIME_VALUES, f"{where}: a deploy-time value this test cannot fill"
        return DEPLOY_TIME_VALUES[name]
    return parameters


def _read(doc: Mapping[str, Any], path: str) -> Any:
    assert re.fullmatch(r"\$(\.[A-Za-z_][A-Za-z0-9_]*)+", path), f"unsupported path {path}"
    value: Any = doc
    for key in path[2:].split("."):
        value = value[key]
    return value


def _branch_cases() -> list[tuple[str, str, str]]:
    return [
        (environment, task_name, case)
        for environment, definition in definitions().items()
        for task_name, service, action, _ in sdk_tasks(definition)
        for case in REQUESTS
    ]


# --- Inputs ------------------------------------------------------------------------------------------


def test_the_nova_environment_has_every_bedrock_task():
    names = {(service, action) for _, service, action, _ in sdk_tasks(definitions()["nova-us-east-1"])}
    assert names == {
        ("bedrock", "createModelCustomizationJob"),
        ("bedrock", "getModelCustomizationJob"),
        ("bedrock", "stopModelCustomizationJob"),
        ("bedrock", "createCustomModelDeployment"),
        ("bedrock", "getCustomModelDeployment"),
    }
    starts = [
        n
        for n, _, action, _ in sdk_tasks(definitions()["nova-us-east-1"])
        if action.startswith("createModel")
    ]
    assert len(starts) == 2  # with and without validation data


@pytest.mark.parametrize("case", list(REQUESTS))
@pytest.mark.parametrize("environment", ["nova-us-east-1", "staging", "prod"])
def test_every_sdk_task_sends_what_the_service_model_accepts(environment, case):
    doc = document(REQUESTS[case])
    has_validation = "ValidationDataConfig" in doc["plan"]["bedrock"]["create_job"]
    checked = 0
    for name, service, action, state in sdk_tasks(definitions()[environment]):
        if "validation" in name.lower() and not has_validation:
            continue  # the branch the Choice takes without validation data is the other one
        if action == "createModelCustomizationJob" and "validation" not in name.lower() and has_validation:
            continue
        input_shape = operation(service, action).input_shape
        params = from_sfn_case(input_shape, resolve(state["Parameters"], doc))
        problems = contract_problems(input_shape, params)
        assert not problems, f"{environment} / {name} / {case}:\n" + "\n".join(problems)
        checked += 1
    assert checked == 6  # one start (the branch this document takes), two stops, get, deploy, get deployment


def test_a_mis_cased_or_unknown_member_is_caught():
    """The checker itself: a camelCase member (what botocore takes, not Step Functions) or an
    invented one is an unknown parameter; so is a value outside the enum or over the maximum."""
    shape = operation("bedrock", "CreateCustomModelDeployment").input_shape
    params = from_sfn_case(
        shape, {"modelDeploymentName": "x", "ModelArn": "arn:aws:bedrock:us-east-1:1:custom-model/a"}
    )
    assert any("modelDeploymentName" in p for p in contract_problems(shape, params))
    job = operation("bedrock", "CreateModelCustomizationJob").input_shape
    bad = document(REQUESTS["minimal"])["plan"]["bedrock"]["create_job"] | {"CustomizationType": "RFT"}
    assert any("not one of" in p for p in contract_problems(job, from_sfn_case(job, bad)))
    long_name = bad | {"CustomizationType": "REINFORCEMENT_FINE_TUNING", "JobName": "j" * 64}
    assert any("at most 63" in p for p in contract_problems(job, from_sfn_case(job, long_name)))


# --- Outputs ------------------------------------------------------------------------------------------


def _result_reads(definition: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """Every (reader, JSONPath, compared value) in the definition: parameters, selectors, Choices."""
    for name, state in all_states(definition["States"]):
        for section in ("Parameters", "ResultSelector"):
            yield from ((name, path, None) for path in _paths(state.get(section)))
        for choice in state.get("Choices", []):
            for rule in _rules(choice):
                value = next(
                    (v for k, v in rule.items() if k.startswith("String") and not k.endswith("Path")), None
                )
                yield name, rule["Variable"], value
                yield from ((name, v, None) for k, v in rule.items() if k.endswith("Path"))


def _rules(choice: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    if "Variable" in choice:
        yield choice
    for key in ("And", "Or"):
        for inner in choice.get(key, []):
            yield from _rules(inner)
    if "Not" in choice:
        yield from _rules(choice["Not"])


def _paths(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith(".$") and isinstance(item, str) and item.startswith("$."):
                yield item
            else:
                yield from _paths(item)
    elif isinstance(value, list):
        for item in value:
            yield from _paths(item)


@pytest.mark.parametrize("environment", ["nova-us-east-1", "staging"])
def test_what_the_workflow_reads_from_a_result_is_in_the_output_shape(environment):
    definition = definitions()[environment]
    checked = 0
    for task, service, action, state in sdk_tasks(definition):
        output = operation(service, action).output_shape
        selector = state.get("ResultSelector") or {}
        for path in _paths(selector):
            assert output_member(output, path[2:].split(".")) is not None, (
                f"{task}: {path} not in {output.name}"
            )
            checked += 1
        result_path = state.get("ResultPath")
        if selector or not result_path:
            continue  # a selector's own keys, or a discarded result
        for reader, path, compared in _result_reads(definition):
            if not path.startswith(result_path + "."):
                continue
            member = output_member(output, path[len(result_path) + 1 :].split("."))
            assert member is not None, f"{reader} reads {path}: not a member of {output.name}"
            enum = getattr(member, "enum", None)
            if compared is not None and enum:
                assert compared in enum, f"{reader} compares {path} with {compared!r}; {enum}"
            checked += 1
    assert checked >= (8 if environment.startswith("nova") else 1)


def test_the_output_check_catches_a_status_the_service_never_returns():
    output = operation("bedrock", "GetModelCustomizationJob").output_shape
    assert output_member(output, ["Status"]).enum
    assert "Succeeded" not in output_member(output, ["Status"]).enum
    assert output_member(output, ["OutputModelArn"]) is not None
    assert output_member(output, ["ModelArn"]) is None
    assert isinstance(output, StructureShape)


# --- Errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("environment", ["nova-us-east-1", "staging"])
def test_every_retry_and_catch_error_name_is_one_the_operation_raises(environment):
    import rft.errors

    for name, state in all_states(definitions()[environment]["States"]):
        match = SDK_RESOURCE.fullmatch(str(state.get("Resource", "")).replace("TOKEN", "aws"))
        for handler in [*state.get("Retry", []), *state.get("Catch", [])]:
            for error in handler["ErrorEquals"]:
                if STEP_FUNCTIONS_ERRORS.fullmatch(error):
                    continue
                if match:
                    prefix = SERVICE_ERROR_PREFIX[match["service"]] + "."
                    assert error.startswith(prefix), f"{name}: {error} is not named {prefix}<Error>"
                    raised = error_names(match["service"], match["action"])
                    assert error[len(prefix) :] in raised, f"{name}: {error} not among {sorted(raised)}"
                elif error.startswith("Lambda."):
                    assert error in LAMBDA_INTEGRATION_ERRORS, f"{name}: {error}"
                else:  # raised by our own Lambda code: an exception class of rft.errors
                    assert isinstance(getattr(rft.errors, error, None), type), f"{name}: {error}"


# The errors Step Functions documents for its Lambda integration (not in any service model).
LAMBDA_INTEGRATION_ERRORS = frozenset(
    {
        "Lambda.ClientExecutionTimeoutException",
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
        "Lambda.Unknown",
    }
)
