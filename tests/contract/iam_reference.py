"""The IAM service reference that cfn-lint ships (its `Policies.json`): which actions exist, the
resource types each action is authorized on, and those types' ARN formats.

`statement_problems` checks one policy statement of a synthesized template against it: every
action exists; every resource matches a resource type of some action in the statement; every
action that takes resources is granted on at least one resource of its types (otherwise the grant
does nothing); an action that takes no resource is granted on `*`. Template values are rendered to
the ARNs CloudFormation would produce (`render`), with this test's account and the stack's region.
"""

from __future__ import annotations

import fnmatch
import json
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import cfnlint

from tests.fakes.pseudo_parameters import ACCOUNT, pseudo_parameters


@cache
def reference() -> dict[str, Any]:
    path = Path(cfnlint.__file__).parent / "data" / "AdditionalSpecs" / "Policies.json"
    return json.loads(path.read_text())


def expand_action(action: str) -> list[str]:
    """`kms:GenerateDataKey*` -> the reference's matching actions (lower case), [] when none."""
    service, _, name = action.partition(":")
    actions = reference().get(service, {}).get("Actions", {})
    return [f"{service}:{a}" for a in actions if fnmatch.fnmatchcase(a, name.lower())]


def resource_types(action: str) -> list[str]:
    service, _, name = action.partition(":")
    return list(reference()[service]["Actions"][name].get("Resources", []))


@cache
def arn_pattern(service: str, resource_type: str) -> re.Pattern[str]:
    formats = reference()[service]["Resources"][resource_type]["ARNFormats"]
    alternatives = []
    for fmt in formats:
        parts = re.split(r"(\$\{[A-Za-z]+\}|\.\*)", fmt)
        regex = ""
        for part in parts:
            if part == "${Partition}":
                regex += r"aws[a-z-]*"
            elif part == "${Region}":
                regex += r"[a-z0-9-]*"
            elif part == "${Account}":
                regex += r"[0-9]*"
            elif part == ".*":
                regex += ".*"
            elif part.startswith("${"):
                regex += ".+"
            else:
                regex += re.escape(part)
        alternatives.append(regex)
    return re.compile("|".join(f"(?:{a})" for a in alternatives))


def fits(resource: str, service: str, resource_type: str) -> bool:
    """Whether a policy resource (which may hold `*` wildcards) names resources of that type."""
    concrete = resource.replace("*", "x1")
    return arn_pattern(service, resource_type).fullmatch(concrete) is not None


def statement_problems(actions: Sequence[str], resources: Sequence[str]) -> list[str]:
    problems: list[str] = []
    expanded: list[str] = []
    for action in actions:
        found = expand_action(action)
        if not found:
            problems.append(f"{action}: no such action in the IAM service reference")
        expanded.extend(found)
        if list(resources) == ["*"] or not found:
            continue
        # A wildcard (`s3:List*`) names a family: some member of it must apply to the resources.
        members = found if "*" not in action else [a for a in found if resource_types(a)]
        applicable = [a for a in members if _matching(a, resources) or not resource_types(a)]
        if "*" in action:
            if not any(_matching(a, resources) for a in members):
                problems.append(f"{action}: no action of this family applies to {list(resources)}")
            continue
        for member in applicable if applicable else members:
            types = resource_types(member)
            if not types:
                problems.append(
                    f"{member} takes no resource, so it must be granted on '*', not {list(resources)}"
                )
            elif not _matching(member, resources):
                problems.append(
                    f"{member} is granted on {list(resources)}, none of which is a {' or '.join(types)}"
                )
    if list(resources) == ["*"]:
        return problems
    for resource in resources:
        if not any(_matching(a, [resource]) for a in expanded):
            problems.append(f"{resource} is not a resource of any of {sorted(set(actions))}")
    return problems


def _matching(action: str, resources: Sequence[str]) -> list[str]:
    service = action.partition(":")[0]
    types = resource_types(action)
    return [r for r in resources if any(fits(r, service, t) for t in types)]


# --- Rendering template values -------------------------------------------------------------------

# What `Ref` and `Fn::GetAtt ... Arn` give for each resource type, from its (made-up) physical name.
_ARNS = {
    "AWS::KMS::Key": "arn:aws:kms:{region}:{account}:key/1234abcd-12ab-34cd-56ef-{tag}",
    "AWS::S3::Bucket": "arn:aws:s3:::{name}",
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::Lambda::Alias": "arn:aws:lambda:{region}:{account}:function:{name}:live",
    "AWS::Lambda::Version": "arn:aws:lambda:{region}:{account}:function:{name}:1",
    "AWS::SNS::Topic": "arn:aws:sns:{region}:{account}:{name}",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "AWS::StepFunctions::StateMachine": "arn:aws:states:{region}:{account}:stateMachine:{name}",
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
    "AWS::Logs::LogGroup": "arn:aws:logs:{region}:{account}:log-group:{name}:*",
    "AWS::SSM::Parameter": "arn:aws:ssm:{region}:{account}:parameter/{name}",
    "AWS::Events::Rule": "arn:aws:events:{region}:{account}:rule/{name}",
    "AWS::ApiGatewayV2::Api": "arn:aws:apigateway:{region}::/apis/{name}",
    "AWS::EC2::SecurityGroup": "arn:aws:ec2:{region}:{account}:security-group/sg-{tag}",
    "AWS::EC2::VPC": "arn:aws:ec2:{region}:{account}:vpc/vpc-{tag}",
}
# Types whose `Ref` is an id with this prefix.
_REF_IS_ID = {"AWS::EC2::Subnet": "subnet", "AWS::EC2::VPC": "vpc", "AWS::EC2::SecurityGroup": "sg"}
# Types whose `Ref` is a name, not an ARN.
_REF_IS_NAME = {
    "AWS::S3::Bucket",
    "AWS::Lambda::Function",
    "AWS::IAM::Role",
    "AWS::Logs::LogGroup",
    "AWS::SSM::Parameter",
    "AWS::Events::Rule",
}


