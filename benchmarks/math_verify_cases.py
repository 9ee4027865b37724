"""Extracts the labelled (gold, pred, expected) cases of Math-Verify's test suite into a data file.

    python benchmarks/math_verify_cases.py /path/to/Math-Verify   # rewrites data/math_verify_cases.jsonl

Math-Verify (huggingface/Math-Verify, Apache-2.0; its ``tests/test_all.py`` carries an MIT header
from the same authors) labels each pair with the verdict its own configuration gives. The cases are
read from the test modules' ``pytest.mark.parametrize`` decorators with ``ast`` (nothing of the
checkout is imported or run), together with the settings each test passes to its comparison
(``match_types``, ``precision``, ``strict``, ``allow_set_relation_comp``), so the benchmark can call
math-verify exactly as its suite does. Only the cases are kept: no code of the suite is copied.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().parent / "data" / "math_verify_cases.jsonl"
_LABEL_NAMES = ("expected", "result")
_SETTINGS = ("precision", "strict", "allow_set_relation_comp")


def _names(node: ast.expr) -> list[str]:
    value = ast.literal_eval(node)
    if isinstance(value, str):
        return [name.strip() for name in value.split(",")]
    return [str(name).strip() for name in value]


def _call_settings(function: ast.FunctionDef) -> dict[str, Any]:
    """The keyword arguments the test passes to ``compare_strings`` (literal ones only); a test that
    calls ``verify(parse(gold), parse(pred))`` directly gets math-verify's defaults."""
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "compare_strings":
            settings = {}
            for keyword in node.keywords:
                try:
                    settings[keyword.arg] = ast.literal_eval(keyword.value)
                except ValueError:
                    continue  # a parameter of the case (``precision=precision``), filled in below
            return settings
    return {"match_types": None}  # plain parse()/verify()


def _cases_of(path: Path) -> tuple[list[dict], list[str]]:
    cases, skipped = [], []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for function in (node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)):
        for decorator in function.decorator_list:
            if not (isinstance(decorator, ast.Call) and getattr(decorator.func, "attr", "") == "parametrize"):
                continue
            names = _names(decorator.args[0])
            if "gold" not in names or "pred" not in names or not set(names) & set(_LABEL_NAMES):
                continue
            label = next(name for name in names if name in _LABEL_NAMES)
            settings = _call_settings(function)
            for element in decorator.args[1].elts:  # type: ignore[attr-defined]
                try:
                    values = dict(zip(names, ast.literal_eval(element), strict=True))
                except ValueError:
                    skipped.append(f"{path.name}::{function.name} line {element.lineno} (not a literal)")
                    continue
                case = {
                    "source": f"tests/{path.name}::{function.name}",
                    "line": element.lineno,
                    "gold": values["gold"],
                    "pred": values["pred"],
                    "expected": int(values[label]),
                    **settings,
                }
                case.update({key: values[key] for key in _SETTINGS if key in values})
                cases.append(case)
    return cases, skipped


def extract(checkout: Path) -> tuple[list[dict], list[str]]:
    """Every labelled case under ``checkout/tests`` in file order, and the cases that could not be
    read without running code."""
    tests = checkout / "tests"
    if not tests.is_dir():
        raise SystemExit(f"{checkout}: no tests/ folder (expected a Math-Verify checkout)")
    cases, skipped = [], []
    for path in sorted(tests.glob("test_*.py")):
        found, missed = _cases_of(path)
        cases += found
        skipped += missed
    return cases, skipped


def load(path: Path = OUTPUT) -> list[dict]:
    """The cases of the data file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    cases, skipped = extract(Path(argv[0]))
    lines = (json.dumps(case, ensure_ascii=False) + "\n" for case in cases)
    OUTPUT.write_text("".join(lines), encoding="utf-8")
    print(f"{len(cases)} cases written to {OUTPUT}")
    for line in skipped:
        print(f"skipped: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
