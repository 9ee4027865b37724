"""rft.model_deletion on the Bedrock plane, every request checked against botocore's model."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from rft import model_deletion
from rft.errors import RftError
from rft.records import ModelRecord

DEPLOYMENT = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abcdef123456"
MODEL = "arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.nova-2-lite-v1:0:256k/abcdef123456"


def _record(**fields) -> ModelRecord:
    return ModelRecord(
        name="nova-v1", environment="staging", provider="bedrock", region="us-east-1",
        model_id=DEPLOYMENT, base_model="amazon.nova-2-lite-v1:0:256k", reward="math_answer",
        job_id="arn:aws:bedrock:us-east-1:123456789012:model-customization-job/x/abcdef123456",
        custom_model_arn=MODEL, deployment_arn=DEPLOYMENT, **fields,
    )  # fmt: skip


def _bedrock():
    return boto3.client("bedrock", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_deletes_the_deployment_waits_for_it_then_the_model() -> None:
    bedrock = _bedrock()
    sleeps: list[float] = []
    with Stubber(bedrock) as stub:
        stub.add_response(
            "delete_custom_model_deployment", {}, {"customModelDeploymentIdentifier": DEPLOYMENT}
        )
        stub.add_response(
            "get_custom_model_deployment",
            {
                "customModelDeploymentArn": DEPLOYMENT, "modelDeploymentName": "nova-v1", "modelArn": MODEL,
                "createdAt": "2026-11-30T08:00:00Z", "status": "Active",
            },
            {"customModelDeploymentIdentifier": DEPLOYMENT},
        )  # fmt: skip
        stub.add_client_error(
            "get_custom_model_deployment", "ResourceNotFoundException", http_status_code=404
        )
        stub.add_response("delete_custom_model", {}, {"modelIdentifier": MODEL})
        deletion = model_deletion.Deletion("nova-v1")
        model_deletion.delete_bedrock_model(bedrock, _record(), deletion, sleep=sleeps.append)
        stub.assert_no_pending_responses()
    assert deletion.deleted == [f"deployment {DEPLOYMENT}", f"custom model {MODEL}"]
    assert sleeps == [model_deletion.DEPLOYMENT_POLL_S]


def test_what_is_already_gone_is_not_an_error() -> None:
    bedrock = _bedrock()
    with Stubber(bedrock) as stub:
        stub.add_client_error(
            "delete_custom_model_deployment", "ResourceNotFoundException", http_status_code=404
        )
        stub.add_client_error(
            "get_custom_model_deployment", "ResourceNotFoundException", http_status_code=404
        )
        stub.add_client_error("delete_custom_model", "ResourceNotFoundException", http_status_code=404)
        deletion = model_deletion.Deletion("nova-v1")
        model_deletion.delete_bedrock_model(bedrock, _record(), deletion, sleep=lambda _: None)
    assert deletion.deleted == [] and len(deletion.already_gone) == 2


def test_a_deployment_that_does_not_go_away_stops_before_the_model() -> None:
    bedrock = _bedrock()
    active = {
        "customModelDeploymentArn": DEPLOYMENT, "modelDeploymentName": "nova-v1", "modelArn": MODEL,
        "createdAt": "2026-11-30T08:00:00Z", "status": "Active",
    }  # fmt: skip
    with Stubber(bedrock) as stub:
        stub.add_response("delete_custom_model_deployment", {})
        for _ in range(3):
            stub.add_response("get_custom_model_deployment", active)
        with pytest.raises(RftError, match="still being deleted"):
            model_deletion.delete_bedrock_model(
                bedrock, _record(), model_deletion.Deletion("nova-v1"), sleep=lambda _: None, timeout_s=20
            )
