"""Every AWS SDK call any test makes (through moto, a Stubber, or moto's own Step Functions
interpreter running the workflow's SDK tasks) is checked, before it is sent, against the
constraints of botocore's service model that botocore itself leaves to the service: maximum
lengths and values, enums and patterns. A call that breaks one gets what the service answers, a
ValidationException (HTTP 400), so the code's handling of it is what is tested. botocore already
checks members, types, required members and minimums; together the fakes refuse what the real
service would refuse.

Each call is also recorded (tests/contract/sdk_coverage.py): a full run fails when a call site of
the runtime code never sent its request through this check."""

from __future__ import annotations

import botocore.client
import pytest
from botocore.exceptions import ClientError

from tests.contract import sdk_coverage
from tests.contract.service_models import service_constraint_problems

_send = botocore.client.BaseClient._make_api_call


def _checked(self, operation_name, api_params):  # type: ignore[no-untyped-def]
    sdk_coverage.record(self.meta.service_model.service_name, operation_name)
    shape = self.meta.service_model.operation_model(operation_name).input_shape
    if shape is not None and isinstance(api_params, dict):
        problems = service_constraint_problems(shape, api_params)
        if problems:
            error = {"Code": "ValidationException", "Message": "; ".join(problems)}
            metadata = {"HTTPStatusCode": 400, "RequestId": "contract-check", "HTTPHeaders": {}}
            raise ClientError({"Error": error, "ResponseMetadata": metadata}, operation_name)
    return _send(self, operation_name, api_params)


botocore.client.BaseClient._make_api_call = _checked


def pytest_configure(config: pytest.Config) -> None:
    plugin = sdk_coverage.Plugin()
    config.pluginmanager.register(plugin, "rft-sdk-coverage")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(sdk_coverage.XdistController(plugin), "rft-sdk-coverage-xdist")
