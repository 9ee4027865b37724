"""Errors raised by the rft library.

Every error's ``str()`` is one sentence a person can act on: the CLI prints it and exits 2, the
workflow's Lambda steps put it in the failure cause. Errors about input carry the offending field
(and line, for datasets) so nothing has to be guessed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class RftError(Exception):
    """Base class of every error this package raises on purpose."""


# A problem is read by a person and travels in bounded places (a Step Functions result, an SNS
# mail, a terminal): however long the input it describes, its field and message stay this short.
PROBLEM_FIELD_CHARS = 100
PROBLEM_MESSAGE_CHARS = 600


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where (line, field) and what."""

    line: int | None
    field: str
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "field", _bounded(self.field, PROBLEM_FIELD_CHARS))
        object.__setattr__(self, "message", _bounded(self.message, PROBLEM_MESSAGE_CHARS))

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.message}"

    def to_dict(self) -> dict[str, object]:
        return {"line": self.line, "field": self.field, "message": self.message}


def _bounded(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else f"{text[: limit - 30]}… ({len(text):,} characters)"


class ValidationError(RftError, ValueError):
    """Input that breaks a rule. ``problems`` holds the first ones found, ``total`` how many there were."""

    def __init__(
        self, what: str, problems: Iterable[Problem], total: int | None = None, *, plural: bool = False
    ) -> None:
        self.what = what
        self.plural = plural  # "The hyperparameters are invalid", not "is"
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.total = total if total is not None else len(self.problems)
        super().__init__(self._sentence())

    def _sentence(self) -> str:
        is_, has = ("are", "have") if self.plural else ("is", "has")
        if not self.problems:
            return f"{self.what} {is_} invalid."
        first = str(self.problems[0])
        if self.total == 1:
            return f"{self.what} {is_} invalid: {first}"
        return f"{self.what} {has} {self.total} problems; the first: {first}"

    def to_dict(self) -> dict[str, object]:
        return {
            "what": self.what,
            "total": self.total,
            "problems": [p.to_dict() for p in self.problems],
        }


class UnknownBaseModelError(RftError, LookupError):
    """A base model id that the catalog does not know (or not in the asked region)."""


class UnknownJudgeModelError(RftError):
    """A judge model id that is not in the catalog, or that the region cannot call as written."""


class UnknownModelError(RftError, LookupError):
    """A trained model name or alias that the registry does not hold."""


class RecordTooLargeError(RftError):
    """A model record that cannot fit into an SSM parameter even after trimming."""


class PromotionRefusedError(RftError):
    """An alias move that the promotion rule does not allow (and that was not forced)."""


class MantleError(RftError):
    """A call to the OpenAI-compatible Mantle endpoint failed or answered something unusable."""


class MantleRetryableError(MantleError):
    """Mantle throttled (429), was unavailable (503) or unreachable after the SDK's own retries:
    waiting and retrying may succeed (the state machine's Retry matches this name)."""
