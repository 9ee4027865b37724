"""Answer forms, handler side (no SymPy): words inside a LaTeX answer.

math-verify drops ``\\text{...}`` and its kin before it compares, so ``\\sqrt2 \\text{ else } \\sqrt3``
reads as ``\\sqrt2`` for it: the words that qualified the answer are gone. Here a text group is
allowed where it cannot change which value is the answer:
  * before everything else (``\\text{so } x = 3``) or after it (``125 \\text{ miles}``,
    ``6 \\text{ cm}^2``): a lead or a unit;
  * between values when it only joins a list: ``6 \\text{ and } 8`` reads as ``6, 8``;
  * as the whole answer (``\\text{odd}``).
Any other text between two pieces of mathematics (``else``, ``but``, ``if``, ``otherwise``, a unit
between two numbers...) makes the answer a hedge: it scores 0.
"""

from __future__ import annotations

import re

from lambda_rewards.common.text import braced_group

TEXT_COMMANDS = ("text", "textnormal", "textrm", "textbf", "textit", "textsf", "texttt", "mbox", "hbox")
_TEXT_OPEN = re.compile(r"\\(?:" + "|".join(TEXT_COMMANDS) + r")\s*(?=\{)")
_CONNECTORS = frozenset({"", ",", "and", ", and", "&"})
# What may follow a unit without being another piece of the answer: spacing, punctuation and the
# unit's own exponent.
_NOTHING_AFTER = re.compile(
    r"(?:\s|\\[,;:! ]|\\q?quad|\^\s*\{?\s*[0-9]\s*\}?|[.,;:]|\\text\w*\s*\{[^{}]*\})*"
)
_LEAD_ONLY = re.compile(r"(?:\s|\\[,;:! ]|\\q?quad|[.,;:]|\$)*")


def text_groups(text: str) -> list[tuple[int, int, str]]:
    """Every ``\\text{...}``-like group: (start, end, content)."""
    groups = []
    for match in _TEXT_OPEN.finditer(text):
        group = braced_group(text, match.end(), 2000)
        if group is not None:
            groups.append((match.start(), group[1], group[0]))
    return groups


def join_text_lists(text: str) -> tuple[str, str | None]:
    """``text`` with list connectors (``\\text{ and }``) as commas and leading or trailing words
    removed, and the first interior text that is not a connector (``None`` when there is none):
    see the module docstring. An answer that is only words is returned as it is."""
    if "\\t" not in text and "box" not in text:
        return text, None
    pieces, position = [], 0
    for start, end, content in text_groups(text):
        if start < position:
            continue  # nested inside a group already handled
        before, after = text[:start], text[end:]
        lead = _LEAD_ONLY.fullmatch(before) is not None
        interior = not lead and _NOTHING_AFTER.fullmatch(after) is None
        if interior and " ".join(content.split()).lower() not in _CONNECTORS:
            return text, content.strip()
        pieces.append(text[position:start])
        if interior:
            pieces.append("" if before.rstrip().endswith(",") else ",")  # "19, 46, \\text{ and } 82"
        elif not lead and _LEAD_ONLY.fullmatch(after) is None:
            pieces.append(text[start:end])  # a unit with its exponent ("\\text{ cm}^2") stays whole
        position = end
    pieces.append(text[position:])
    joined = "".join(pieces)
    return (joined if joined.strip() else text), None
