import pytest
from aws_cdk.assertions import Match

from tests.infra.helpers import build_stage, template


@pytest.fixture(scope="module")
def staging():
    return template(build_stage("staging").data)


@pytest.fixture(scope="module")
def prod_stage():
    return build_stage("prod")


def _data_buckets(t):
    buckets = t.find_resources("AWS::S3::Bucket")
    kms = {k: v for k, v in buckets.items() if "aws:kms" in str(v["Properties"].get("BucketEncryption"))}
    return buckets, kms


def test_data_key_rotates(staging):
    staging.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_three_buckets_two_encrypted_with_the_data_key(staging):
    buckets, kms = _data_buckets(staging)
    assert len(buckets) == 3
    assert len(kms) == 2
    key_id = next(iter(staging.find_resources("AWS::KMS::Key")))
    for bucket in kms.values():
        rule = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert rule["BucketKeyEnabled"] is True
        assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {"Fn::GetAtt": [key_id, "Arn"]}
        assert "LoggingConfiguration" in bucket["Properties"]


def test_every_bucket_is_private_versioned_and_lifecycled(staging):
    for bucket in staging.find_resources("AWS::S3::Bucket").values():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
        assert rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"] == {
            "DaysAfterInitiation": 7
        }
        assert rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}


def test_every_bucket_policy_denies_plain_http(staging):
    policies = staging.find_resources("AWS::S3::BucketPolicy")
    assert len(policies) == 3
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"].get("Bool") == {"aws:SecureTransport": "false"}
            for s in statements
        )


def test_staging_is_destroyable(staging):
    for bucket in staging.find_resources("AWS::S3::Bucket").values():
        assert bucket["DeletionPolicy"] == "Delete"
    staging.resource_count_is("Custom::S3AutoDeleteObjects", 3)


def test_prod_retains_data_and_protects_the_stack(prod_stage):
    t = template(prod_stage.data)
    assert prod_stage.data.termination_protection is True
    for bucket in t.find_resources("AWS::S3::Bucket").values():
        assert bucket["DeletionPolicy"] == "Retain"
    for key in t.find_resources("AWS::KMS::Key").values():
        assert key["DeletionPolicy"] == "Retain"
    t.resource_count_is("Custom::S3AutoDeleteObjects", 0)
    t.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [Match.object_like({"NoncurrentVersionExpiration": {"NoncurrentDays": 90}})]
                )
            }
        },
    )


def test_everything_is_tagged(staging):
    for bucket in staging.find_resources("AWS::S3::Bucket").values():
        tags = {t["Key"]: t["Value"] for t in bucket["Properties"]["Tags"]}
        assert tags["project"] == "rft-stack"
        assert tags["environment"] == "staging"
        assert tags["cost-centre"] == "ml-platform"


def test_bucket_names_are_outputs_not_physical_names(staging):
    for bucket in staging.find_resources("AWS::S3::Bucket").values():
        assert "BucketName" not in bucket["Properties"]
    outputs = staging.find_outputs("*")
    assert {"DatasetsBucketName", "ArtifactsBucketName", "DataKeyArn"} <= set(outputs)
