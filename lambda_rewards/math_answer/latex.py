"""LaTeX answers: cheap guards and equation handling in the handler process, symbolic comparison
(math-verify, gold first) in a killable worker.

Nothing here imports math-verify or SymPy at module level: the handler process never loads them;
the worker's zygote does (``warmup``), so a hang or a blow-up there is killed, not waited for.
Results come back as plain JSON, never SymPy objects, and nothing SymPy is ever ``str()``-ed or
logged (``str()`` of a parsed power tower can hang forever).

math-verify's known false positives are closed by a confirmation step
(``lambda_rewards.math_answer.confirm``) that must agree before an answer counts: every number and
every element of a structure (tuple, set, interval with its open/closed ends, matrix) at 60
significant digits, equations up to a factor, inequalities up to a positive factor. Also:
  * ``\\mathrm{e}`` is read as Euler's number before normalisation (math-verify's normaliser cuts
    ``1-\\frac{1}{\\mathrm{e}}`` to ``1-\\frac{1}{`` and then compares the fragment ``1``), and a
    normalised answer with unbalanced braces is refused instead of compared.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# --------------------------------------------------------------------------- guards (parent side)

MAX_EXPONENT_DIGITS = 4
MAX_DIGIT_RUN = 200
MAX_BRACE_DEPTH = 12
MAX_POWERS = 8
MAX_COMMANDS = 80
MAX_FACTORIAL = 5000

MAX_SUM_BOUND_DIGITS = 3

_DIGIT_RUN = re.compile(r"[0-9]+")
_SUM_BOUND = re.compile(r"\\(?:sum|prod)\s*(?:_\s*(?:\{[^{}]*\}|\S))?\s*\^\s*\{?\s*([0-9]+)")
_BINOMIAL = re.compile(r"\\[dt]?binom\s*(\{[^{}]*\}\s*\{[^{}]*\})|([0-9]+\s*\\choose\s*[0-9]+)")
_FACTORIAL = re.compile(r"([0-9]*)\s*!")
_COMMAND = re.compile(r"\\[A-Za-z]+")


def _exponent_groups(text: str) -> list[str]:
    groups = []
    index = text.find("^")
    while index != -1:
        rest = text[index + 1 :].lstrip()
        if rest.startswith("{"):
            depth, end = 0, None
            for offset, ch in enumerate(rest):
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                    if depth == 0:
                        end = offset
                        break
            groups.append(rest[1:end] if end is not None else rest[1:])
        else:
            match = re.match(r"\\?[A-Za-z]+|[0-9]+|.", rest)
            groups.append(match.group(0) if match else "")
        index = text.find("^", index + 1)
    return groups


def guard(text: str, max_chars: int) -> str | None:
    """Why ``text`` must not reach symbolic work, or ``None`` when it may. Refused: over-long
    answers, exponent towers, big exponents, huge numerals, factorials, sums, products and
    binomials, deep nesting. What passes can still be slow: the worker's time limit covers it."""
    if len(text) > max_chars:
        return "answer_too_long"
    if text.count("^") > MAX_POWERS or text.count("**") > 0:
        return "too_many_powers"
    for group in _exponent_groups(text) if "^" in text else ():
        if "^" in group or "\\uparrow" in group or "**" in group:
            return "exponent_tower"
        for run in _DIGIT_RUN.findall(group):
            if len(run) > MAX_EXPONENT_DIGITS:
                return "huge_exponent"
    for run in _DIGIT_RUN.findall(text):
        if len(run) > MAX_DIGIT_RUN:
            return "huge_number"
    if "!" in text:
        for match in _FACTORIAL.finditer(text):
            operand = match.group(1)
            if not operand:
                before = text[: match.start()].rstrip()
                if before.endswith((")", "}", "!", "]")):
                    return "nested_factorial"
            elif int(operand) > MAX_FACTORIAL:
                return "huge_factorial"
    if "\\sum" in text or "\\prod" in text:
        for bound in _SUM_BOUND.findall(text):
            if len(bound) > MAX_SUM_BOUND_DIGITS:
                return "big_sum"
    if "binom" in text or "\\choose" in text:
        for match in _BINOMIAL.finditer(text):
            if any(len(run) > MAX_SUM_BOUND_DIGITS for run in _DIGIT_RUN.findall(match.group(0))):
                return "big_binomial"
    depth = deepest = 0
    for ch in text:
        if ch in "{([":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "})]":
            depth -= 1
    if deepest > MAX_BRACE_DEPTH:
        return "deep_nesting"
    if len(_COMMAND.findall(text)) > MAX_COMMANDS:
        return "too_many_commands"
    return None


# --------------------------------------------------------------------------- equations (parent side)

_BARE_VARIABLE = re.compile(
    r"^(?:[A-Za-z]|\\[A-Za-z]{2,12})(?:_\{?[A-Za-z0-9]{1,6}\}?)?(?:\(\s*[A-Za-z]\s*\))?$"
)


