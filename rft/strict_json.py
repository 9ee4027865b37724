"""One JSON reader for everything a user or a caller sends: strict, bounded, and total.

``loads`` either returns a value every later step can handle (compare, hash, print, re-encode as
UTF-8, dump back to JSON) or raises ``JsonInputError`` with one sentence saying what is wrong. It
never raises anything else for bad input, so a reader cannot crash on a hostile line:

- invalid UTF-8 (bytes input) and lone surrogates (``"\\udc80"`` escapes, or surrogates already in a
  ``str``): not Unicode text, and any later UTF-8 write of them fails;
- integers over ``MAX_INT_DIGITS`` digits (Python refuses to convert them with a plain ValueError),
  and numbers that overflow to infinity (``1e400``), like the ``NaN``/``Infinity`` JSON does not have;
- nesting deeper than ``max_depth`` (a RecursionError in the parser, or later in a grader, a repr or a
  ``json.dumps`` of the value);
- duplicate keys in one object (``json.loads`` silently keeps the last; another parser may keep the
  first, so the two would not read the same record).
"""

from __future__ import annotations

import json
import re
from typing import Any

from rft.errors import RftError
from rft.quoting import quote

# Python's default limit on int <-> str conversion (sys.int_info.default_max_str_digits): every
# reader downstream (graders, repr, json.dumps) can convert an integer this long, none a longer one.
MAX_INT_DIGITS = 4300
# Far beyond any real record (a chat message list is 4 levels deep), far below the interpreter's
# recursion limit (1000), so code that walks the value recursively stays safe.
MAX_DEPTH = 64

# A `\uD800`-`\uDFFF` escape: the only way a JSON text can produce a surrogate (a pair becomes one
# character; a lone one stays a surrogate). Checked on the text first so clean lines cost one search.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonInputError(RftError, ValueError):
    """A JSON text that breaks a rule; ``str()`` says which (callers add the file, line or field).
    ``line`` is the text's line of a syntax error when known (a JSONL caller knows its own)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def loads(text: str | bytes | bytearray, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse one JSON text under the rules above; raise JsonInputError for anything else."""
    if isinstance(text, bytes | bytearray):
        text = _decode(bytes(text))
    elif _SURROGATE.search(text):
        raise JsonInputError("not valid Unicode: the text holds a lone surrogate character")
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        hint = "; save the file as UTF-8 without a byte-order mark" if text.startswith("\ufeff") else ""
        where = f"column {exc.colno}" if exc.lineno == 1 else f"line {exc.lineno}, column {exc.colno}"
        raise JsonInputError(f"not valid JSON: {exc.msg} at {where}{hint}", exc.lineno) from None
    except RecursionError:
        raise JsonInputError(f"not accepted: JSON nested deeper than {max_depth} levels") from None
    _check_value(value, max_depth, surrogates=_SURROGATE_ESCAPE.search(text) is not None)
    return value


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonInputError(f"not valid UTF-8 (bad byte at position {exc.start + 1})") from None


def _reject_constant(name: str) -> Any:
    raise JsonInputError(f"not valid JSON: {name} is not a JSON number")


def _parse_int(digits: str) -> int:
    count = len(digits) - digits.startswith("-")
    if count > MAX_INT_DIGITS:
        raise JsonInputError(f"not accepted: a {count:,}-digit integer (at most {MAX_INT_DIGITS:,} digits)")
    return int(digits)


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise JsonInputError(f"not accepted: the number {quote(text)} is too large (it reads as infinity)")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JsonInputError(f"not accepted: the key {quote(key)} appears twice in one object")
            seen.add(key)
    return result


_DECODER = json.JSONDecoder(
    parse_constant=_reject_constant,
    parse_int=_parse_int,
    parse_float=_parse_float,
    object_pairs_hook=_unique_keys,
)


def _check_value(value: Any, max_depth: int, *, surrogates: bool) -> None:
    """Depth of every container, and (only when the text had a surrogate escape) every string."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
            if surrogates and any(_SURROGATE.search(key) for key in item):
                raise _lone_surrogate()
        elif isinstance(item, list):
            children = item
        else:
            if surrogates and isinstance(item, str) and _SURROGATE.search(item):
                raise _lone_surrogate()
            continue
        if depth > max_depth:
            raise JsonInputError(f"not accepted: JSON nested deeper than {max_depth} levels")
        stack.extend((child, depth + 1) for child in children if surrogates or isinstance(child, dict | list))


def _lone_surrogate() -> JsonInputError:
    return JsonInputError("not valid Unicode: a \\uXXXX escape names a lone surrogate (half of a pair)")
