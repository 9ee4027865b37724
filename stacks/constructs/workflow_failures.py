"""How the training workflow ends badly: every task's errors are caught per step, a run that ends
badly without an error (a failed job, a time limit) says so, and either way the environment's topic
is told before the execution fails with `failure.error` and `failure.cause`."""

from __future__ import annotations

from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from rft.workflow_state import STEPS, path
from stacks.constructs.workflow_states import FAILED, NOTIFY_FAILURE, TIME_LIMIT_REACHED, created_once


class WorkflowFailures:
    """The failure states of the workflow, created once each as children of `scope` (the
    `TrainingWorkflow`, so their ids are its state names)."""

    def __init__(self, scope: Construct, topic: sns.ITopic) -> None:
        self._scope = scope
        self._topic = topic
        self._caught = {step: self._step_failed(step) for step in STEPS}

    def catch(self, task: sfn.TaskStateBase, step: str) -> None:
        """Any error of `task` fails the run in `step`."""
        task.add_catch(self._caught[step], errors=["States.ALL"], result_path=path("caught"))

    def _step_failed(self, step: str) -> sfn.Chain:
        """An error raised in `step`: `<step>.<error name>` (a Fail state may not raise a `States.`
        name itself) and the whole error object as the cause."""
        return sfn.Pass(
            self._scope,
            f"{step} step failed",
            parameters={
                "step": step,
                "error.$": f"States.Format('{step}.{{}}', {path('caught', 'Error')})",
                "cause.$": f"States.JsonToString({path('caught')})",
            },
            result_path=path("failure"),
        ).next(self.notify())

    def failure(self, name: str, step: str, error: str, cause: str) -> sfn.Chain:
        """A run that ended badly without an error being raised (a job that failed, a time limit)."""
        return sfn.Pass(
            self._scope,
            name,
            parameters={"step": step, "error": error, "cause": cause},
            result_path=path("failure"),
        ).next(self.notify())

    def job_stopped(self, name: str, plane: str, stopped: str) -> sfn.Chain:
        """The run's job ended `stopped` (stopped, cancelled) by someone else before it completed."""
        return self.failure(
            name,
            "Watch",
            "TrainingStopped",
            sfn.JsonPath.format(
                f"{plane} job {{}} was {stopped} before it completed.",
                sfn.JsonPath.string_at(path("training", "job_id")),
            ),
        )

    def job_failed(
        self, name: str, plane: str, message_path: str, *, message_optional: bool = False
    ) -> sfn.IChainable:
        """The run's job failed: the cause quotes the service's message at `message_path` (when
        `message_optional`, only if the service gave one)."""
        failed = self.failure_with_message if message_optional else self.failed
        return failed(
            name,
            "Watch",
            "TrainingFailed",
            what=f"{plane} job",
            subject=path("training", "job_id"),
            message_path=message_path,
        )

    def failed(
        self, name: str, step: str, error: str, *, what: str, subject: str, message_path: str
    ) -> sfn.Chain:
        """`what` (e.g. "Deployment"), whose id is at `subject`, failed with the service's message
        at `message_path`."""
        return self.failure(
            name,
            step,
            error,
            sfn.JsonPath.format(
                f"{what} {{}} failed: {{}}",
                sfn.JsonPath.string_at(subject),
                sfn.JsonPath.string_at(message_path),
            ),
        )

    def failure_with_message(
        self, name: str, step: str, error: str, *, what: str, subject: str, message_path: str
    ) -> sfn.Choice:
        """As `failed` when the service gave a message at `message_path`, otherwise a cause that
        says it gave none."""
        said = self.failed(name, step, error, what=what, subject=subject, message_path=message_path)
        silent = self.failure(
            f"{name} without a message",
            step,
            error,
            sfn.JsonPath.format(
                f"{what} {{}} failed and gave no failure message.", sfn.JsonPath.string_at(subject)
            ),
        )
        return (
            sfn.Choice(self._scope, f"{name}: message given?")
            .when(sfn.Condition.is_present(message_path), said)
            .otherwise(silent)
        )

    def time_limit_reached(self) -> sfn.IChainable:
        return created_once(
            self._scope,
            TIME_LIMIT_REACHED,
            lambda: self.failure(
                TIME_LIMIT_REACHED,
                "Watch",
                "TimeLimitExceeded",
                sfn.JsonPath.format(
                    "Job {} did not finish within the time limit of {} seconds and was stopped.",
                    sfn.JsonPath.string_at(path("training", "job_id")),
                    sfn.JsonPath.string_at(path("plan", "watch", "time_limit_seconds")),
                ),
            ),
        )

    def notify(self) -> sfn.IChainable:
        """Tell the topic why the run failed, then fail the execution with that error and cause."""
        return created_once(self._scope, NOTIFY_FAILURE, self._notify)

    def _notify(self) -> sfn.IChainable:
        failed = sfn.Fail(
            self._scope, FAILED, error_path=path("failure", "error"), cause_path=path("failure", "cause")
        )
        notify = tasks.SnsPublish(
            self._scope,
            NOTIFY_FAILURE,
            topic=self._topic,
            subject=sfn.JsonPath.format("RFT run {} failed", sfn.JsonPath.execution_name),
            message=sfn.TaskInput.from_text(
                sfn.JsonPath.format(
                    "The RFT run {} failed in step {}. Error: {}. Cause: {} Execution: {}",
                    sfn.JsonPath.execution_name,
                    sfn.JsonPath.string_at(path("failure", "step")),
                    sfn.JsonPath.string_at(path("failure", "error")),
                    sfn.JsonPath.string_at(path("failure", "cause")),
                    sfn.JsonPath.execution_id,
                )
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        # A notification that cannot be sent must not hide the run's own failure.
        notify.add_catch(failed, errors=["States.ALL"], result_path=path("notification_error"))
        return notify.next(failed)
