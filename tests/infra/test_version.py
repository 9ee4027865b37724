"""The rft-stack version baked into every stack (doctor's same-version check, a run's recipe)."""

from __future__ import annotations

from pathlib import Path

from stacks.version import source_version


def checkout(root: Path, handler: str) -> Path:
    (root / "rft").mkdir(parents=True)
    (root / "rft" / "tests").mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "rft-stack"\nversion = "1.2.3"\n')
    (root / "rft" / "handler.py").write_text(handler)
    return root


def test_doctor_version_is_the_release_and_a_digest_of_the_deployed_source(tmp_path):
    first = source_version(checkout(tmp_path / "a", "x = 1\n"))
    same = source_version(checkout(tmp_path / "b", "x = 1\n"))
    changed = source_version(checkout(tmp_path / "c", "x = 2\n"))
    assert first.startswith("1.2.3+") and len(first) == len("1.2.3+") + 12
    assert first == same  # two checkouts of one commit agree
    assert changed != first


def test_doctor_version_ignores_tests_and_bytecode(tmp_path):
    root = checkout(tmp_path / "a", "x = 1\n")
    before = source_version.__wrapped__(root)
    (root / "rft" / "tests" / "test_x.py").write_text("assert True\n")
    (root / "rft" / "__pycache__").mkdir()
    (root / "rft" / "__pycache__" / "handler.py").write_text("junk")
    assert source_version.__wrapped__(root) == before
