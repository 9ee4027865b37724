"""A reward (grader) Lambda: one folder of `lambda_rewards/`, bundled with `common/` and the few
`rft/` modules they import, behind a `live` alias (`LiveFunction`: training jobs are given the
alias ARN). The function's role holds only what every grader needs (its own log group, X-Ray);
anything more is granted by the stack that composes the graders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Unpack

from constructs import Construct

from rft import names
from rft.names import REWARDS_PACKAGE
from stacks.constructs.bundle_manifest import imports_from_outside
from stacks.constructs.live_function import FunctionOptions, LiveFunction
from stacks.constructs.python_function import REPO_ROOT

REWARDS_ROOT = REPO_ROOT / REWARDS_PACKAGE
REQUIREMENTS_FILE = "requirements.txt"


def discover_graders(root: Path = REWARDS_ROOT) -> tuple[str, ...]:
    """The graders of the repository (or of `root`): `rft.names.discover_graders`."""
    return names.discover_graders(root)


def grader_construct_id(name: str) -> str:
    """`math_answer` -> `MathAnswer`."""
    return "".join(part.capitalize() for part in name.split("_"))


def grader_sources(name: str) -> list[str]:
    """What the bundle of grader `name` copies: its folder, `common/`, and every module outside
    them that they import (`rft/stats.py` for the batch metrics, with `rft/__init__.py`)."""
    folders = [f"{REWARDS_PACKAGE}/common", f"{REWARDS_PACKAGE}/{name}"]
    imported = [path for path in imports_from_outside(folders) if path != f"{REWARDS_PACKAGE}/__init__.py"]
    return [f"{REWARDS_PACKAGE}/__init__.py", *folders, *imported]


class Grader(LiveFunction):
    """The Lambda function of one grader folder, its log group and its `live` alias."""

    def __init__(
        self, scope: Construct, construct_id: str, *, name: str, **options: Unpack[FunctionOptions]
    ) -> None:
        folder = f"{REWARDS_PACKAGE}/{name}"
        requirements = f"{folder}/{REQUIREMENTS_FILE}"
        super().__init__(
            scope,
            construct_id,
            sources=grader_sources(name),
            handler=f"{REWARDS_PACKAGE}.{name}.handler.handler",
            requirements=requirements if (REPO_ROOT / requirements).is_file() else None,
            description=f"rft-stack reward function '{name}'",
            alias_description=f"The version of '{name}' that training jobs invoke",
            **options,
        )
        self.name = name
