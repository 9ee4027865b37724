"""json_schema attack: a value that breaks the schema's ``format`` where the format goes unchecked.

``jsonschema`` skips a format whose optional library is missing, silently: ``uri``,
``hostname``, ``duration``, ``uri-reference`` went unchecked in development, and ``date-time``,
``time`` and ``json-pointer`` too in the Lambda bundle (which installed ``jsonschema`` alone). A
policy answering ``"not a date"`` for a ``date-time`` field scored 1. Now every format a schema
uses is checked, by the same pinned packages in both places, or the reference is refused as
``bad_reference`` with a logged reason naming the format.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from importlib.metadata import version
from pathlib import Path

import pytest

from lambda_rewards.json_schema import formats
from lambda_rewards.json_schema import handler as js
from lambda_rewards.json_schema.formats import FORMAT_PACKAGES, used_formats
from tests.unit.rewards.conftest import make_sample, metric_names

REQUIREMENTS = Path(js.__file__).with_name("requirements.txt")
DRAFT3 = "http://json-schema.org/draft-03/schema#"
DRAFT7 = "http://json-schema.org/draft-07/schema#"
DRAFT2020 = "https://json-schema.org/draft/2020-12/schema"

# format -> (a value it accepts, a value it must reject); draft 3 names where only draft 3 has them
VALUES = {
    "email": ("a@b.c", "abc"),
    "idn-email": ("ü@b.c", "abc"),
    "ipv4": ("1.2.3.4", "1.2.3"),
    "ip-address": ("1.2.3.4", "1.2.3"),
    "ipv6": ("::1", "1:::2"),
    "regex": ("^a+$", "("),
    "date": ("2024-02-29", "2023-02-29"),
    "uuid": ("12345678-1234-5678-1234-567812345678", "12345678123456781234567812345678"),
    "hostname": ("example.com", "exa mple.com"),
    "host-name": ("example.com", "exa mple.com"),
    "idn-hostname": ("例え.jp", "a..b"),
    "uri": ("https://example.com/x", "not a uri"),
    "uri-reference": ("/x/y", "a b"),
    "date-time": ("2024-01-01T00:00:00Z", "2024-01-01 00:00"),
    "time": ("12:00:00Z", "25:00:00Z"),
    "json-pointer": ("/a/b", "a/b"),
    "relative-json-pointer": ("0/a", "/a"),
    "uri-template": ("http://x/{id}", "http://x/{id"),
    "duration": ("P1D", "P1"),
    "color": ("red", "notacolor"),
}
DRAFT3_ONLY = {"ip-address", "host-name", "color"}


def grade(response: str, schema: dict) -> tuple[dict, str]:
    """The grader's result and what it logged."""
    out, err = io.StringIO(), io.StringIO()
    js._logged_refusals.clear()
    with redirect_stdout(out), redirect_stderr(err):
        result = js.handler([make_sample(response, {"schema": schema})], None)[0]
    return result, err.getvalue()


def schema_for(name: str) -> dict:
    return {
        "$schema": DRAFT3 if name in DRAFT3_ONLY else DRAFT2020,
        "type": "object",
        "properties": {"value": {"type": "string", "format": name}},
    }


def test_every_supported_format_has_a_case():
    assert set(VALUES) == set(FORMAT_PACKAGES)


@pytest.mark.parametrize("name", sorted(VALUES))
def test_a_value_breaking_a_supported_format_scores_zero(name):
    good, bad = VALUES[name]
    schema = schema_for(name)
    assert grade(json.dumps({"value": good}), schema)[0]["aggregate_reward_score"] == 1.0
    result = grade(json.dumps({"value": bad}), schema)[0]
    assert result["aggregate_reward_score"] == 0.0
    assert {"name": "schema_valid", "value": 0.0, "type": "Metric"} in result["metrics_list"]


@pytest.mark.parametrize("name", ["int32", "phone", "binary", "Date-Time", "iri", "iri-reference"])
def test_a_format_the_grader_cannot_check_refuses_the_reference_by_name(name):
    result, logged = grade('{"value": "x"}', schema_for(name))
    assert result["aggregate_reward_score"] == 0.0
    assert "error_bad_reference" in metric_names(result)
    assert f"format '{name}' is not checked" in logged


def test_a_format_the_schema_draft_does_not_define_is_refused():
    schema = {"$schema": DRAFT7, "properties": {"d": {"type": "string", "format": "duration"}}}
    result, logged = grade('{"d": "not a duration"}', schema)
    assert "error_bad_reference" in metric_names(result)
    assert "format 'duration' is not defined by this schema's draft" in logged


