"""json_schema: structured output checked against a JSON Schema, with optional field credit.

Reference: ``{"schema": <JSON Schema>, "expected": <optional JSON value>}`` (an object, or a string
holding one).

How a response is graded:
1. Only the final answer is read (``lambda_rewards.common.answer``: what follows the last
   ``</think>``; unclosed reasoning is no answer). The JSON is the answer's last fenced block
   (```` ```json ... ``` ```` or a bare fence) if it has one, otherwise the whole answer. A fence
   inside the reasoning is never read.
2. It is parsed strictly: at most ``JSON_MAX_BYTES``; ``NaN``/``Infinity`` and numbers that
   overflow to infinity are rejected; a duplicate key anywhere is rejected (``json.loads`` keeps
   the last one silently); nesting deeper than ``JSON_MAX_DEPTH`` is rejected before parsing.
   Anything unparsable scores 0 with the metric ``invalid_json`` (or ``too_large``/``too_deep``).
3. It must validate against the schema (``jsonschema``, the schema's own draft; a bad schema is
   ``error_bad_reference``, its reason logged once). Every ``format`` the schema uses is checked,
   the same way locally and on Lambda, or the reference is refused (``formats``). Validation
   runs under a time limit (schema ``pattern``s meet the model's strings).
4. Score: 1 when valid and no ``expected``; with ``expected`` and ``JSON_FIELD_CREDIT`` the share of
   expected leaf values found at the same paths (type-strict: ``1`` is not ``true``), otherwise 1
   only for an exact match.
Settings: JSON_MAX_BYTES, JSON_MAX_DEPTH, JSON_FIELD_CREDIT (see ``lambda_rewards.common.settings``).
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from itertools import accumulate
from typing import Any

from lambda_rewards.common.answer import final_answer
from lambda_rewards.common.contract import Budget, Grade, Sample, make_handler, reference_object
from lambda_rewards.common.isolation import InProcessTimeout, soft_time_limit
from lambda_rewards.common.metrics import log_event
from lambda_rewards.common.settings import env_bool, env_int
from lambda_rewards.json_schema.formats import UnsupportedFormat, check_formats, format_checker

REWARD_NAME = "json_schema"
MAX_BYTES = env_int("JSON_MAX_BYTES", 262_144, minimum=16, maximum=6_000_000)
MAX_DEPTH = env_int("JSON_MAX_DEPTH", 64, minimum=1, maximum=10_000)
FIELD_CREDIT = env_bool("JSON_FIELD_CREDIT", True)
MAX_LEAVES = 10_000

# Every pattern here is linear in the text it scans: a response is hostile input, and a pattern
# that can re-scan a run (two adjacent ``[ \t]*``; a string pattern that fails at its end and is
# retried at each quote inside) makes a 40 KB answer cost seconds. Possessive quantifiers never
# give back what they took, and a string token that runs to the end of the text when unterminated
# always matches, so no quote is the start of a second scan.
_FENCE = re.compile(r"```[ \t]*+([A-Za-z0-9_+-]*+)[ \t]*+\n(.*?)```", re.DOTALL)
_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.DOTALL)  # unrolled: no group per char
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class StrictJSONError(ValueError):
    """The answer is not acceptable JSON; ``reason`` is the metric name."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def extract_json_text(response: str) -> str:
    """The JSON part of a response: the final answer's last fenced block, else the final answer."""
    answer = final_answer(response)
    if "```" in answer:
        blocks = _FENCE.findall(answer)
        if blocks:
            return blocks[-1][1].strip()
    return answer


def _reject_constant(name: str) -> Any:
    raise StrictJSONError("non_finite_number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise StrictJSONError("non_finite_number")
    return value


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise StrictJSONError("duplicate_key")
    return result


def nesting_depth(text: str) -> int:
    """Deepest bracket nesting of JSON text, string contents ignored; linear in ``len(text)``
    (strings removed in one pass, then a running sum over the brackets that remain)."""
    opening = text.count("[") + text.count("{")
    if opening <= 1:
        return opening
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(0, max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0))


