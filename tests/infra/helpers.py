"""Build the app's stages in memory, the way `cdk synth` does, without bundling Lambda code."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template

from stacks.config import EnvironmentSettings, load_environment
from stacks.stage import RftStage

REPO_ROOT = Path(__file__).resolve().parents[2]


def cdk_context() -> dict[str, Any]:
    """The context of cdk.json (feature flags and environments), as the CLI would pass it."""
    return copy.deepcopy(json.loads((REPO_ROOT / "cdk.json").read_text())["context"])


def new_app(**extra_context: Any) -> cdk.App:
    # An empty bundling-stacks list skips Lambda bundling: construct tests need no pip downloads.
    return cdk.App(context={**cdk_context(), "aws:cdk:bundling-stacks": [], **extra_context})


def settings(name: str = "staging", **overrides: Any) -> EnvironmentSettings:
    values = cdk_context()["environments"][name]
    return load_environment(name, _merge(values, overrides))


def build_stage(name: str = "staging", **overrides: Any) -> RftStage:
    app = new_app()
    environment = settings(name, **overrides)
    return RftStage(app, name, settings=environment, env=cdk.Environment(region=environment.region))


@functools.cache
def configured_stage(name: str) -> RftStage:
    """The stage `name` as cdk.json configures it, built once per test process: for reading only."""
    return build_stage(name)


def stacks_of(rft_stage: RftStage) -> list[cdk.Stack]:
    return [c for c in rft_stage.node.children if isinstance(c, cdk.Stack)]


def all_resources(rft_stage: RftStage) -> dict[str, dict[str, Any]]:
    """Every resource of the stage's stacks, keyed `<stack name>/<logical id>`."""
    found = {}
    for stack in stacks_of(rft_stage):
        for logical_id, resource in template(stack).to_json()["Resources"].items():
            found[f"{stack.stack_name}/{logical_id}"] = resource
    return found


def template(stack: cdk.Stack) -> Template:
    return Template.from_stack(stack)


def _merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        merged[key] = _merge(merged.get(key, {}), value) if isinstance(value, Mapping) else value
    return merged