def test_formats_are_found_in_every_subschema_and_not_in_data():
    schema = {
        "$defs": {"when": {"format": "date-time"}},
        "items": [{"anyOf": [{"format": "uri"}]}],
        "properties": {"format": {"type": "string"}},  # a property named "format"
        "const": {"format": "int32"},  # data, not a keyword
        "examples": [{"format": "phone"}],
    }
    assert used_formats(schema) == {"date-time", "uri"}


def test_a_refusal_is_logged_once_per_reason_not_once_per_sample():
    js._logged_refusals.clear()
    samples = [
        make_sample('{"value": "x"}', {"schema": schema_for("int32")}, sample_id=str(i)) for i in range(5)
    ]
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        js.handler(samples, None)
    assert err.getvalue().count("int32") == 1


def _pins() -> dict[str, str]:
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+-]+)", requirement)
            assert match, f"{REQUIREMENTS.name}: {requirement!r} is not pinned with =="
            pins[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return pins


def test_the_bundle_requirements_pin_every_format_checker_and_match_this_environment():
    """What Lambda installs is what checked the formats above: each supported format's package is
    pinned in the bundle's requirements.txt, at the version installed here."""
    pins = _pins()
    for package in {"jsonschema", *filter(None, FORMAT_PACKAGES.values())}:
        assert package in pins, f"{package} (a format checker) is missing from {REQUIREMENTS}"
        assert version(package) == pins[package], (
            f"{package}: installed {version(package)}, bundle pins {pins[package]}"
        )


def test_the_gpl_uri_checker_is_not_installed():
    """With ``rfc3987`` importable jsonschema checks URIs with it instead of rfc3986-validator:
    development would no longer check them the way the bundle does."""
    import importlib.util

    assert importlib.util.find_spec("rfc3987") is None


_PROBE = """
import json, sys

def checked(blocked):
    for name in [name for name in sys.modules if name.split(".")[0] in ("jsonschema", *blocked)]:
        del sys.modules[name]
    for module in blocked:
        sys.modules[module] = None  # its import fails as if the package were not installed
    import jsonschema
    names = set(jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers)
    names |= set(jsonschema.Draft3Validator.FORMAT_CHECKER.checkers)
    for module in blocked:
        del sys.modules[module]
    return sorted(names)

modules = json.loads(sys.argv[1])
report = {"": checked([]), "*": checked(modules)}
report.update({module: checked([module]) for module in modules})
print(json.dumps(report))
"""


def test_each_format_is_checked_by_the_package_the_table_names():
    """Without a package, exactly the formats the table assigns to it stop being checked (so the
    requirements test above pins the right packages); without all of them, the standard-library
    formats remain. One child process re-imports jsonschema with each package hidden in turn."""
    modules = sorted(formats._MODULES.values())
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(modules)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    checked = {key: set(names) for key, names in json.loads(probe.stdout).items()}
    for package, module in formats._MODULES.items():
        expected = {name for name, owner in FORMAT_PACKAGES.items() if owner == package}
        expected -= {"time"} if package == "rfc3339-validator" else set()  # draft 3 keeps its own "time"
        assert checked[""] - checked[module] == expected, package
    stdlib = {name for name, owner in FORMAT_PACKAGES.items() if owner is None}
    assert stdlib <= checked["*"]


@pytest.mark.parametrize(
    "address",
    [
        "@",
        "x@",
        "@example.com",
        "not an email@example.com",
        "a@b@c",
        "a..b@example.com",
        ".a@example.com",
        "a@-example.com",
        "a@example..com",
        "a@exa_mple.com",
        "a@[300.1.1.1]",
        "a@" + "x" * 64 + ".com",
        "x" * 65 + "@example.com",
        "ü@example.com",  # non-ASCII only in idn-email
    ],
)
def test_email_is_the_rfc_5321_mailbox_not_any_string_with_an_at(address):
    """jsonschema's own email check is ``"@" in value``: ``"@"`` passed as an address."""
    result = grade(json.dumps({"value": address}), schema_for("email"))[0]
    assert result["aggregate_reward_score"] == 0.0


@pytest.mark.parametrize(
    "address",
    [
        "a@b",
        "first.last+tag@sub.example.com",
        '"john smith"@example.com',
        "a@[192.0.2.1]",
        "a@[IPv6:2001:db8::1]",
    ],
)
def test_valid_mailboxes_pass(address):
    assert grade(json.dumps({"value": address}), schema_for("email"))[0]["aggregate_reward_score"] == 1.0


@pytest.mark.parametrize(
    ("address", "valid"), [("ü@例え.jp", True), ("ü@例え..jp", False), ("@例え.jp", False)]
)
def test_idn_email_allows_international_names_only_when_well_formed(address, valid):
    score = grade(json.dumps({"value": address}), schema_for("idn-email"))[0]["aggregate_reward_score"]
    assert score == (1.0 if valid else 0.0)
