"""Numbers read exactly, as ``Fraction``s, from answer text (plain or LaTeX): the fast path of the
math grader, which needs no symbolic algebra.

Accepted: integers and decimals (``18``, ``18.0``, ``.5``), thousands separators (``1,000``,
``1{,}000``, ``1\\,000``), signs, ``\\frac{a}{b}``/``\\dfrac``/``a/b``, mixed numbers
(``2\\frac{1}{2}``, ``2 1/2``), scientific notation (``1.5e3``, ``1.5 \\times 10^{3}``), currency
(``$``, ``\\$``), percent (``50\\%`` reads as 50), degrees, unit words and short leading words
(``18 dollars``, ``about 18``, ``x = 18``). Rejected (``None``): several numbers, hedge words
(``or``, ``either``...), anything else. Digits are ASCII only: text is expected to have passed
``lambda_rewards.common.text.normalize_unicode``.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

from lambda_rewards.math_answer.forms import respell

MAX_DIGITS = 200  # longest numeral read; Fraction/int of huge strings is slow (and capped at 4300)
MAX_SCI_EXPONENT = 400

_NUM = r"(?:[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_FRAC_LATEX = re.compile(r"\\frac\{\s*([-+]?" + _NUM + r")\s*\}\{\s*([-+]?" + _NUM + r")\s*\}")
_FRAC_SHORT = re.compile(r"\\frac([0-9])([0-9])")  # \frac12
_CORE = re.compile(
    r"(?P<sign>[-+]?)\s*(?:"
    # mixed number (2\frac{1}{2} is rewritten to 2 1/2 first)
    r"(?P<whole>[0-9]+)\s+(?P<mnum>[0-9]+)/(?P<mden>[0-9]+)"
    r"|(?P<fnum>[-+]?" + _NUM + r")\s*/\s*(?P<fden>[-+]?" + _NUM + r")"  # a/b (after \frac rewrite)
    r"|(?P<num>" + _NUM + r")(?:\s*(?:[eE](?P<exp1>[-+]?[0-9]{1,3})"
    r"|(?:\\times|\\cdot|\*|x|\u00d7)\s*10\s*\^\s*\{?\s*(?P<exp2>[-+]?[0-9]{1,3})\s*\}?))?"
    r")"
)
_FIRST = re.compile(r"[-+]?\s*\.?[0-9]")
_LEAD = re.compile(r"[A-Za-z][A-Za-z .':]{0,40}")
_TRAIL = re.compile(r"(?:[A-Za-z][A-Za-z .'/\-]{0,60}?(?:\^\s*\{?[0-9]\}?)?[A-Za-z .']{0,20})?\.?")
_ASSIGNMENT = re.compile(r"^\s*(?:[A-Za-z](?:_\{?[A-Za-z0-9_]{1,8}\}?)?|\\[A-Za-z]{2,12})\s*=\s*")
# "and"/"to" join numbers ("5 to 6"), but the words around one number hold no digit: "14 ways to
# seat them" is one number.
_HEDGE_WORDS = re.compile(r"\b(?:or|either|nor|not|between|maybe|perhaps|possibly)\b", re.IGNORECASE)

_LATEX_WRAPPERS = re.compile(r"\\(?:text|textbf|textit|mathrm|mathbf|operatorname)\s*\{([^{}]*)\}")
_REMOVE = re.compile(
    r"\\left|\\right|\\displaystyle|\\[,;:! ]|~|\\\$|\$|\\%|%|\\\(|\\\)|\\\[|\\\]"
    r"|\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|°|\\degree|\*\*|[€£¥]|\\euro"
)


_SPACED_THOUSANDS = re.compile(r"(?<![0-9.,])[0-9]{1,3}(?: [0-9]{3})+(?![0-9]| [0-9])")


def clean(text: str) -> str:
    """Answer text with LaTeX dressing, currency, percent and degree marks removed."""
    text = respell(text).replace("{,}", ",")
    if " " in text:
        text = _SPACED_THOUSANDS.sub(lambda match: match.group(0).replace(" ", ""), text)  # 6 000
    for _ in range(3):
        stripped = _LATEX_WRAPPERS.sub(r" \1 ", text)
        if stripped == text:
            break
        text = stripped
    text = _REMOVE.sub(lambda m: "" if m.group(0) in ("\\,", "\\!", "{,}") else " ", text)
    text = _FRAC_SHORT.sub(r"\\frac{\1}{\2}", text)
    text = _FRAC_LATEX.sub(r" \1/\2", text)
    text = text.replace("{", " ").replace("}", " ") if "\\" not in text else text
    return " ".join(text.split()).lstrip(" ;:").rstrip(" .;:")


def _to_fraction(numeral: str) -> Fraction | None:
    digits = numeral.replace(",", "")
    if sum(ch.isdigit() for ch in digits) > MAX_DIGITS:
        return None
    if digits.endswith("."):
        digits = digits[:-1]
    try:
        return Fraction(digits)
    except (ValueError, ZeroDivisionError):
        return None


def _core_value(match: re.Match[str]) -> Fraction | None:
    sign = -1 if match.group("sign") == "-" else 1
    if match.group("whole") is not None:
        num = match.group("mnum") or match.group("snum")
        den = match.group("mden") or match.group("sden")
        whole, numerator, denominator = (
            _to_fraction(match.group("whole")),
            _to_fraction(num),
            _to_fraction(den),
        )
        if whole is None or numerator is None or not denominator:
            return None
        return sign * (whole + numerator / denominator)
    if match.group("fnum") is not None:
        numerator, denominator = _to_fraction(match.group("fnum")), _to_fraction(match.group("fden"))
        if numerator is None or not denominator:
            return None
        return sign * numerator / denominator
    value = _to_fraction(match.group("num"))
    if value is None:
        return None
    exponent = match.group("exp1") or match.group("exp2")
    if exponent is not None:
        power = int(exponent)
        if abs(power) > MAX_SCI_EXPONENT:
            return None
        value *= Fraction(10) ** power
    return sign * value


def _single_number(text: str) -> Fraction | None:
    """The one number in ``text`` (already cleaned), allowing short unit/lead words around it."""
    if not text or len(text) > 200 or not any(ch.isdigit() for ch in text):
        return None
    first = _FIRST.search(text)
    if first is None:
        return None
    lead = text[: first.start()].strip()
    glued = text[first.start()].isalnum() and text[: first.start()][-1:].isalpha()
    if lead and (_LEAD.fullmatch(lead) is None or glued):
        return None  # "AZYUK2A" holds no number
    core = _CORE.match(text, first.start())
    if core is None:
        return None
    rest = text[core.end() :].strip()
    if _TRAIL.fullmatch(rest) is None:
        return None
    if (lead or rest) and _HEDGE_WORDS.search(lead + " " + rest):
        return None
    value = _core_value(core)
    if value is None or not (lead or rest):
        return value
    return _with_number_words(value, bool(core.group("sign")), _WORD.findall(lead), _WORD.findall(rest))


# Words around a number that change its value. Read when their meaning is exact and they stand
# next to the number ("negative 5", "5 thousand", "5 squared"); anywhere else, and for every word
# whose value we do not compute ("5 less than", "half of 10", "5 pi", "5x"), the answer is refused:
# it is never read as the bare number.
_WORD = re.compile(r"[A-Za-z]+")
_SIGN_WORDS = {"negative": -1, "minus": -1, "positive": 1, "plus": 1}
_SCALE_WORDS = {
    "hundred": 100,
    "thousand": 10**3,
    "million": 10**6,
    "billion": 10**9,
    "trillion": 10**12,
    "dozen": 12,
}
_POWER_WORDS = {"squared": 2, "cubed": 3}
_VALUE_WORDS = frozenset(
    (
        *("times", "over", "divided", "power", "powers", "root", "roots", "sqrt", "factorial"),
        *("inverse", "reciprocal", "twice", "double", "triple", "thrice", "quadruple", "fold"),
        *("half", "halves", "third", "thirds", "quarter", "quarters", "fourth", "fourths"),
        *("fifth", "fifths", "tenth", "tenths", "hundredth", "hundredths", "thousandth"),
        *("thousandths", "millionth", "millionths", "percentile"),
        *("hundreds", "thousands", "millions", "billions", "dozens"),
        *("less", "fewer", "more", "above", "below", "under", "least", "most", "than", "exceeds"),
        *("pi", "e", "i", "j", "x", "y", "z", "n", "k", "point"),  # symbols, not units
        *_SIGN_WORDS,
        *_SCALE_WORDS,
        *_POWER_WORDS,
    )
)


def _with_number_words(value: Fraction, signed: bool, lead: list[str], trail: list[str]) -> Fraction | None:
    """``value`` with the number words next to it applied, or ``None`` when a word changes the
    value in a way that is not read (see ``_VALUE_WORDS``)."""
    lead, trail = [word.lower() for word in lead], [word.lower() for word in trail]
    if lead and lead[-1] in _SIGN_WORDS:
        if signed:
            return None  # "minus -5"
        value *= _SIGN_WORDS[lead.pop()]
    scaled = 0
    while scaled < len(trail) and trail[scaled] in _SCALE_WORDS:
        value *= _SCALE_WORDS[trail[scaled]]
        scaled += 1
    if scaled < len(trail) and trail[scaled] in _POWER_WORDS:
        value **= _POWER_WORDS[trail[scaled]]
        scaled += 1
    if any(word in _VALUE_WORDS for word in lead + trail[scaled:]):
        return None
    return value


_COMMANDS = re.compile(r"\\[A-Za-z]+")
_SINGLE_LETTER = re.compile(r"(?<![A-Za-z])[A-Za-z](?![A-Za-z])")


def _algebraic(side: str) -> bool:
    """True for a side of an equation that involves variables (``2x+1``, ``x + y``) rather than
    arithmetic (``9 \\times 2``) or words (``Total cost``)."""
    return _SINGLE_LETTER.search(_COMMANDS.sub(" ", side)) is not None


_PLAIN_INTEGER = re.compile(r"\s*(-?[0-9]{1,18})\s*")


@lru_cache(maxsize=16384)
def parse_number(text: str) -> Fraction | None:
    """The exact value of an answer that is one number, or ``None``.

    An ``=`` chain (``x = 18``, ``9 \\times 2 = 18``) reads as its last side, provided the first side
    is a bare variable, arithmetic or words (not ``x + y``: that is an equation) and no other side
    is a different bare number (``5 = 6`` is a hedge, not 6)."""
    if len(text) > 400:
        return None
    plain = _PLAIN_INTEGER.fullmatch(text)
    if plain:
        return Fraction(int(plain.group(1)))
    cleaned = clean(text)
    if "=" in cleaned:
        parts = [part.strip() for part in cleaned.split("=")]
        if any(not part for part in parts[1:]) or any("," in part for part in parts[:-1]):
            return None  # "PQ = 3, RS = 8" is a list, not its last number
        value = _single_number(parts[-1])
        if value is None:
            return None
        for index, part in enumerate(parts[:-1]):
            if not part:
                continue
            bare_variable = index == 0 and _ASSIGNMENT.match(part + "=") is not None
            if not bare_variable and _algebraic(part):
                return None
            other = _single_number(part)
            if other is not None and other != value:
                return None
        return value
    return _single_number(cleaned)


def is_plain_number(text: str) -> bool:
    """True when ``text`` reads as a number (see ``parse_number``)."""
    return parse_number(text) is not None


_NUMBER_TOKEN = re.compile(
    r"(?<![A-Za-z0-9_.])[-+]?(?:(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?|\.[0-9]+)(?![A-Za-z0-9_])"
)


def numbers_in(text: str) -> list[str]:
    """Every numeral token in ``text`` (used to read a final answer line)."""
    return _NUMBER_TOKEN.findall(text)


def strip_assignment(text: str) -> tuple[str | None, str]:
    """(variable, value) of ``x = value``; (None, text) when ``text`` is not an assignment."""
    match = _ASSIGNMENT.match(text)
    if match is None:
        return None, text
    return match.group(0).split("=")[0].strip(), text[match.end() :]
