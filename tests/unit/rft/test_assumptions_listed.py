"""Every belief in rft/assumptions.py has a row in the README's "First run in a real account"
table, so the first person with an account checks all of them, not the ones someone remembered."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def assumption_names() -> list[str]:
    tree = ast.parse((ROOT / "rft" / "assumptions.py").read_text(encoding="utf-8"))
    names = []
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        names += [
            t.id for t in targets if isinstance(t, ast.Name) and t.id.isupper() and not t.id.startswith("_")
        ]
    return names


def first_run_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## First run in a real account")
    return readme[start : readme.index("\n## ", start + 1)]


def test_every_assumption_has_a_row_in_the_first_run_table() -> None:
    section = first_run_section()
    names = assumption_names()
    assert "BEDROCK_RFT_MODELS_SHAREABLE" in names  # the reader finds the module's constants
    assert [name for name in names if f"`{name}`" not in section] == []
