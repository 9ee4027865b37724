"""Shaping terms any grader combines by configuration (see ``settings`` for the variables).

The aggregate reward is the weighted mean of the enabled terms, each in [0, 1]:
  correctness  the grader's score;
  format       1 if every configured anchored format check passes, else 0;
  overlong     DAPO's soft overlong punishment mapped into [0, 1]: 1 up to ``L - cache``, then
               linear down to 0 at ``L`` (DAPO's 0 .. -1 penalty shifted by +1).
With ``format_gate`` a response failing the format check scores 0 outright. A weighted mean keeps
the aggregate in [0, 1] whatever the weights.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lambda_rewards.common.settings import RewardSettings
from lambda_rewards.common.text import find_boxes

_AFTER_BOX_ALLOWED = re.compile(r"[\s$.\\\])]*")


def length_of(text: str, unit: str) -> int:
    """Length of a response in the configured unit; ``tokens`` is UTF-8 bytes / 4, rounded up (a
    tokenizer-free estimate that cannot be gamed by whitespace)."""
    if unit == "chars":
        return len(text)
    if unit == "words":
        return len(text.split())
    size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    return (size + 3) // 4


def overlong_term(length: int, max_length: int, cache: int) -> float:
    """1 up to ``max_length - cache``, linear to 0 at ``max_length``, 0 beyond."""
    if length <= max_length - cache:
        return 1.0
    if length >= max_length or cache <= 0:
        return 0.0
    return (max_length - length) / cache


def check_think(text: str) -> bool:
    """Exactly one ``<think>...</think>`` block, at the very start, and a non-empty answer after."""
    if text.count("<think>") != 1 or text.count("</think>") != 1:
        return False
    stripped = text.lstrip()
    if not stripped.startswith("<think>"):
        return False
    close = stripped.find("</think>")
    return bool(stripped[close + len("</think>") :].strip())


def check_answer_tag(text: str) -> bool:
    """Exactly one ``<answer>...</answer>``, non-empty, with nothing but whitespace after it."""
    if text.count("<answer>") != 1 or text.count("</answer>") != 1:
        return False
    open_at = text.find("<answer>")
    close_at = text.find("</answer>")
    if close_at < open_at or not text[open_at + len("<answer>") : close_at].strip():
        return False
    return not text[close_at + len("</answer>") :].strip()


def check_boxed_end(text: str) -> bool:
    """Exactly one ``\\boxed{}`` and nothing after it but closing math delimiters/punctuation."""
    if text.count("\\boxed") != 1:
        return False
    boxes = find_boxes(text[-20_000:])
    if len(boxes) != 1 or not boxes[0][0].strip():
        return False
    rest = text[-20_000:][boxes[0][2] :]
    return _AFTER_BOX_ALLOWED.fullmatch(rest) is not None


FORMAT_CHECKERS = {"think": check_think, "answer_tag": check_answer_tag, "boxed_end": check_boxed_end}


@dataclass(frozen=True)
class Shaped:
    score: float
    terms: dict[str, float]  # enabled shaping terms by name ("format", "overlong")


def shape(correctness: float, response: str, settings: RewardSettings) -> Shaped:
    """The aggregate score of one graded response under ``settings``."""
    if not settings.shaping_enabled:
        return Shaped(correctness, {})
    w_correct, w_format, w_overlong = settings.effective_weights()
    terms: dict[str, float] = {}
    total = w_correct * correctness
    weight = w_correct
    format_ok = True
    if settings.format:
        format_ok = all(FORMAT_CHECKERS[name](response) for name in settings.format)
        terms["format"] = 1.0 if format_ok else 0.0
        total += w_format * terms["format"]
        weight += w_format
    if settings.overlong_max is not None:
        length = length_of(response, settings.length_unit)
        terms["overlong"] = overlong_term(length, settings.overlong_max, settings.effective_cache())
        total += w_overlong * terms["overlong"]
        weight += w_overlong
    if settings.format_gate and not format_ok:
        return Shaped(0.0, terms)
    score = total / weight if weight > 0 else 0.0
    return Shaped(min(1.0, max(0.0, score)), terms)
