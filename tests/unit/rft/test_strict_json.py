"""The one JSON reader for user input: every hostile text is a JsonInputError, never another crash,
and whatever it returns can be printed, re-encoded as UTF-8 and dumped back to JSON."""

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rft import strict_json
from rft.quoting import QUOTE_CHARS, quote
from rft.strict_json import JsonInputError, loads


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("1" * 4301, "4,301-digit integer"),
        ('{"a": -' + "9" * 5000 + "}", "5,000-digit integer"),
        ("[" * 100_000 + "]" * 100_000, "nested deeper than 64 levels"),
        ("[" * 65 + "]" * 65, "nested deeper than 64 levels"),
        ('{"a":' * 70 + "1" + "}" * 70, "nested deeper than 64 levels"),
        (b'{"a": "\xff"}', "not valid UTF-8 (bad byte at position 8)"),
        ('"\\udc80"', "lone surrogate"),
        ('{"\\ud800": 1}', "lone surrogate"),
        ('["ok", {"deep": ["\\uDBFF"]}]', "lone surrogate"),
        ('"\udc80"', "lone surrogate"),
        ("1e400", "'1e400' is too large"),
        ("-1E+999", "is too large"),
        ("NaN", "NaN is not a JSON number"),
        ("[-Infinity]", "-Infinity is not a JSON number"),
        ('{"a": 1, "a": 2}', "the key 'a' appears twice"),
        ('{"x": {"k": 1, "k": 1}}', "the key 'k' appears twice"),
        ('{"a": }', "not valid JSON: Expecting value at column 7"),
        ("\ufeff{}", "without a byte-order mark"),
    ],
)
def test_each_hostile_class_is_one_clear_error(text, fragment):
    with pytest.raises(JsonInputError) as caught:
        loads(text)
    assert fragment in str(caught.value)
    assert len(str(caught.value)) < 200  # never the whole input


def test_limits_are_inclusive_and_ordinary_values_pass():
    assert loads("9" * 4300) == int("9" * 4300)
    assert loads("[" * 64 + "]" * 64) is not None
    assert loads('"\\ud83d\\ude00"') == "\U0001f600"  # a surrogate pair is one character
    assert loads('"\\\\udc80"') == "\\udc80"  # an escaped backslash, not a surrogate escape
    assert loads(b'{"a": [1, 2.5, "\xc3\xa9"]}') == {"a": [1, 2.5, "é"]}
    assert loads("1e308") == 1e308


def test_a_duplicate_key_message_quotes_a_short_prefix():
    key = "k" * 100_000
    with pytest.raises(JsonInputError) as caught:
        loads(json.dumps({key: 1})[:-1] + f', "{key}": 2}}')
    assert "(100,000 characters)" in str(caught.value)
    assert len(str(caught.value)) < 200


# A JSON-ish text built from pieces that break naive readers.
_HOSTILE_PIECES = st.sampled_from(
    [
        "[",
        "]",
        "{",
        "}",
        '"a":',
        ",",
        "1",
        "9" * 4400,
        "1e400",
        "NaN",
        '"\\udc80"',
        '"\\ud83d\\ude00"',
        '"x"',
        "null",
        "\ufeff",
        "\udc80",
        "é",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.lists(_HOSTILE_PIECES, max_size=40).map("".join),
        st.text(max_size=200),
        st.binary(max_size=200),
        st.integers(1, 400).map(lambda n: "[" * n + "]" * n),
        st.integers(1, 400).map(lambda n: '{"a":' * n + "0" + "}" * n),
    )
)
def test_any_input_is_a_value_every_later_step_can_handle_or_a_json_input_error(text):
    try:
        value = loads(text)
    except JsonInputError as exc:
        assert str(exc)
        str(exc).encode("utf-8")
        return
    dumped = json.dumps(value, ensure_ascii=False)
    dumped.encode("utf-8")
    repr(value)
    assert json.loads(dumped) == value or value != value


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3),
        max_leaves=20,
    )
)
def test_quote_is_total_and_bounded(value):
    shown = quote(value)
    shown.encode("utf-8")
    assert len(shown) <= QUOTE_CHARS + 40


def test_quote_of_hostile_values():
    assert quote("abc") == "'abc'"
    assert quote("x" * 200_000) == "'" + "x" * QUOTE_CHARS + "…' (200,000 characters)"
    assert quote("it's" * 100).endswith('…" (400 characters)')
    assert quote("\udc80") == "'\\udc80'"
    assert quote(10**5000) == "a very long number"
    assert quote(12) == "12"
    nested: list = []
    for _ in range(100_000):
        nested = [nested]
    assert quote(nested) == "a list"
    assert quote({"a": 1}) == "an object"
    assert quote(None) == "null"


def test_every_reader_of_user_json_uses_the_strict_reader():
    """The readers that once used json.loads directly (issue: one safe reader used by every one)."""
    import inspect

    from lambda_gateway import chat
    from rft import converters, datasets, hyperparameters, preflight
    from rft.cli import reward

    for module in (datasets, converters, preflight, reward, chat, hyperparameters):
        source = inspect.getsource(module)
        assert not re.search(r"(?<!strict_)json\.loads\(", source), module.__name__
        assert "strict_json.loads(" in source, module.__name__
    assert strict_json.MAX_DEPTH < 1000 // 4  # far below the recursion limit
