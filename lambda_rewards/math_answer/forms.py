"""Answer forms, handler side (no SymPy): one spelling for each LaTeX value, words inside an answer.

One value, many spellings (``respell``): ``\\dfrac``/``\\tfrac``/``\\cfrac`` are ``\\frac``;
brace-less fractions (``\\frac3{3}``, ``\\frac12``) get their braces; ``\\left( \\frac{1}{3}
\\right)`` around a whole scalar is the scalar; thin-space thousands (``11,\\! 111,\\! 100``)
are ``11,111,100``; ``\\textnormal``, ``\\textrm``, ``\\mbox``... are ``\\text``; relations have
one spelling each (``>=``, ``\\geq`` and ``\\ge``; ``\\lt`` and ``<``; ``!=``, ``\\ne`` and
``\\neq``).

Words inside an answer:

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
from collections.abc import Callable

from lambda_rewards.common.text import braced_group

_FRAC_VARIANT = re.compile(r"\\[dtc]frac(?![A-Za-z])")
_FRAC_TWO_DIGITS = re.compile(r"\\frac\s*([0-9])\s*([0-9])")  # \frac12
_FRAC_DIGIT_FIRST = re.compile(r"\\frac\s*([0-9])\s*\{")  # \frac3{3}
_FRAC_DIGIT_SECOND = re.compile(r"\\frac\s*(\{[^{}]*\})\s*([0-9])")  # \frac{3}3
_THIN_THOUSANDS = re.compile(r"([0-9]),\s*\\[!,;:]\s*(?=[0-9]{3}(?![0-9]))")  # 11,\! 111
_TEXT_VARIANT = re.compile(r"\\(?:textnormal|textrm|textsf|texttt|textup|mbox|hbox)(?![A-Za-z])")
_SIZED = re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big|biggl|biggr)(?![A-Za-z])\s*")


def _literally(spelling: str) -> Callable[[re.Match[str]], str]:
    """A replacement that inserts ``spelling`` as it is (a template string would read its
    backslashes as escapes)."""
    return lambda _match: spelling


_RELATIONS = (
    (re.compile(r"\\geq?(?![A-Za-z])|\\geqslant(?![A-Za-z])|>="), _literally("\\ge ")),
    (re.compile(r"\\leq?(?![A-Za-z])|\\leqslant(?![A-Za-z])|<="), _literally("\\le ")),
    (re.compile(r"\\neq?(?![A-Za-z])|!="), _literally("\\neq ")),
    (re.compile(r"\\gt(?![A-Za-z])"), _literally(">")),
    (re.compile(r"\\lt(?![A-Za-z])"), _literally("<")),
)


def _without_outer_parentheses(text: str) -> str:
    """``( X )`` as ``X`` when the parentheses wrap the whole of one value (no top-level comma)."""
    stripped = text.strip()
    if len(stripped) < 2 or stripped[0] != "(" or stripped[-1] != ")":
        return text
    depth = 0
    for index, ch in enumerate(stripped):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth == 0 and index < len(stripped) - 1:
            return text  # "(1)(2)": the first group closes before the end
        if depth == 1 and ch in ",;":
            return text  # a pair or an interval, not a scalar in parentheses
    return stripped[1:-1]


def respell(text: str) -> str:
    """``text`` with one spelling for each value (see the module docstring)."""
    if "\\" in text:
        text = _FRAC_VARIANT.sub(r"\\frac", text)
        if "\\frac" in text:
            text = _FRAC_TWO_DIGITS.sub(r"\\frac{\1}{\2}", text)
            text = _FRAC_DIGIT_FIRST.sub(r"\\frac{\1}{", text)
            text = _FRAC_DIGIT_SECOND.sub(r"\\frac\1{\2}", text)
        text = _THIN_THOUSANDS.sub(r"\1,", text)
        text = _TEXT_VARIANT.sub(r"\\text", text)
        text = _SIZED.sub("", text)
    if "\\" in text or "=" in text:
        for pattern, replacement in _RELATIONS:
            text = pattern.sub(replacement, text)
    return _without_outer_parentheses(text)


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


# --------------------------------------------------------------------------- labelled answers

_NAME = r"(?:[A-Za-z]|\\[A-Za-z]{2,12}|[A-Z]{2,4})(?:_\{?[A-Za-z0-9]{1,8}\}?)?'*"
_LABEL = re.compile(
    rf"\s*(?:{_NAME}(?:\s*\(\s*[A-Za-z]\s*\))?"  # x, x_1, \alpha, AB, f(x)
    rf"|\(\s*{_NAME}(?:\s*,\s*{_NAME})+\s*\)"  # (p, q, r)
    rf"|{_NAME}(?:\s*:\s*{_NAME})+"  # V_1:V_2
    rf"|\\frac\{{\s*{_NAME}\s*\}}\{{\s*{_NAME}\s*\}})\s*"  # \frac{NO}{BO}
)
_MEMBERSHIP = re.compile(r"\\in(?![A-Za-z])")
_LEADING_SPACE = re.compile(r"^(?:\s|\\q?quad|\\[ ,;:!]|~)+")
_REFERENCE_JOINERS = re.compile(r"\s+(?:and|or)\s+|(?<=[)\]}0-9])\s*or\s*(?=[(\[{0-9-])")


def _split_label(item: str) -> tuple[str | None, str]:
    """(label, value) of ``label = value`` (the first top-level ``=`` only), else (None, item)."""
    from lambda_rewards.math_answer.latex import top_level_split

    item = _LEADING_SPACE.sub("", item)
    sides = top_level_split(item, "=") if "=" in item else [item]
    if len(sides) == 1 and "\\in" in item:  # x \in [-2, 7]: the set is the value
        sides = _MEMBERSHIP.split(item, maxsplit=1)
    if len(sides) < 2 or _LABEL.fullmatch(sides[0]) is None or not sides[1].strip():
        return None, item
    return " ".join(sides[0].split()), "=".join(sides[1:]).strip()


def unlabel(text: str, *, reference: bool = False) -> tuple[list[str] | None, str]:
    """The labels and the values of a labelled answer, or (None, text) when it has no labels.

    ``(p, q) = (3, 2)`` -> (["(p, q)"], "(3, 2)"); ``AB = 4, CD = 5`` -> (["AB", "CD"], "4, 5");
    ``p = 5, q = 2; p = 7, q = 2`` -> (["p", "q", "p", "q"], "(5, 2), (7, 2)"); ``n = 1, 2, 3``
    (one label over a list) -> (["n"], "1, 2, 3"). Semicolons between single values are commas.
    In a reference (trusted), "and" and "or" between values join a list (``(11,7) or (7,11)``)."""
    from lambda_rewards.math_answer.latex import top_level_split

    if reference:
        text = _REFERENCE_JOINERS.sub(", ", text)
    if "=" not in text and ";" not in text and "\\in" not in text:
        return None, text
    groups = [
        [_split_label(item) for item in top_level_split(group, ",")] for group in top_level_split(text, ";")
    ]
    labels = [label for group in groups for label, _ in group if label is not None]
    items = [item for group in groups for item in group]
    one_label_over_a_list = (
        len(groups) == 1
        and len(labels) == 1
        and items[0][0] is not None
        and "=" not in "".join(v for _, v in items[1:])
    )
    if labels and len(labels) != len(items) and not one_label_over_a_list:
        return None, text  # labels on some values only: not a labelled list
    if not labels and len(groups) == 1:
        return None, text
    if len(groups) == 1:
        return labels, ", ".join(value.strip() for _, value in groups[0])
    values = [
        group[0][1].strip() if len(group) == 1 else "(" + ", ".join(value.strip() for _, value in group) + ")"
        for group in groups
    ]
    if not labels and len(groups) == 1:
        return None, text
    return (labels or None), ", ".join(values)  # semicolon lists and labelled groups
