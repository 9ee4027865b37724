"""A run's record pins its recipe (what `rft train reproduce` starts again): the datasets by URI,
sha256 and line count, the grader's version and code hash, the resolved hyperparameters, the
region and the rft-stack version baked into the stack."""

from __future__ import annotations

import hashlib
import json

from rft import recipes
from rft.names import VERSION_VARIABLE
from rft.records import ModelRecord
from stacks.version import source_version
from tests.workflow.conftest import NOVA, grader_arn, job_request, upload
from tests.workflow.offline import dataset_lines


def test_reproduce_recipe_is_pinned_in_the_record(workflow, monkeypatch):
    def read_again(s3, uri):
        raise AssertionError(f"{uri} was read a second time to hash it")

    # The validate step hashes each dataset in its validation pass: no second GetObject.
    monkeypatch.setattr(recipes, "s3_digest", read_again)
    harness = workflow("bedrock")
    lines = dataset_lines(130)
    uri = upload(harness, "gsm8k/train.jsonl", lines)
    validation = upload(harness, "gsm8k/validation.jsonl", dataset_lines(12, start=900))

    request = job_request(
        "nova-pinned", NOVA, uri, validation_data=validation, hyperparameters={"epochCount": 2}
    )
    result = harness.run({**request, "reproduced_from": "staging/nova-first"})

    assert result.status == "SUCCEEDED", result.cause
    value = harness.client("ssm").get_parameter(Name="/rft/staging/models/nova-pinned")["Parameter"]["Value"]
    recipe = ModelRecord.from_json(value).recipe
    body = ("\n".join(lines) + "\n").encode()
    assert recipe["datasets"]["training_data"] == {
        "uri": uri,
        "sha256": hashlib.sha256(body).hexdigest(),
        "lines": 130,
        "bytes": len(body),
    }
    assert recipe["datasets"]["validation_data"]["lines"] == 12
    alias = grader_arn(harness, "math_answer")
    configuration = harness.client("lambda").get_function_configuration(FunctionName=alias)
    assert recipe["grader"] == {
        "name": "math_answer",
        "arn": alias,
        "version": configuration["Version"],
        "code_sha256": configuration["CodeSha256"],
    }
    assert recipe["plane"] == "bedrock" and recipe["base_model"] == NOVA and recipe["region"] == "us-east-1"
    assert recipe["hyperparameters"]["epochCount"] == 2 and recipe["hyperparameters"]["batchSize"] == 128
    assert recipe["rft_stack_version"] == harness.environment_of("Validate")[VERSION_VARIABLE]
    assert recipe["rft_stack_version"] == source_version()
    assert recipe["request"]["training_data"] == uri and recipe["reproduced_from"] == "staging/nova-first"
    assert ModelRecord.from_json(value).reproduced_from == "staging/nova-first"
    assert json.loads(value)["schema_version"] == 1
