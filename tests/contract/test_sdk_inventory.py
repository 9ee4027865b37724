"""The inventory of the runtime code's AWS SDK calls attributes every call or says it cannot, and
the session check counts a call site exercised only when its own function sent the request."""

from __future__ import annotations

import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.contract import sdk_coverage, sdk_inventory
from tests.contract.sdk_inventory import CallSite


def inventory_of(tmp_path: Path, source: str, name: str = "rft/example.py") -> sdk_inventory.Inventory:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return sdk_inventory.build(tmp_path, [path])


def sites(inventory: sdk_inventory.Inventory) -> set[tuple[str, str, str]]:
    return {(site.function, site.service, site.operation) for site in inventory.sites}


def test_the_runtime_code_has_no_call_the_inventory_cannot_attribute():
    inventory = sdk_inventory.build()
    assert not inventory.unattributed, "\n".join(map(str, inventory.unattributed))
    assert not inventory.unused_declarations
    # The calls the workflow depends on are found where they are (not a vacuous pass).
    found = {(site.file, site.service, site.operation) for site in inventory.sites}
    assert ("lambda_workflow/cleanup.py", "bedrock", "StopModelCustomizationJob") in found
    assert ("rft/registry.py", "ssm", "GetParametersByPath") in found
    assert ("lambda_rewards/llm_judge/handler.py", "bedrock-runtime", "Converse") in found


def test_clients_are_followed_through_assignments_factories_and_attributes(tmp_path):
    inventory = inventory_of(
        tmp_path,
        """
        import boto3
        from rft import aws

        def _states(session):
            return session.client("stepfunctions")

        def direct():
            boto3.client("sqs").send_message(QueueUrl="q", MessageBody="b")

        def assigned(session):
            sns = aws.client("sns", session=session)
            sns.publish(TopicArn="t", Message="m")

        def factory(session):
            _states(session).start_execution(stateMachineArn="a")

        def paged(cloudwatch):
            for page in cloudwatch.get_paginator("describe_alarms").paginate():
                pass

        class Registry:
            def __init__(self, ssm_client, label):
                self._ssm, self.label = ssm_client, label

            def read(self):
                return self._ssm.get_parameter(Name="/x")
        """,
    )
    assert not inventory.unattributed, inventory.unattributed
    assert sites(inventory) == {
        ("direct", "sqs", "SendMessage"),
        ("assigned", "sns", "Publish"),
        ("factory", "stepfunctions", "StartExecution"),
        ("paged", "cloudwatch", "DescribeAlarms"),
        ("Registry.read", "ssm", "GetParameter"),
    }


def test_a_client_from_outside_with_a_name_that_says_nothing_is_reported_not_guessed(tmp_path):
    inventory = inventory_of(
        tmp_path,
        """
        import boto3

        def read(thing, bucket):
            boto3.client("s3")  # the service is in use, so get_object is a candidate
            return thing.get_object(Bucket=bucket, Key="k")
        """,
    )
    assert not inventory.sites
    [problem] = inventory.unattributed
    assert problem.line == 6 and "'thing' comes from outside" in problem.reason


def test_a_client_whose_service_is_not_written_is_reported(tmp_path):
    inventory = inventory_of(
        tmp_path,
        """
        def make(session, name):
            return session.client(name)

        def forwarding(service):
            return session.client(service)  # a factory forwarding its parameter: its callers are checked
        """,
    )
    assert [problem.line for problem in inventory.unattributed] == [3]


def test_a_client_passed_under_another_services_name_is_reported(tmp_path):
    inventory = inventory_of(
        tmp_path,
        """
        from rft import datasets

        def check(target, uri):
            return datasets.validate_s3_object(s3=target.client("ssm"), uri=uri)
        """,
    )
    [problem] = inventory.unattributed
    assert "passes a ssm client as s3=" in problem.reason


def test_modules_self_and_our_own_classes_are_not_clients(tmp_path):
    inventory = inventory_of(
        tmp_path,
        """
        import boto3
        from rft import mantle as rft_mantle
        from rft.registry import ModelRegistry

        class Registry:
            def get_alias(self, name):
                return name

            def both(self, name):
                boto3.client("lambda")
                return self.get_alias(name), super().invoke(name)

        def use(ssm, client, job_id):
            registry = ModelRegistry(ssm, "staging")
            registry.get_alias("prod")
            return rft_mantle.get_job(client, job_id)
        """,
    )
    assert not inventory.sites and not inventory.unattributed


@pytest.mark.parametrize("method", ["get_paginator", "get_waiter"])
def test_a_paginator_or_waiter_of_an_unwritten_operation_is_reported(tmp_path, method):
    inventory = inventory_of(
        tmp_path,
        f"""
        def pages(s3, name):
            return s3.{method}(name)
        """,
    )
    assert len(inventory.unattributed) == 1


def site(function: str, code: str = "s3.get_object", operation: str = "GetObject") -> CallSite:
    return CallSite("rft/example.py", 3, function, "s3", operation, code)


def test_a_site_counts_as_exercised_only_when_its_own_function_sent_the_request():
    reader = site("read")
    seen = {("s3", "GetObject", "rft/other.py", "read"), ("s3", "GetObject", "rft/example.py", "write")}
    assert sdk_coverage.never_exercised([reader], seen) == [reader]
    assert sdk_coverage.never_exercised([reader], seen | {("s3", "GetObject", None, None)}) == [reader]
    assert not sdk_coverage.never_exercised([reader], {("s3", "GetObject", "rft/example.py", "read")})


def test_a_transfer_sent_from_the_transfer_managers_threads_counts_by_operation():
    download = site("fetch", code="s3.download_file")
    assert sdk_coverage.never_exercised([download], set()) == [download]
    assert not sdk_coverage.never_exercised([download], {("s3", "GetObject", None, None)})


def test_a_request_is_attributed_to_the_runtime_function_that_sent_it():
    from moto import mock_aws

    from rft import aws, locate

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sdk_coverage, "_SEEN", set())
        with mock_aws():
            client = aws.client("cloudformation", region="us-east-1")
            client.describe_stacks()  # from this test: no runtime caller
            locate.deployed_environments(client)  # through a paginator, from rft/locate.py
        seen = set(sdk_coverage._SEEN)
    assert seen == {
        ("cloudformation", "DescribeStacks", None, None),
        ("cloudformation", "DescribeStacks", "rft/locate.py", "deployed_environments"),
    }


def config(args: list[str], **options: object) -> SimpleNamespace:
    defaults = {"keyword": "", "markexpr": "", "deselect": None, "lf": False, "ignore": None}
    return SimpleNamespace(
        args=args, rootpath=sdk_inventory.ROOT, option=SimpleNamespace(**{**defaults, **options})
    )


@pytest.mark.parametrize(
    ("args", "options", "full"),
    [
        (["tests"], {}, True),
        (["."], {}, True),
        (["tests/contract"], {}, False),
        (["tests/unit/rft/test_registry.py::test_x"], {}, False),
        (["tests"], {"keyword": "registry"}, False),
        (["tests"], {"markexpr": "not slow"}, False),
        (["tests"], {"lf": True}, False),
        (["tests"], {"deselect": ["tests/cli"]}, False),
        (["tests"], {"collectonly": True}, False),
        (["tests"], {"setupplan": True}, False),
    ],
)
def test_only_a_run_of_the_whole_tree_is_held_to_every_call_site(args, options, full):
    assert sdk_coverage.is_full_run(config(args, **options)) is full  # type: ignore[arg-type]
