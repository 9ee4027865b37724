"""Quoting a user's value inside a message: bounded, and total for any value.

A message that quotes what it refuses helps a person fix it, but quoting a 1 MB name makes every
answer 1 MB (a Step Functions task result over 256 KiB fails the run; a gateway 404 echoes it), and
``repr`` of a deeply nested list raises RecursionError. ``quote`` shows a short prefix of a string
(with its true length), a number as written, and only the kind of any other value.
"""

from __future__ import annotations

QUOTE_CHARS = 60


def quote(value: object, limit: int = QUOTE_CHARS) -> str:
    """``'abc'``; ``'abcdef…' (200,000 characters)`` past ``limit``; ``a list`` for containers."""
    if isinstance(value, str):
        if len(value) <= limit:
            return _printable(repr(value))
        shown = _printable(repr(value[:limit]))
        return f"{shown[:-1]}…{shown[-1]} ({len(value):,} characters)"
    if value is None or isinstance(value, bool):
        return "null" if value is None else str(value).lower()
    if isinstance(value, int):
        # str() of an int over 4,300 digits raises; 4 bits per digit keeps far below that.
        if value.bit_length() <= 4 * limit:
            text = str(value)
            if len(text) <= limit:
                return text
        return "a very long number"
    if isinstance(value, float):
        return repr(value)
    return kind(value)


def kind(value: object) -> str:
    """What sort of JSON value this is, for 'must be X, not Y' messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "an empty list" if not value else "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def _printable(text: str) -> str:
    # repr keeps lone surrogates as they are; a later UTF-8 write (a log, a terminal) would fail.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
