"""One status vocabulary for both control planes.

The workflow, the CLI and the records speak of runs as RUNNING, STOPPING, SUCCEEDED, FAILED or
STOPPED whichever plane ran them; the raw service status is kept alongside for messages.
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.STOPPED)


class DeploymentState(StrEnum):
    CREATING = "CREATING"
    ACTIVE = "ACTIVE"
    FAILED = "FAILED"


# GetModelCustomizationJob `status` (botocore enum).
BEDROCK_JOB_STATES: dict[str, JobState] = {
    "InProgress": JobState.RUNNING,
    "Stopping": JobState.STOPPING,
    "Completed": JobState.SUCCEEDED,
    "Failed": JobState.FAILED,
    "Stopped": JobState.STOPPED,
}

# Fine-tuning job `status` (openai SDK's FineTuningJob type, which Mantle follows).
MANTLE_JOB_STATES: dict[str, JobState] = {
    "validating_files": JobState.RUNNING,
    "queued": JobState.RUNNING,
    "running": JobState.RUNNING,
    "succeeded": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "cancelled": JobState.STOPPED,
}

# GetCustomModelDeployment `status` (botocore enum).
BEDROCK_DEPLOYMENT_STATES: dict[str, DeploymentState] = {
    "Creating": DeploymentState.CREATING,
    "Active": DeploymentState.ACTIVE,
    "Failed": DeploymentState.FAILED,
}


def job_state(provider: str, raw_status: str) -> JobState:
    """Map a service status to the common one.

    A status the service adds later is read as RUNNING: the watch loop keeps polling and the
    overall time limit still ends it, instead of failing a healthy run on an unknown word.
    """
    if provider not in ("bedrock", "mantle"):
        raise ValueError(f"unknown provider {provider!r}; expected 'bedrock' or 'mantle'")
    table = BEDROCK_JOB_STATES if provider == "bedrock" else MANTLE_JOB_STATES
    return table.get(raw_status, JobState.RUNNING)


def deployment_state(raw_status: str) -> DeploymentState:
    return BEDROCK_DEPLOYMENT_STATES.get(raw_status, DeploymentState.CREATING)


def raw_status(
    table: dict[str, JobState] | dict[str, DeploymentState], state: JobState | DeploymentState
) -> str:
    """The one service word of `table` that means `state` (what a Step Functions Choice compares)."""
    words = [word for word, meaning in table.items() if meaning == state]
    if len(words) != 1:
        raise ValueError(f"{state} is {len(words)} service statuses ({', '.join(words)}), not one")
    return words[0]
