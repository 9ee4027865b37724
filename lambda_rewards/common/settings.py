"""Grader settings: every environment variable a reward Lambda reads is documented here, and only
here. Values are parsed once, at cold start; a bad value raises ``ConfigError`` naming the variable,
so a misconfigured function fails its first invocation loudly instead of scoring silently wrong.

Shared by every grader (``REWARD_*``)
    REWARD_SAMPLE_TIMEOUT_S     seconds one sample may take (default per grader: math 2, json 1,
                                judge 30, code_tests its own).                      float > 0
    REWARD_DEADLINE_MARGIN_S    seconds kept free before the Lambda timeout to answer the batch
                                (default 3). The batch deadline is
                                ``context.get_remaining_time_in_millis()/1000 - margin``. float >= 0
    REWARD_LOCAL_DEADLINE_S     batch deadline when no Lambda context is given (local runs,
                                default 300).                                      float > 0
    REWARD_FORMAT               comma-separated anchored format checks, all must pass
                                (default none): ``think`` exactly one ``<think>...</think>`` block
                                at the very start and a non-empty answer after it; ``answer_tag``
                                exactly one ``<answer>...</answer>`` and nothing after it;
                                ``boxed_end`` exactly one ``\\boxed{}`` and nothing after it but
                                closing math delimiters and punctuation.
    REWARD_FORMAT_GATE          ``true``: a response failing the format check scores 0 whatever
                                else it earned (default false).
    REWARD_OVERLONG_MAX         soft overlong punishment (DAPO): length L at which the overlong
                                term reaches 0 (default unset: no punishment).      int > 0
    REWARD_OVERLONG_CACHE       the ramp: the term is 1 up to ``L - cache`` and falls linearly to
                                0 at ``L`` (default L/5).                         int >= 0
    REWARD_LENGTH_UNIT          ``chars``, ``words`` or ``tokens`` (≈ UTF-8 bytes / 4) (default
                                tokens).
    REWARD_WEIGHT_CORRECTNESS   weights of the terms in the aggregate score, a weighted mean of
    REWARD_WEIGHT_FORMAT        the enabled terms, so it stays in [0, 1] (defaults 1, 0.1 when a
    REWARD_WEIGHT_OVERLONG      format check is set else 0, 0.1 when REWARD_OVERLONG_MAX is set
                                else 0).                                            float >= 0
    REWARD_METRICS_NAMESPACE    CloudWatch namespace of the batch metrics (default RftStack/Rewards).
    REWARD_EMF                  ``false`` turns the embedded-metric-format fields off (default true).
    REWARD_WORKER_MEMORY_MB     address-space head-room of an isolated worker process above the
                                warm interpreter (default 384).                    int >= 64

    Per sample, ``metadata["reward_config"]`` (an object) overrides the shaping settings for that
    sample only. Its keys are the variable names above without the ``REWARD_`` prefix, in lower
    case: ``format``, ``format_gate``, ``overlong_max``, ``overlong_cache``, ``length_unit``,
    ``weight_correctness``, ``weight_format``, ``weight_overlong``. A bad override scores that
    sample 0 with the metric ``error_bad_config``.

math_answer (``MATH_*``)
    MATH_TAIL_CHARS             characters of the end of the response scanned for the final answer
                                (default 4000).                                   int 256..65536
    MATH_MAX_ANSWER_CHARS       longest extracted answer compared at all (default 400).   int > 0
    MATH_MAX_BOXES              more ``\\boxed{}`` than this in the tail is hedging (default 3).

json_schema (``JSON_*``)
    JSON_MAX_BYTES              largest JSON answer parsed, in UTF-8 bytes (default 262144).
    JSON_MAX_DEPTH              deepest nesting of objects/arrays accepted (default 64).
    JSON_FIELD_CREDIT           ``true``: when the reference has ``expected``, score is the share of
                                expected leaf fields matched (schema must still validate); ``false``:
                                all-or-nothing (default true).

code_tests (``CODE_TESTS_*``)
    CODE_TESTS_MEMORY_MB, CODE_TESTS_WORKERS: owned and described by ``lambda_rewards.code_tests``
    (parsed with the helpers below, so a bad value is named the same way).

llm_judge (``JUDGE_*``)
    JUDGE_MODEL_ID              Bedrock model id or inference profile the judge calls (required;
                                a sample may override it with ``metadata["judge_model_id"]`` only
                                when it is listed in JUDGE_ALLOWED_MODEL_IDS).
    JUDGE_ALLOWED_MODEL_IDS     comma-separated extra model ids samples may select (default none).
    JUDGE_RUBRIC                rubric used when the reference carries none (default unset: such a
                                sample scores 0 with ``error_missing_rubric``).
    JUDGE_MAX_CONCURRENCY       concurrent Converse calls per batch (default 8).  int 1..64
    JUDGE_MAX_TOKENS            verdict token limit (default 512).                   int > 0
    JUDGE_MAX_RETRIES           retries of a throttled call, inside the deadline (default 6).
    JUDGE_SCORE_MIN / MAX       the scale the rubric asks for (default 0 and 10); the verdict is
                                clipped to it and mapped to [0, 1].
    JUDGE_MAX_RESPONSE_CHARS    longest response sent to the judge; longer ones are cut in the
                                middle with a marker (default 20000).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Generic, TypeVar


class ConfigError(ValueError):
    """A setting with a bad value; the message names the variable (or per-sample key)."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

