"""The SDK calls the code makes are held to the service model in every test (tests/conftest.py),
and every error code the code handles is one the operation can raise."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from lambda_gateway import converse
from lambda_workflow import cleanup
from tests.contract.service_models import error_names


def test_a_call_moto_would_accept_gets_the_services_validation_error():
    """moto keys jobs by any string; Bedrock's pattern for a job ARN is stricter, and the check
    answers as the service would, before moto sees the call."""
    with mock_aws():
        bedrock = boto3.client("bedrock", region_name="us-east-1")
        with pytest.raises(ClientError) as caught:
            bedrock.get_model_customization_job(
                jobIdentifier="arn:aws:bedrock:us-east-1:123456789012:model-customization-job/my-job"
            )
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "does not match" in caught.value.response["Error"]["Message"]


def test_a_value_over_the_models_maximum_is_refused():
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-west-2")
        with pytest.raises(ClientError, match="characters, at most"):
            ssm.put_parameter(Name="/rft/x", Value="v", Type="String", Description="d" * 1025)


@pytest.mark.parametrize(
    ("service", "operation", "codes"),
    [
        ("bedrock", "StopModelCustomizationJob", cleanup.JOB_ALREADY_ENDED_CODES),
        ("bedrock", "GetModelCustomizationJob", {"ResourceNotFoundException"}),  # cleanup.stop_bedrock_job
        (
            "bedrock-runtime",
            "Converse",
            converse.THROTTLING_CODES
            | converse.UNAVAILABLE_CODES
            | converse.VALIDATION_CODES
            | converse.TIMEOUT_CODES,
        ),
        ("ssm", "GetParameter", {"ParameterNotFound"}),  # rft.registry
        ("s3", "GetObject", {"NoSuchKey"}),  # rft.jobs, rft.mantle_start.read_start_record
    ],
)
def test_every_error_code_the_code_handles_is_one_the_operation_raises(service, operation, codes):
    raised = error_names(service, operation)
    assert set(codes) <= raised, sorted(set(codes) - raised)
