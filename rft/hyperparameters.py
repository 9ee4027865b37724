"""RFT hyperparameters: names, ranges, defaults, parsing, and the mapping to Mantle.

Users always write the Bedrock names (`epochCount`, `batchSize`, ...). Ranges are the ones the
Bedrock service model declares for `RFTHyperParameters`; the same ranges guard Mantle jobs because
the values mean the same thing there. The Mantle names and the learning-rate conversion are
assumptions, kept in ``rft.assumptions``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from rft import assumptions, strict_json
from rft.errors import Problem, RftError, ValidationError
from rft.quoting import quote

HyperparameterValue = int | float | str


@dataclass(frozen=True)
class HyperparameterSpec:
    name: str
    kind: type  # int, float or str
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    def describe_range(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.maximum is None:
            return f"an integer ≥ {self.minimum:g}" if self.kind is int else f"a number ≥ {self.minimum:g}"
        noun = "an integer" if self.kind is int else "a number"
        return f"{noun} from {self.minimum:g} to {self.maximum:g}"


SPECS: MappingProxyType[str, HyperparameterSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            HyperparameterSpec("epochCount", int, "passes over the training data", 1, 50),
            HyperparameterSpec("batchSize", int, "prompts per training step", 16, 512),
            HyperparameterSpec("learningRate", float, "LoRA learning rate", 1e-7, 1e-3),
            HyperparameterSpec("trainingSamplePerPrompt", int, "rollouts per prompt (the GRPO group)", 2, 16),
            HyperparameterSpec("evalInterval", int, "training steps between evaluations", 1, 100),
            HyperparameterSpec(
                "maxPromptLength",
                int,
                "longest prompt in tokens (longer ones are dropped)",
                1,
                assumptions.NOVA_MAX_CONTEXT_TOKENS,
            ),
            HyperparameterSpec(
                "inferenceMaxTokens", int, "most tokens per rollout", 1, assumptions.NOVA_MAX_CONTEXT_TOKENS
            ),
            HyperparameterSpec(
                "reasoningEffort", str, "reasoning budget of the rollouts", choices=("low", "medium", "high")
            ),
        )
    }
)
NAMES: tuple[str, ...] = tuple(SPECS)

# Filled in for Bedrock-plane jobs when the request leaves them out, so the model record states what
# was used. Values from the reference: batch 128 "works for most", 1e-4 recommended, 4 rollouts is
# the service default. Mantle jobs get only what the request gives (Mantle's defaults are its own).
DEFAULTS: MappingProxyType[str, HyperparameterValue] = MappingProxyType(
    {"batchSize": 128, "learningRate": 1e-4, "trainingSamplePerPrompt": 4}
)


@dataclass(frozen=True)
class Hyperparameters:
    """Validated hyperparameters under their Bedrock names. Build with ``from_dict``."""

    values: Mapping[str, HyperparameterValue] = field(default_factory=dict)

    @classmethod
    def from_dict(
        cls,
        data: object,
        *,
        field_name: str = "hyperparameters",
        applicable: Collection[str] | None = None,
        model_id: str | None = None,
    ) -> Hyperparameters:
        """Check names, types and ranges; raise ValidationError naming every bad field.

        ``applicable`` limits the names to those a base model takes (``model_id`` names it in errors).
        """
        if data is None:
            return cls({})
        if not isinstance(data, Mapping):
            raise ValidationError(
                "The hyperparameters",
                [Problem(None, field_name, "must be a JSON object of name: value")],
                plural=True,
            )
        problems: list[Problem] = []
        values: dict[str, HyperparameterValue] = {}
        for name, raw in data.items():
            where = f"{field_name}.{name}"
            spec = SPECS.get(name)
            if spec is None:
                problems.append(Problem(None, where, _unknown_name_message(str(name))))
                continue
            if applicable is not None and name not in applicable:
                allowed = ", ".join(n for n in NAMES if n in applicable) or "none"
                problems.append(
                    Problem(
                        None, where, f"does not apply to {model_id or 'this model'} (it takes: {allowed})"
                    )
                )
                continue
            value, message = _check_value(spec, raw)
            if message:
                problems.append(Problem(None, where, message))
            else:
                values[name] = value
        if problems:
            raise ValidationError("The hyperparameters", problems, plural=True)
        return cls({name: values[name] for name in NAMES if name in values})

    def to_dict(self) -> dict[str, HyperparameterValue]:
        return dict(self.values)

    def with_defaults(self, applicable: Collection[str] | None = None) -> Hyperparameters:
        merged = {name: value for name, value in DEFAULTS.items() if applicable is None or name in applicable}
        merged.update(self.values)
        return Hyperparameters({name: merged[name] for name in NAMES if name in merged})

    def to_mantle(self) -> dict[str, int | float]:
        return to_mantle(self.values)


def to_mantle(values: Mapping[str, HyperparameterValue]) -> dict[str, int | float]:
    """Bedrock names → Mantle names (see ``assumptions.MANTLE_HYPERPARAMETER_NAMES``).

    A name Mantle does not take raises instead of being dropped: validation against the catalog
    refuses such requests first, so reaching here with one is a bug.
    """
    out: dict[str, int | float] = {}
    for name, value in values.items():
        mantle_name = assumptions.MANTLE_HYPERPARAMETER_NAMES.get(name)
        if mantle_name is None:
            raise RftError(f"hyperparameter {name!r} has no Mantle equivalent")
        if name == "learningRate":
            multiplier = float(value) / assumptions.MANTLE_BASE_LEARNING_RATE
            out[mantle_name] = float(f"{multiplier:.12g}")
        else:
            out[mantle_name] = value  # type: ignore[assignment]
    return out


def parse_assignments(
    items: Iterable[str], *, field_name: str = "hyperparameters"
) -> dict[str, HyperparameterValue]:
    """Parse CLI ``name=value`` words into typed values (validated for name, type and range)."""
    raw: dict[str, HyperparameterValue] = {}
    problems: list[Problem] = []
    for item in items:
        name, sep, text = item.partition("=")
        name, text = name.strip(), text.strip()
        if not sep or not name or not text:
            problems.append(Problem(None, field_name, f"{quote(item)} is not name=value (e.g. epochCount=3)"))
            continue
        spec = SPECS.get(name)
        if spec is None:
            problems.append(Problem(None, f"{field_name}.{name}", _unknown_name_message(name)))
            continue
        try:
            raw[name] = _from_text(spec, text)
        except ValueError:
            problems.append(
                Problem(None, f"{field_name}.{name}", f"{quote(text)} is not {spec.describe_range()}")
            )
    if problems:
        raise ValidationError("The hyperparameters", problems, plural=True)
    return Hyperparameters.from_dict(raw, field_name=field_name).to_dict()


def load_file(path: str | Path) -> dict[str, HyperparameterValue]:
    """Read a JSON file holding one object of hyperparameters, validated."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise RftError(f"Cannot read the hyperparameters file {path}: {exc.strerror or exc}.") from exc
    try:
        data = strict_json.loads(text)
    except strict_json.JsonInputError as exc:
        raise ValidationError(f"The hyperparameters file {path}", [Problem(exc.line, "", str(exc))]) from exc
    return Hyperparameters.from_dict(data).to_dict()