class Templates:
    """The templates of one stage, so cross-stack imports resolve to the exporting stack's value."""

    def __init__(self, templates: Mapping[str, Mapping[str, Any]], region: str) -> None:
        self.templates = dict(templates)
        self.region = region
        self._exports = {
            output["Export"]["Name"]
            if isinstance(output["Export"]["Name"], str)
            else json.dumps(output["Export"]["Name"]): (stack, output["Value"])
            for stack, tpl in self.templates.items()
            for output in tpl.get("Outputs", {}).values()
            if "Export" in output
        }

    def render(self, stack: str, value: Any) -> Any:
        if isinstance(value, str | int | float | bool) or value is None:
            return value
        if isinstance(value, list):
            return [self.render(stack, item) for item in value]
        (function, argument), *rest = value.items()
        if rest or not (function.startswith("Fn::") or function == "Ref"):
            return {key: self.render(stack, item) for key, item in value.items()}
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(self.render(stack, part)) for part in self.render(stack, parts))
        if function == "Fn::Select":
            index, items = argument
            return self.render(stack, items)[int(self.render(stack, index))]
        if function == "Fn::Split":
            separator, text = argument
            return str(self.render(stack, text)).split(separator)
        if function == "Fn::ImportValue":
            name = argument if isinstance(argument, str) else json.dumps(argument)
            exporting, exported = self._exports[name]
            return self.render(exporting, exported)
        if function == "Ref":
            return self._ref(stack, argument)
        if function == "Fn::GetAtt":
            logical, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self._attribute(stack, logical, attribute)
        raise AssertionError(f"{stack}: cannot render {function}")

    def _ref(self, stack: str, name: str) -> str:
        pseudo = pseudo_parameters(stack, self.region)
        if name in pseudo:
            return pseudo[name]
        kind = self._type(stack, name)
        if kind in _REF_IS_NAME:
            return self._name(stack, name)
        if kind == "AWS::KMS::Key":
            return f"1234abcd-12ab-34cd-56ef-{self._tag(name)}"
        if kind in _REF_IS_ID:
            return f"{_REF_IS_ID[kind]}-{self._tag(name)}"
        return self._arn(stack, name)

    def _attribute(self, stack: str, logical: str, attribute: str) -> str:
        if attribute == "Arn":
            return self._arn(stack, logical)
        if attribute == "Name":
            return self._name(stack, logical)
        if attribute == "GroupId":
            return f"sg-{self._tag(logical)}"
        raise AssertionError(f"{stack}: cannot render {logical}.{attribute}")

    def _arn(self, stack: str, logical: str) -> str:
        kind = self._type(stack, logical)
        if kind not in _ARNS:
            raise AssertionError(
                f"{stack}: add the ARN form of {kind} ({logical}) to tests/contract/iam_reference.py"
            )
        return _ARNS[kind].format(
            region=self.region, account=ACCOUNT, name=self._name(stack, logical), tag=self._tag(logical)
        )

    def _type(self, stack: str, logical: str) -> str:
        return str(self.templates[stack]["Resources"][logical]["Type"])

    def _name(self, stack: str, logical: str) -> str:
        properties = self.templates[stack]["Resources"][logical].get("Properties", {})
        for key in (
            "Name",
            "FunctionName",
            "BucketName",
            "TopicName",
            "StateMachineName",
            "LogGroupName",
            "RoleName",
        ):
            if isinstance(properties.get(key), str):
                return properties[key]
        return (
            f"{stack}-{logical}-AbCdEf123456".lower()
            if self._type(stack, logical) == "AWS::S3::Bucket"
            else f"{stack}-{logical}-AbCdEf123456"
        )

    @staticmethod
    def _tag(logical: str) -> str:
        return f"{zlib.crc32(logical.encode()) % 10**12:012d}"


def policy_statements(tpl: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Allow statement of every identity and resource policy in a template (not trust
    policies, which name principals, not resources)."""

    def walk(where: str, value: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "AssumeRolePolicyDocument":
                    continue
                if key == "Statement" and isinstance(item, list):
                    yield from ((where, s) for s in item if s.get("Effect") == "Allow")
                else:
                    yield from walk(where, item)
        elif isinstance(value, list):
            for item in value:
                yield from walk(where, item)

    for logical, resource in tpl["Resources"].items():
        yield from walk(logical, resource.get("Properties", {}))
