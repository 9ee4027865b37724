"""Text normalisation shared by the graders: the one Unicode policy, tails, and LaTeX groups.

Unicode policy (applied to every answer before anything is extracted or compared):
  1. Superscripts are exponents and subscripts are indices, not digits: a run of superscript
     characters becomes ``^{...}`` and a run of subscripts ``_{...}`` (``2⁵`` reads as ``2^{5}``,
     never as ``25``; ``x⁻¹`` as ``x^{-1}``; ``a₁₂`` as ``a_{12}``). The ordinal indicators ``ª``
     ``º`` and the marks ``™`` ``℠`` are not exponents and are left to step 2.
  2. NFKC normalisation: fullwidth digits and letters become ASCII, compatibility forms
     (non-breaking and thin spaces, ligatures) fold to their plain form.
  3. Invisible characters are removed: zero-width space/joiners, word joiner, BOM, soft hyphen,
     Mongolian vowel separator, and every bidirectional control (LRM, RLM, ALM, embeddings,
     overrides, isolates). ``1\u200b8`` reads as ``18``.
  4. The minus sign U+2212 reads as ``-``.
  5. Only ASCII ``0-9`` are digits. Python's ``\\d``, ``int()`` and ``Fraction()`` accept any
     Unicode decimal digit (``int('١٨') == 18``); the graders never hand them anything but text
     that matched ``[0-9]``, so Arabic-Indic or Devanagari digits are not read as numbers.
ASCII text is returned unchanged without any of this work (the common, fast case).
"""

from __future__ import annotations

import re
import unicodedata

_INVISIBLE = (
    "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"  # zero-width characters, BOM, soft hyphen
    "\u200e\u200f\u061c"  # LRM, RLM, ALM
    "\u202a\u202b\u202c\u202d\u202e"  # embeddings and overrides
    "\u2066\u2067\u2068\u2069"  # isolates
)
_TRANSLATION = {ord(ch): None for ch in _INVISIBLE} | {0x2212: "-"}

# Where Unicode (14 and 15) has characters whose compatibility decomposition is <super> or <sub>; the
# ranges are checked against the decomposition at import, so a different Unicode version can only
# narrow them, and a test scans every code point for one left out.
_SCRIPT_RANGES = (
    (0x00B2, 0x00B3), (0x00B9, 0x00B9), (0x02B0, 0x02B8), (0x02E0, 0x02E4), (0x10FC, 0x10FC),
    (0x1D2C, 0x1D6A), (0x1D78, 0x1D78), (0x1D9B, 0x1DBF), (0x2070, 0x209C), (0x2C7C, 0x2C7D),
    (0x2D6F, 0x2D6F), (0x3192, 0x319F), (0xA69C, 0xA69D), (0xA770, 0xA770), (0xA7F2, 0xA7F9),
    (0xAB5C, 0xAB69), (0x10781, 0x107BA), (0x1F16A, 0x1F16C),
)  # fmt: skip
NOT_EXPONENTS = "\u00aa\u00ba\u2120\u2122"  # ª º ℠ ™: ordinals and marks, not exponents


def _script_characters(tag: str) -> str:
    return "".join(
        chr(code)
        for first, last in _SCRIPT_RANGES
        for code in range(first, last + 1)
        if unicodedata.decomposition(chr(code)).startswith(tag) and chr(code) not in NOT_EXPONENTS
    )


_SUPERSCRIPTS = re.compile(f"[{re.escape(_script_characters('<super>'))}]+")
_SUBSCRIPTS = re.compile(f"[{re.escape(_script_characters('<sub>'))}]+")


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(_TRANSLATION)


def normalize_unicode(text: str) -> str:
    """The Unicode policy of the module docstring."""
    if text.isascii():
        return text
    text = text.translate(_TRANSLATION)
    if unicodedata.is_normalized("NFKC", text):  # a quick check: no superscript, nothing to fold
        return text
    text = _SUPERSCRIPTS.sub(lambda run: "^{" + _plain(run.group(0)) + "}", text)
    text = _SUBSCRIPTS.sub(lambda run: "_{" + _plain(run.group(0)) + "}", text)
    return _plain(text)


def tail(text: str, limit: int) -> str:
    """The last ``limit`` characters of ``text``."""
    return text if len(text) <= limit else text[-limit:]


def is_ascii_digits(text: str) -> bool:
    """True for a non-empty string of ASCII digits only."""
    return text.isascii() and text.isdigit()


def braced_group(text: str, open_index: int, limit: int = 10_000) -> tuple[str, int] | None:
    """The content of the balanced ``{...}`` group opening at ``text[open_index]`` and the index
    just past its closing brace; ``None`` if unbalanced within ``limit`` characters. Escaped braces
    (``\\{``) do not count."""
    if open_index >= len(text) or text[open_index] != "{":
        return None
    depth = 0
    end = min(len(text), open_index + limit)
    index = open_index
    while index < end:
        ch = text[index]
        if ch == "\\":
            index += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[open_index + 1 : index], index + 1
        index += 1
    return None


BOX_COMMANDS = ("\\boxed", "\\fbox")


def find_boxes(text: str, limit: int = 10_000) -> list[tuple[str, int, int]]:
    """Every ``\\boxed{...}`` / ``\\fbox{...}`` (and ``\\boxed 5``) in ``text``, in order, as
    (content, start, end). A box whose braces do not close is skipped."""
    boxes: list[tuple[str, int, int]] = []
    if "\\boxed" not in text and "\\fbox" not in text:
        return boxes
    for command in BOX_COMMANDS:
        start = text.find(command)
        while start != -1:
            index = start + len(command)
            while index < len(text) and text[index] == " ":
                index += 1
            if index < len(text) and text[index] == "{":
                group = braced_group(text, index, limit)
                if group is not None:
                    boxes.append((group[0], start, group[1]))
            elif index > start + len(command) and index < len(text):
                # "\boxed 5": one token after a space
                stop = index
                while stop < len(text) and not text[stop].isspace() and text[stop] not in "$.,;":
                    stop += 1
                if stop > index:
                    boxes.append((text[index:stop], start, stop))
            start = text.find(command, start + len(command))
    boxes.sort(key=lambda box: box[1])
    return boxes