FORMAT_CHECKS = ("think", "answer_tag", "boxed_end")
LENGTH_UNITS = ("chars", "words", "tokens")

_Number = TypeVar("_Number", int, float)


def _parse_bool(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {str(raw)[:40]!r}")


def _parse_number(
    name: str, raw: Any, kind: type[_Number], minimum: float | None, maximum: float | None
) -> _Number:
    if isinstance(raw, bool):
        raise ConfigError(f"{name} must be a number, got {raw!r}")
    try:
        value = kind(str(raw).strip()) if isinstance(raw, str) else kind(raw)
    except (TypeError, ValueError, OverflowError):
        expected = "an integer" if kind is int else "a number"
        raise ConfigError(f"{name} must be {expected}, got {str(raw)[:40]!r}") from None
    if kind is float and value != value:  # NaN
        raise ConfigError(f"{name} must be a number, got {str(raw)[:40]!r}")
    if kind is int and isinstance(raw, float) and raw != int(raw):
        raise ConfigError(f"{name} must be an integer, got {raw!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be <= {maximum}, got {value}")
    return value


def _env_value(name: str, environ: Mapping[str, str] | None) -> str | None:
    """The variable's value, stripped; None when it is unset or empty (both mean "the default")."""
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    return raw or None


@dataclass(frozen=True)
class _EnvNumber(Generic[_Number]):
    """Reads a number environment variable of one kind (``env_int``, ``env_float``)."""

    kind: type[_Number]

    def __call__(
        self,
        name: str,
        default: _Number,
        *,
        minimum: _Number | None = None,
        maximum: _Number | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> _Number:
        """The variable ``name`` within [minimum, maximum], or ``default`` when unset or empty."""
        raw = _env_value(name, environ)
        return default if raw is None else _parse_number(name, raw, self.kind, minimum, maximum)


env_float = _EnvNumber(float)
env_int = _EnvNumber(int)


def env_bool(name: str, default: bool, *, environ: Mapping[str, str] | None = None) -> bool:
    """A boolean environment variable (true/false/1/0/yes/no/on/off), or ``default`` when unset."""
    raw = _env_value(name, environ)
    return default if raw is None else _parse_bool(name, raw)


def env_str(name: str, default: str | None = None, *, environ: Mapping[str, str] | None = None) -> str | None:
    """A string environment variable (stripped), or ``default`` when unset or empty."""
    return _env_value(name, environ) or default


@dataclass(frozen=True)
class RewardSettings:
    """The shared settings of one grader (see the module docstring for each one)."""

    sample_timeout_s: float = 2.0
    deadline_margin_s: float = 3.0
    local_deadline_s: float = 300.0
    format: tuple[str, ...] = ()
    format_gate: bool = False
    overlong_max: int | None = None
    overlong_cache: int | None = None
    length_unit: str = "tokens"
    weight_correctness: float = 1.0
    weight_format: float | None = None
    weight_overlong: float | None = None
    metrics_namespace: str = "RftStack/Rewards"
    emf: bool = True
    worker_memory_mb: int = 384

    @property
    def shaping_enabled(self) -> bool:
        return bool(self.format) or self.overlong_max is not None

    def effective_weights(self) -> tuple[float, float, float]:
        """(correctness, format, overlong) weights with the defaults resolved; a disabled term
        weighs 0."""
        w_format = (0.1 if self.weight_format is None else self.weight_format) if self.format else 0.0
        w_overlong = 0.0
        if self.overlong_max is not None:
            w_overlong = 0.1 if self.weight_overlong is None else self.weight_overlong
        return self.weight_correctness, w_format, w_overlong

    def effective_cache(self) -> int:
        if self.overlong_max is None:
            return 0
        cache = self.overlong_max // 5 if self.overlong_cache is None else self.overlong_cache
        return min(cache, self.overlong_max)


def _parse_format(name: str, raw: Any) -> tuple[str, ...]:
    if isinstance(raw, list | tuple):
        items = [str(item).strip().lower() for item in raw]
    else:
        items = [item.strip().lower() for item in str(raw).split(",")]
    items = [item for item in items if item and item != "none"]
    for item in items:
        if item not in FORMAT_CHECKS:
            raise ConfigError(f"{name} has unknown format check {item!r}; known: {', '.join(FORMAT_CHECKS)}")
    return tuple(dict.fromkeys(items))


def _parse_unit(name: str, raw: Any) -> str:
    unit = str(raw).strip().lower()
    if unit not in LENGTH_UNITS:
        raise ConfigError(f"{name} must be one of {', '.join(LENGTH_UNITS)}, got {str(raw)[:40]!r}")
    return unit


def _parse_namespace(name: str, raw: Any) -> str:
    text = str(raw).strip()
    if not text or len(text) > 255:
        raise ConfigError(f"{name} must be a CloudWatch namespace of 1 to 255 characters")
    return text


# field -> parser(name, raw). The order is the order of validation.
_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "sample_timeout_s": lambda n, r: _parse_number(n, r, float, 0.001, 900.0),
    "deadline_margin_s": lambda n, r: _parse_number(n, r, float, 0.0, 600.0),
    "local_deadline_s": lambda n, r: _parse_number(n, r, float, 0.001, 86400.0),
    "format": _parse_format,
    "format_gate": _parse_bool,
    "overlong_max": lambda n, r: _parse_number(n, r, int, 1, None),
    "overlong_cache": lambda n, r: _parse_number(n, r, int, 0, None),
    "length_unit": _parse_unit,
    "weight_correctness": lambda n, r: _parse_number(n, r, float, 0.0, 1e6),
    "weight_format": lambda n, r: _parse_number(n, r, float, 0.0, 1e6),
    "weight_overlong": lambda n, r: _parse_number(n, r, float, 0.0, 1e6),
    "metrics_namespace": _parse_namespace,
    "emf": _parse_bool,
    "worker_memory_mb": lambda n, r: _parse_number(n, r, int, 64, 1 << 20),
}

# Keys a sample may override through metadata["reward_config"]: shaping only, never budgets.
SAMPLE_OVERRIDABLE = frozenset(
    {
        "format",
        "format_gate",
        "overlong_max",
        "overlong_cache",
        "length_unit",
        "weight_correctness",
        "weight_format",
        "weight_overlong",
    }
)


# Settings whose "unset" (None) is meaningful and may be restored per sample with null.
_NULLABLE = frozenset({"overlong_max", "overlong_cache", "weight_format", "weight_overlong"})


def _check(settings: RewardSettings, where: str) -> RewardSettings:
    weights = settings.effective_weights()
    if sum(weights) <= 0:
        raise ConfigError(f"{where}: the weights of the enabled reward terms sum to 0")
    if (
        settings.overlong_max is not None
        and settings.overlong_cache is not None
        and settings.overlong_cache > settings.overlong_max
    ):
        raise ConfigError(f"{where}: overlong_cache ({settings.overlong_cache}) exceeds overlong_max")
    return settings


def load_settings(
    defaults: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> RewardSettings:
    """Settings from ``REWARD_*`` environment variables over the grader's ``defaults`` (keys are
    field names of ``RewardSettings``); raises ``ConfigError`` naming the variable at fault."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    known = {f.name for f in fields(RewardSettings)}
    for key, raw in (defaults or {}).items():
        if key in known:
            values[key] = _PARSERS[key](f"default {key}", raw)
    for key, parser in _PARSERS.items():
        var = f"REWARD_{key.upper()}"
        raw = environ.get(var)
        if raw is None or raw.strip() == "":
            continue
        values[key] = parser(var, raw)
    return _check(RewardSettings(**values), "REWARD_* settings")


def with_overrides(settings: RewardSettings, overrides: Any) -> RewardSettings:
    """``settings`` with a sample's ``metadata["reward_config"]`` applied; raises ``ConfigError``
    naming the key at fault."""
    if overrides is None:
        return settings
    if not isinstance(overrides, dict):
        raise ConfigError(f"metadata.reward_config must be an object, got {type(overrides).__name__}")
    if not overrides:
        return settings
    changes: dict[str, Any] = {}
    for key, raw in overrides.items():
        name = f"metadata.reward_config.{key}"
        if key not in SAMPLE_OVERRIDABLE:
            allowed = ", ".join(sorted(SAMPLE_OVERRIDABLE))
            raise ConfigError(f"{name} is not a per-sample setting; allowed: {allowed}")
        if raw is None and key in _NULLABLE:
            changes[key] = None
        else:
            changes[key] = _PARSERS[key](name, raw)
    return _check(replace(settings, **changes), "metadata.reward_config")
