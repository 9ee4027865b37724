"""The ``format`` keywords the json_schema grader checks, and which package checks each one.

``jsonschema`` checks a ``format`` only when the optional library behind it is importable, and
otherwise skips it in silence: a schema asking for ``"format": "date-time"`` then accepts any
string, and the policy learns that any string will do. So the grader keeps its own list:

* a format in ``FORMAT_PACKAGES`` is checked, by the package named there (``None``: by
  ``jsonschema`` itself with the standard library; ``email`` and ``idn-email`` by ``addresses``
  here, as jsonschema accepts any string with an ``@`` in it). Every such package is pinned in this grader's
  ``requirements.txt``, which is both what the Lambda bundle installs and what development
  installs (``requirements-dev.txt`` includes it), so a format is checked the same way locally and
  on Lambda;
* a reference whose schema uses any other format (``"int32"``, ``"phone"``...), or one its draft
  does not define, is refused as ``bad_reference`` with a message naming the format. A schema
  that only documents a field with ``format`` must drop the keyword or describe it elsewhere.

Only GPL-free checkers are used (jsonschema's ``format-nongpl`` set: ``rfc3986-validator`` for
URIs, not ``rfc3987``). ``iri`` and ``iri-reference`` are refused: their checker
(``rfc3987-syntax``) builds a parser at import that costs every cold start 1.4 s of CPU; a schema
can ask for ``uri`` or a ``pattern`` instead. The list does not depend on what is installed: a
format outside it is refused even where jsonschema could check it.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.util import find_spec
from typing import Any

from lambda_rewards.json_schema.addresses import check_email, check_idn_email

# format name -> distribution that provides its checker (None: stdlib, inside jsonschema).
FORMAT_PACKAGES: dict[str, str | None] = {
    "email": None,
    "idn-email": None,
    "ipv4": None,
    "ip-address": None,  # draft 3 spelling of ipv4
    "ipv6": None,
    "regex": None,
    "date": None,
    "uuid": None,
    "hostname": "fqdn",
    "host-name": "fqdn",  # draft 3 spelling of hostname
    "idn-hostname": "idna",
    "uri": "rfc3986-validator",
    "uri-reference": "rfc3986-validator",
    "date-time": "rfc3339-validator",
    "time": "rfc3339-validator",  # draft 3's "time" is stdlib; drafts 7+ need the RFC 3339 checker
    "json-pointer": "jsonpointer",
    "relative-json-pointer": "jsonpointer",
    "uri-template": "uri-template",
    "duration": "isoduration",
    "color": "webcolors",  # draft 3 only
}

# The import name of each distribution (how find_spec sees it).
_MODULES = {
    "fqdn": "fqdn",
    "idna": "idna",
    "rfc3986-validator": "rfc3986_validator",
    "rfc3339-validator": "rfc3339_validator",
    "jsonpointer": "jsonpointer",
    "uri-template": "uri_template",
    "isoduration": "isoduration",
    "webcolors": "webcolors",
}

# Formats whose jsonschema checker is too lax to pay for: checked here instead.
OWN_CHECKERS = {"email": check_email, "idn-email": check_idn_email}

# Keywords whose values are data, not schemas: a "format" key inside them is not a keyword.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples", "example"})


class UnsupportedFormat(ValueError):
    """A schema uses a ``format`` the grader cannot check; the message names it."""


def used_formats(schema: Any) -> set[str]:
    """Every ``format`` keyword value in ``schema`` and its subschemas."""
    return set(_walk_formats(schema))


def _walk_formats(node: Any) -> Iterator[str]:
    stack = [node]
    while stack:  # iterative: a reference's nesting is not bounded by the recursion limit
        item = stack.pop()
        if isinstance(item, dict):
            value = item.get("format")
            if isinstance(value, str):
                yield value
            stack.extend(child for key, child in item.items() if key not in _DATA_KEYWORDS)
        elif isinstance(item, list):
            stack.extend(item)


def format_checker(draft_checker: Any) -> Any:
    """A ``jsonschema.FormatChecker`` with the formats of ``draft_checker`` (a draft's
    ``FORMAT_CHECKER``), ``OWN_CHECKERS`` replacing jsonschema's where the draft defines them."""
    import jsonschema

    checker = jsonschema.FormatChecker(formats=())
    checker.checkers = dict(draft_checker.checkers)
    for name, function in OWN_CHECKERS.items():
        if name in checker.checkers:
            checker.checkers[name] = (function, ())
    return checker


def check_formats(schema: Any, checked: frozenset[str] | set[str]) -> None:
    """Raises ``UnsupportedFormat`` unless every format ``schema`` uses is one the grader supports
    and ``checked`` (the format names the schema's draft validator checks) contains it."""
    for name in sorted(used_formats(schema)):
        if name not in FORMAT_PACKAGES:
            raise UnsupportedFormat(
                f"format {name[:64]!r} is not checked by the json_schema grader; supported: "
                f"{', '.join(sorted(FORMAT_PACKAGES))}"
            )
        if name in checked:
            continue
        package = FORMAT_PACKAGES[name]
        if package is not None and find_spec(_MODULES[package]) is None:
            raise UnsupportedFormat(f"format {name!r} needs the package {package!r}, which is not installed")
        raise UnsupportedFormat(
            f"format {name!r} is not defined by this schema's draft ($schema); use a draft that defines it"
        )