def top_level_split(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` characters outside any (), [], {} group (``\\{`` counts)."""
    parts, depth, current = [], 0, []
    index = 0
    while index < len(text):
        ch = text[index]
        if ch == "\\" and index + 1 < len(text) and text[index + 1] in "{}":
            depth += 1 if text[index + 1] == "{" else -1
            current.append(text[index : index + 2])
            index += 2
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == separator and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        index += 1
    parts.append("".join(current))
    return parts


def split_equation(text: str) -> tuple[str | None, str, bool]:
    """(variable, value, is_equation): ``x = 3`` -> ("x", "3", True); ``2x+1=7`` -> (None,
    "2x+1=7", True); ``3`` -> (None, "3", False). Only ``=`` outside every group counts
    (``\\sum_{k=1}^{n}`` is no equation), and not as part of ``<=``, ``>=``, ``!=``, ``==``."""
    sides: list[str] = []
    for part in top_level_split(text, "=") if "=" in text else [text]:
        if sides and (not part or sides[-1].endswith(("<", ">", "!", "\\", "="))):
            sides[-1] += "=" + part
        else:
            sides.append(part)
    if len(sides) == 1:
        return None, text, False
    if len(sides) != 2:
        return None, text, True
    left, right = sides[0].strip(), sides[1].strip()
    if _BARE_VARIABLE.match(left) and right:
        return left, right, True
    return None, text, True


def has_or(text: str) -> bool:
    """``5 \\text{ or } 6``, ``5 or 6``, ``\\lor``: alternatives offered."""
    lowered = text.lower()
    return "\\lor" in lowered or re.search(r"(?:\\text\{\s*|\b)or\b", lowered) is not None


# --------------------------------------------------------------------------- worker side


def warmup() -> None:
    """Imports math-verify and converts a few expressions, in the zygote, so workers start warm."""
    import logging

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    logging.getLogger("latex2sympy2_extended").setLevel(logging.CRITICAL)
    install_two_stage_parsing()
    for text in ("\\frac{1}{2}+x^{2}", "(1, 2]", "\\{1, 2\\}", "\\sqrt{3}-2i", "y=2x+1"):
        _parse(text)
    # The first comparison of each kind imports and caches more of SymPy (seconds for equations
    # under load): pay that here, once per zygote, not inside a sample's budget.
    for gold, pred in (("x+y=1", "2x+2y=2"), ("(1, \\sqrt{2}]", "(1, \\sqrt{2}]"), ("a_{1}", "a_1")):
        compare({"gold": gold, "pred": pred})
    _parse.cache_clear()


_TWO_STAGE = {"installed": False}


def install_two_stage_parsing() -> bool:
    """Makes latex2sympy's ANTLR parser try SLL prediction first and fall back to full LL only
    when SLL reports an error: ANTLR guarantees that an SLL parse that succeeds is the LL parse,
    and SLL is about 4x faster on MATH-style answers (ANTLR's full-context prediction dominated
    the worker's time). Worker side only; returns False when latex2sympy's internals differ."""
    if _TWO_STAGE["installed"]:
        return True
    try:
        from antlr4.atn.PredictionMode import PredictionMode
        from latex2sympy2_extended import latex2sympy2

        converter = latex2sympy2._Latex2Sympy
        original_create, original_parse = converter.create_parser, converter.parse
    except (ImportError, AttributeError):
        return False

    def create_parser(self: Any, latex_str: str) -> Any:
        parser = original_create(self, latex_str)
        parser._interp.predictionMode = getattr(self, "_prediction_mode", PredictionMode.LL)
        return parser

    def parse(self: Any, latex_str: str) -> Any:
        self._prediction_mode = PredictionMode.SLL
        try:
            return original_parse(self, latex_str)
        except Exception:
            self._prediction_mode = PredictionMode.LL
            return original_parse(self, latex_str)

    converter.create_parser, converter.parse = create_parser, parse
    _TWO_STAGE["installed"] = True
    return True


_MATHRM_LETTER = re.compile(r"\\(?:mathrm|mathit|text|operatorname)\s*\{\s*([A-Za-z])\s*\}")


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text.replace("\\{", "").replace("\\}", ""):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


@lru_cache(maxsize=1024)
def _parse(text: str) -> Any:
    """The SymPy value of a LaTeX answer, or None when it does not convert in full."""
    from latex2sympy2_extended.math_normalization import NormalizationConfig, normalize_latex
    from math_verify.parser import parse_latex_cached

    prepared = _MATHRM_LETTER.sub(r"\1", text)
    config = NormalizationConfig(
        basic_latex=True, units=True, malformed_operators=True, nits=True, boxed="last", equations=False
    )
    normalized = normalize_latex(prepared, config=config)
    if not normalized.strip() or not _balanced(normalized):
        return None
    try:
        return parse_latex_cached(normalized)
    except Exception:
        return None


def compare(payload: dict) -> dict:
    """Worker entry point: ``{"gold": latex, "pred": latex}`` -> ``{"equal": bool, "why": str}``.

    Equal means math-verify (gold first) says equal AND the confirmation step agrees. The
    confirmation is the cheaper of the two (a numeric evaluation, where math-verify may run
    ``simplify``), so it runs first and a wrong answer never reaches math-verify."""
    from math_verify import verify

    from lambda_rewards.math_answer.confirm import condition_answered_by_set, confirm

    gold = _parse(payload["gold"])
    pred = _parse(payload["pred"])
    if gold is None or pred is None:
        return {"equal": False, "why": "unparsed_gold" if gold is None else "unparsed_answer"}
    try:
        confirmed = confirm(gold, pred)
    except Exception:
        confirmed = False
    if not confirmed:
        return {"equal": False, "why": "different"}
    if condition_answered_by_set(gold, pred):
        return {"equal": True, "why": "same_solution_set"}  # exact sets compared: nothing to add
    if not verify(gold, pred, timeout_seconds=None, raise_on_error=False):
        return {"equal": False, "why": "different_for_math_verify"}
    return {"equal": True, "why": "equivalent"}