def strict_loads(text: str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` without its lenient corners (see the module docstring); raises
    ``StrictJSONError`` with the reason."""
    size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise StrictJSONError("too_large")
    if not text:
        raise StrictJSONError("invalid_json")
    if nesting_depth(text) > max_depth:
        raise StrictJSONError("too_deep")
    try:
        return json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_unique_pairs,
        )
    except StrictJSONError:
        raise
    except (ValueError, RecursionError):  # JSONDecodeError, >4300-digit integers
        raise StrictJSONError("invalid_json") from None


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> Any:
    """A validator, or the message saying why the schema is refused (cached like a validator, so
    a batch of samples sharing one bad schema pays for the checks once)."""
    import jsonschema  # ~90 ms: paid by the first sample, not by every cold start of every grader

    schema = json.loads(schema_json)
    try:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
    except Exception as exc:  # jsonschema.SchemaError, unknown $schema and friends
        return f"invalid schema: {str(exc).splitlines()[0][:200]}"
    checker = format_checker(cls.FORMAT_CHECKER)
    try:
        check_formats(schema, frozenset(checker.checkers))
    except UnsupportedFormat as exc:
        return str(exc)
    return cls(schema, format_checker=checker)


def validator_for(schema: Any) -> Any:
    """A cached validator for ``schema``; raises ``ValueError`` saying why a schema is refused
    (invalid, or a ``format`` the grader does not check: see ``formats``)."""
    if not isinstance(schema, dict | bool):
        raise ValueError("schema must be an object or a boolean")
    compiled = _validator(json.dumps(schema, sort_keys=True))
    if isinstance(compiled, str):
        raise ValueError(compiled)
    return compiled


_logged_refusals: set[str] = set()


def _refuse_reference(reason: str) -> Grade:
    """``bad_reference``, with the reason logged once per distinct reason (not once per sample)."""
    if reason not in _logged_refusals and len(_logged_refusals) < 256:
        _logged_refusals.add(reason)
        log_event("warning", "json_schema reference refused", reward=REWARD_NAME, reason=reason)
    return Grade(0.0, error="bad_reference")


def _same(a: Any, b: Any) -> bool:
    """JSON equality, type-strict between booleans and numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _leaves(value: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    if isinstance(value, dict) and value:
        return [leaf for key, item in value.items() for leaf in _leaves(item, (*path, key))]
    if isinstance(value, list) and value:
        return [leaf for index, item in enumerate(value) for leaf in _leaves(item, (*path, index))]
    return [(path, value)]


_MISSING = object()


def _at(value: Any, path: tuple) -> Any:
    for step in path:
        in_object = isinstance(step, str) and isinstance(value, dict) and step in value
        in_array = isinstance(step, int) and isinstance(value, list) and -1 < step < len(value)
        if not (in_object or in_array):
            return _MISSING
        value = value[step]
    return value


def field_credit(instance: Any, expected: Any) -> float:
    """Share of the expected leaf values present, equal, at the same path in ``instance``."""
    leaves = _leaves(expected)[:MAX_LEAVES]
    matched = 0
    for path, leaf in leaves:
        found = _at(instance, path)
        if found is not _MISSING and _same(found, leaf):
            matched += 1
    return matched / len(leaves)


def _check(response: str, validator: Any) -> tuple[Any, int] | Grade:
    """The response's JSON and its number of schema errors, or the ``Grade`` that ends grading."""
    text = extract_json_text(response)
    if not text:
        return Grade(0.0, error="no_answer")
    try:
        instance = strict_loads(text)
    except StrictJSONError as exc:
        return Grade(0.0, {exc.reason: 1.0})
    try:
        return instance, sum(1 for _ in validator.iter_errors(instance))
    except RecursionError:
        return Grade(0.0, {"too_deep": 1.0})


def grade(sample: Sample, budget: Budget) -> Grade:
    reference = reference_object(sample.reference)
    if not isinstance(reference, dict) or "schema" not in reference:
        return _refuse_reference("the reference is not an object with a 'schema'")
    try:
        validator = validator_for(reference["schema"])
    except ValueError as exc:
        return _refuse_reference(str(exc))
    try:
        # One budget for everything the response drives: extraction, the pre-parse checks, the
        # parse and the validation (schema patterns meet the model's strings).
        with soft_time_limit(budget.for_sample()):
            outcome = _check(sample.response, validator)
    except InProcessTimeout:
        return Grade(0.0, error="timeout")
    if isinstance(outcome, Grade):
        return outcome
    instance, errors = outcome
    if errors:
        return Grade(0.0, {"schema_valid": 0.0, "schema_errors": float(min(errors, 1000))})
    if "expected" not in reference:
        return Grade(1.0, {"schema_valid": 1.0})
    expected = reference["expected"]
    if FIELD_CREDIT:
        credit = field_credit(instance, expected)
        return Grade(credit, {"schema_valid": 1.0, "field_credit": credit})
    return Grade(1.0 if _same(instance, expected) else 0.0, {"schema_valid": 1.0})


handler = make_handler(grade, reward_name=REWARD_NAME, defaults={"sample_timeout_s": 1.0})
