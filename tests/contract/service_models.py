"""Requests and responses checked against botocore's service models: the contract nobody here wrote.

botocore's own ``ParamValidator`` checks required and unknown members, types and minimums; the
service also enforces what the model states but botocore leaves to it (maximum lengths and values,
enums, patterns), so ``contract_problems`` checks those too. ``from_sfn_case`` turns the PascalCase
parameters of a Step Functions AWS SDK task into the API's member names, refusing a name that is
not the member's name with its first letter upper-cased (what Step Functions accepts).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape
from botocore.validate import ParamValidator


@cache
def operation(service: str, name: str) -> OperationModel:
    """`name` in the API's spelling (CreateModelCustomizationJob) or Step Functions'
    (createModelCustomizationJob)."""
    model = botocore.session.get_session().get_service_model(service)
    return model.operation_model(name[:1].upper() + name[1:])


def error_names(service: str, name: str) -> set[str]:
    return {shape.name for shape in operation(service, name).error_shapes}


def sfn_name(member: str) -> str:
    return member[:1].upper() + member[1:]


def from_sfn_case(shape: Shape, value: Any, where: str = "") -> Any:
    """Step Functions' PascalCase parameters -> the API's member names."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        by_sfn_name = {sfn_name(member): member for member in shape.members}
        converted = {}
        for key, item in value.items():
            member = by_sfn_name.get(key)
            if member is None:
                # Not the PascalCase of a member (even if it is the member's own camelCase name,
                # which Step Functions refuses): kept so the validator reports it as unknown.
                converted[f"{key} (not a member in Step Functions' spelling)"] = item
                continue
            converted[member] = from_sfn_case(shape.members[member], item, f"{where}.{key}")
        return converted
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [from_sfn_case(shape.member, item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {key: from_sfn_case(shape.value, item, f"{where}.{key}") for key, item in value.items()}
    return value


def contract_problems(shape: Shape, params: Any) -> list[str]:
    """Everything wrong with `params` as an input of `shape`: botocore's validation, then the
    constraints it leaves to the service (max length/value, enum, pattern)."""
    report = ParamValidator().validate(params, shape)
    problems = (
        [line for line in report.generate_report().splitlines() if line.strip()]
        if report.has_errors()
        else []
    )
    problems.extend(_service_constraints(shape, params, shape.name))
    return problems


def _service_constraints(shape: Shape, value: Any, where: str) -> Iterator[str]:
    meta = shape.metadata
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for key, item in value.items():
            if key in shape.members:
                yield from _service_constraints(shape.members[key], item, f"{where}.{key}")
        return
    if isinstance(shape, ListShape) and isinstance(value, list):
        if "max" in meta and len(value) > meta["max"]:
            yield f"{where}: {len(value)} items, at most {meta['max']}"
        for index, item in enumerate(value):
            yield from _service_constraints(shape.member, item, f"{where}[{index}]")
        return
    if isinstance(shape, MapShape) and isinstance(value, dict):
        if "max" in meta and len(value) > meta["max"]:
            yield f"{where}: {len(value)} entries, at most {meta['max']}"
        for key, item in value.items():
            yield from _service_constraints(shape.key, key, f"{where} key {key!r}")
            yield from _service_constraints(shape.value, item, f"{where}.{key}")
        return
    if isinstance(value, str):
        if "max" in meta and len(value) > meta["max"]:
            yield f"{where}: {len(value)} characters, at most {meta['max']}"
        enum = getattr(shape, "enum", None)
        if enum and value not in enum:
            yield f"{where}: {value!r} is not one of {enum}"
        if "pattern" in meta and not _matches(meta["pattern"], value):
            yield f"{where}: {value!r} does not match {meta['pattern']}"
    elif (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and "max" in meta
        and value > meta["max"]
    ):
        yield f"{where}: {value} is above {meta['max']}"


def _matches(pattern: str, value: str) -> bool:
    # botocore patterns are Java regular expressions, anchored or not; they are whole-value rules.
    # The few Python cannot compile (\p{...} classes) are left to the service.
    compiled = _compiled(pattern)
    return compiled is None or compiled.fullmatch(value) is not None


@cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern.removeprefix("^").removesuffix("$"), flags=re.DOTALL)
    except re.error:
        return None


def service_constraint_problems(shape: Shape, params: Any) -> list[str]:
    """Only the constraints botocore leaves to the service (max, enum, pattern)."""
    return list(_service_constraints(shape, params, shape.name))


def output_member(shape: Shape, sfn_path: list[str]) -> Shape | None:
    """The output shape reached by Step Functions' PascalCase path, None if the path leaves it."""
    for key in sfn_path:
        if isinstance(shape, StructureShape):
            members = {sfn_name(member): member for member in shape.members}
            if key not in members:
                return None
            shape = shape.members[members[key]]
        else:
            return None
    return shape
