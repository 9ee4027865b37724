"""bandit's gate (`make bandit`, part of `make test`): it fails on a finding, and every `# nosec`
in the runtime code names the checks it silences and says why."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ("rft", "lambda_rewards", "lambda_workflow", "lambda_gateway")
# `# nosec B302, B102  # why`: bandit reads the ids up to the second '#', the reason follows it.
NOSEC = re.compile(r"#\s*nosec\b(?P<rest>.*)$")
JUSTIFIED = re.compile(r"^\s+(?P<ids>B\d{3}(,\s*B\d{3})*)\s+#\s+(?P<why>\S.{14,})$")


def _runtime_lines():
    for package in RUNTIME:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                yield path.relative_to(REPO_ROOT), number, line


def test_every_nosec_names_its_checks_and_says_why():
    found = 0
    for path, number, line in _runtime_lines():
        match = NOSEC.search(line)
        if match is None:
            continue
        found += 1
        assert JUSTIFIED.match(match.group("rest")), (
            f"{path}:{number}: write `# nosec B<id>  # why` (the checks it silences, then the reason)"
        )
    assert found > 0


def _bandit(target: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bandit", "--quiet", "--severity-level", "medium", "--recursive", str(target)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("code", "fails"),
    [
        ("import marshal\n\ndef load(b):\n    return marshal.loads(b)\n", True),
        (
            "import marshal\n\ndef load(b):\n    return marshal.loads(b)  # nosec B302  # our own bytes\n",
            False,
        ),
        # A nosec for another check silences nothing.
        ("import marshal\n\ndef load(b):\n    return marshal.loads(b)  # nosec B102  # wrong check\n", True),
    ],
)
def test_bandit_fails_on_a_finding_unless_that_check_is_silenced(tmp_path, code, fails):
    (tmp_path / "module.py").write_text(code)
    assert (_bandit(tmp_path).returncode != 0) is fails
