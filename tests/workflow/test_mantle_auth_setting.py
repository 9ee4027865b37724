"""The Mantle step's MANTLE_AUTH setting: a known mode reaches the client, anything else fails
naming the variable (not an anonymous error from deep inside the client)."""

from __future__ import annotations

import pytest

from lambda_workflow import mantle
from rft import assumptions


@pytest.mark.parametrize("mode", ["bearer", "sigv4"])
def test_a_known_mode_is_used(monkeypatch, mode):
    monkeypatch.setenv("MANTLE_AUTH", mode)
    assert mantle._auth() == mode


def test_unset_follows_the_assumption(monkeypatch):
    monkeypatch.delenv("MANTLE_AUTH", raising=False)
    expected = "bearer" if assumptions.MANTLE_ACCEPTS_SHORT_TERM_API_KEYS else "sigv4"
    assert mantle._auth() == expected


def test_an_unknown_mode_fails_naming_the_variable(monkeypatch):
    monkeypatch.setenv("MANTLE_AUTH", "basic")
    with pytest.raises(ValueError, match="MANTLE_AUTH must be 'bearer' or 'sigv4', not 'basic'"):
        mantle._auth()
