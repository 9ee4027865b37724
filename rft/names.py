"""Names that the stacks, the Lambdas and the client all rely on, written once.

A deployed environment is found by name only: its stacks are ``<env>-<stack id>``, what the client
needs is a CloudFormation output of one of them, and the model registry lives in SSM under
``/rft/<env>/``. A grader is a folder of ``lambda_rewards/``. Changing any of these here changes it
for the stacks (`stacks/`), the workflow's Lambdas and the `rft` client together.
"""

from __future__ import annotations

import re
from pathlib import Path

# --- Environments --------------------------------------------------------------------------------

# Every pattern here is used with fullmatch: `$` also matches before a final newline, so `.match`
# with `^...$` accepted 'us-west-2\n' (which then reached botocore as an invalid endpoint).
ENVIRONMENT_NAME_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,19}")
ENVIRONMENT_NAME_RULE = "lower case letters, digits and '-', starting with a letter, at most 20"
REGION_PATTERN = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]")


def is_environment_name(name: object) -> bool:
    return isinstance(name, str) and ENVIRONMENT_NAME_PATTERN.fullmatch(name) is not None


# --- Stacks and their outputs --------------------------------------------------------------------

# The ids RftStage gives its stacks; each stack is named "<env>-<id>".
DATA_STACK = "Data"
REWARDS_STACK = "Rewards"
TRAINING_STACK = "Training"
SERVING_STACK = "Serving"
OPERATIONS_STACK = "Operations"
# In deployment order: each stack only reads the ones before it.
STACKS = (DATA_STACK, REWARDS_STACK, TRAINING_STACK, SERVING_STACK, OPERATIONS_STACK)


def stack_name(environment: str, stack_id: str) -> str:
    return f"{environment}-{stack_id}"


# Output keys: the CfnOutput ids of the stacks, read by the client (rft.environment).
DATASETS_BUCKET_OUTPUT = "DatasetsBucketName"
ARTIFACTS_BUCKET_OUTPUT = "ArtifactsBucketName"
DATA_KEY_OUTPUT = "DataKeyArn"
STATE_MACHINE_OUTPUT = "StateMachineArn"
TOPIC_OUTPUT = "NotificationTopicArn"
GATEWAY_URL_OUTPUT = "GatewayUrl"
OPENAI_BASE_URL_OUTPUT = "OpenAIBaseUrl"
# The rewards stack: a JSON object, grader name -> ARN of its "live" alias.
GRADERS_OUTPUT = "GraderAliasArns"
# The training stack: a JSON list of the base models a run may use here (empty: any the region offers).
ALLOWED_MODELS_OUTPUT = "AllowedBaseModels"
# Every stack: the rft-stack version its template was synthesized from (stacks/version.py).
VERSION_OUTPUT = "RftStackVersion"
# The operations stack: the monthly budget's name and a JSON list of the alarms' names.
BUDGET_OUTPUT = "BudgetName"
ALARMS_OUTPUT = "AlarmNames"
# The environment variable that carries the same version into the workflow's Lambdas.
VERSION_VARIABLE = "RFT_STACK_VERSION"

# --- SSM Parameter Store: /rft/<env>/... ---------------------------------------------------------

PARAMETER_ROOT = "/rft"
MODELS = "models"  # ModelRecord per trained model, written by the workflow's publish step
ALIASES = "aliases"  # alias -> model name (rft.registry)
EVALUATIONS = "evaluations"  # EvaluationSummary per model, written by `rft eval`
GRADERS = "graders"  # one parameter: the graders output's JSON, written by the rewards stack


def environment_prefix(environment: str) -> str:
    """``/rft/<env>``; ValueError for a name that cannot be an environment's."""
    if not is_environment_name(environment):
        raise ValueError(f"{environment!r} is not an environment name ({ENVIRONMENT_NAME_RULE})")
    return f"{PARAMETER_ROOT}/{environment}"


def parameter_path(environment: str, kind: str, name: str | None = None) -> str:
    """``/rft/<env>/<kind>`` or ``/rft/<env>/<kind>/<name>`` (``name`` may be ``*`` in IAM)."""
    base = f"{environment_prefix(environment)}/{kind}"
    return f"{base}/{name}" if name is not None else base


def parameter_resource(environment: str, kind: str, name: str = "*") -> str:
    """The resource part of an SSM parameter ARN (``parameter/rft/<env>/<kind>/<name>``)."""
    return "parameter" + parameter_path(environment, kind, name)


# --- Buckets and aliases -------------------------------------------------------------------------

# Under the artifacts bucket: <prefix>/<run name>/output/ (Bedrock) and .../metrics.jsonl (Mantle).
ARTIFACTS_PREFIX = "jobs"
# Under the datasets bucket: the canary dataset of `rft doctor`'s validate-only run.
DOCTOR_PREFIX = "doctor"
# The alias every function is called through (graders by Bedrock, workflow steps by the state machine).
LIVE_ALIAS = "live"

# --- Graders -------------------------------------------------------------------------------------

REWARDS_PACKAGE = "lambda_rewards"
# Shared runtime code of every grader: bundled into each, never deployed on its own.
SHARED_FOLDERS = frozenset({"common"})
HANDLER_FILE = "handler.py"
# A grader's folder name is its handler's import path, part of construct ids and of the function's
# description, and what a training request names in `reward`.
GRADER_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,62}")
GRADER_NAME_RULE = "a lower-case Python identifier (letters, digits, '_'), at most 63 characters"


class GraderFolderError(ValueError):
    """A folder with a handler whose name cannot be a grader's."""


def is_grader_name(name: object) -> bool:
    return (
        isinstance(name, str)
        and name not in SHARED_FOLDERS
        and GRADER_NAME_PATTERN.fullmatch(name) is not None
    )


def discover_graders(root: Path) -> tuple[str, ...]:
    """The graders under `root`, sorted: every folder holding a `handler.py`, except shared code.

    A folder without `handler.py` (shared code, caches, a grader still being written) is not a
    grader. A grader folder whose name cannot be imported is an error, not a silent skip.
    """
    names = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name in SHARED_FOLDERS or not (folder / HANDLER_FILE).is_file():
            continue
        if not GRADER_NAME_PATTERN.fullmatch(folder.name):
            raise GraderFolderError(f"{folder}: a grader folder name must be {GRADER_NAME_RULE}")
        names.append(folder.name)
    return tuple(names)