def _check_value(spec: HyperparameterSpec, raw: object) -> tuple[HyperparameterValue, str | None]:
    if spec.choices:
        if isinstance(raw, str) and raw in spec.choices:
            return raw, None
        return "", f"{quote(raw)} is not {spec.describe_range()}"
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return 0, f"{quote(raw)} is not {spec.describe_range()}"
    if spec.kind is int:
        if isinstance(raw, float) and not raw.is_integer():
            return 0, f"{quote(raw)} is not {spec.describe_range()}"
        value: int | float = int(raw)
    else:
        if not math.isfinite(raw):
            return 0, f"{quote(raw)} is not {spec.describe_range()}"
        value = float(raw)
    if (spec.minimum is not None and value < spec.minimum) or (
        spec.maximum is not None and value > spec.maximum
    ):
        return 0, f"{quote(raw)} is out of range: must be {spec.describe_range()}"
    return value, None


def _from_text(spec: HyperparameterSpec, text: str) -> HyperparameterValue:
    if spec.choices:
        return text
    if spec.kind is int:
        number = float(text)
        if not number.is_integer():
            raise ValueError(text)
        return int(number)
    return float(text)


def _unknown_name_message(name: str) -> str:
    lowered = {n.lower(): n for n in NAMES}
    # A suggestion only for a name of plausible length: matching costs time in the name's length.
    candidate = name.lower().replace("_", "") if len(name) <= 64 else ""
    close = difflib.get_close_matches(candidate, list(lowered), n=1, cutoff=0.6) if candidate else []
    hint = f"; did you mean {lowered[close[0]]}?" if close else ""
    return f"unknown hyperparameter{hint} (known: {', '.join(NAMES)})"
