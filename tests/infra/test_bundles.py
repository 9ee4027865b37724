"""Lambdas carry only what they run: no bundle holds the client, a client edit changes no
function's code hash, a bundle's handlers import with nothing but the bundle, and installed
packages come without their test suites."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from stacks.constructs.bundle_manifest import REPO_ROOT, package_manifest
from stacks.constructs.grader import discover_graders, grader_sources
from stacks.constructs.python_function import BundledPythonFunction, _content_hash, prune_test_suites
from tests.infra.helpers import build_stage

CLIENT_ONLY = ("rft/cli/", "rft/evaluation.py", "rft/preflight.py", "rft/runs.py", "rft/environment.py")
HANDLER_PACKAGES = ("lambda_workflow", "lambda_gateway")


@functools.cache
def bundled_sources() -> dict[str, tuple[str, ...]]:
    stage = build_stage("staging")
    return {
        node.node.path: node.sources
        for node in stage.node.find_all()
        if isinstance(node, BundledPythonFunction)
    }


def test_no_function_bundle_carries_the_client():
    functions = bundled_sources()
    assert len(functions) >= 8  # graders, workflow steps, the gateway
    for path, sources in functions.items():
        carried = [s for s in sources if s.startswith(CLIENT_ONLY) or s in ("rft", "rft/")]
        assert not carried, f"{path} bundles {carried}"


def test_workflow_and_gateway_bundles_hold_the_domain_modules_they_import():
    workflow, gateway = package_manifest("lambda_workflow"), package_manifest("lambda_gateway")
    assert {"rft/jobs.py", "rft/workflow_state.py", "lambda_workflow/validate.py"} <= set(workflow)
    assert {"rft/converse.py", "rft/records.py", "lambda_gateway/handler.py"} <= set(gateway)
    assert "lambda_gateway/handler.py" not in workflow and "lambda_workflow/common.py" not in gateway


def _copy_packages(target: Path) -> Path:
    for package in ("rft", *HANDLER_PACKAGES):
        shutil.copytree(REPO_ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _hash(root: Path, package: str) -> str:
    return _content_hash([root / path for path in package_manifest(package, root)], "recipe", root)


def test_editing_the_client_leaves_every_function_hash_unchanged_and_a_domain_edit_does_not(tmp_path):
    root = _copy_packages(tmp_path)
    before = {package: _hash(root, package) for package in HANDLER_PACKAGES}
    for client_file in ("rft/cli/train.py", "rft/preflight.py", "rft/evaluation.py"):
        with (root / client_file).open("a") as handle:
            handle.write("\n# a new line of help text\n")
    assert {package: _hash(root, package) for package in HANDLER_PACKAGES} == before
    with (root / "rft/records.py").open("a") as handle:
        handle.write("\n# a change to the model record\n")
    after = {package: _hash(root, package) for package in HANDLER_PACKAGES}
    assert all(after[package] != before[package] for package in HANDLER_PACKAGES)


def _copy_bundle(sources, target: Path) -> None:
    """What the bundling copies: each source file or folder at its place in the repository."""
    for source in sources:
        if (REPO_ROOT / source).is_dir():
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(REPO_ROOT / source, target / source, ignore=ignore, dirs_exist_ok=True)
        else:
            (target / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / source, target / source)


@pytest.mark.parametrize("package", HANDLER_PACKAGES)
def test_every_handler_imports_with_only_its_bundle(tmp_path, package):
    _copy_bundle(package_manifest(package), tmp_path)
    modules = [f"{package}.{p.stem}" for p in (REPO_ROOT / package).glob("*.py") if p.stem != "__init__"]
    _assert_imports_from(tmp_path, modules)


def test_a_grader_bundle_carries_the_domain_modules_its_code_imports_and_no_more():
    sources = grader_sources("math_answer")
    assert sources[:3] == [
        "lambda_rewards/__init__.py",
        "lambda_rewards/common",
        "lambda_rewards/math_answer",
    ]
    assert {"rft/__init__.py", "rft/stats.py"} <= set(sources)
    assert not [s for s in sources if s.startswith("lambda_rewards/") and s not in sources[:3]]
    assert not [s for s in sources if s.startswith("rft/") and s not in ("rft/__init__.py", "rft/stats.py")]


@pytest.mark.parametrize("grader", discover_graders())
def test_every_grader_handler_imports_with_only_its_bundle(tmp_path, grader):
    _copy_bundle(grader_sources(grader), tmp_path)
    _assert_imports_from(tmp_path, [f"lambda_rewards.{grader}.handler", "lambda_rewards.common.metrics"])


def _assert_imports_from(tmp_path: Path, modules: list[str]) -> None:
    """Each of `modules` imports in a fresh interpreter that sees only `tmp_path` (and the installed
    third-party packages), and is loaded from there."""
    # -S: no site processing, so the editable install of this repository is not on the path; the
    # third-party packages (the bundle's requirements) are added by hand.
    code = (
        "import importlib, sys\n"
        f"sys.path[:0] = [{str(tmp_path)!r}]\n"
        f"sys.path.append({sysconfig.get_paths()['purelib']!r})\n"
        f"for name in {modules!r}:\n"
        "    module = importlib.import_module(name)\n"
        f"    assert module.__file__.startswith({str(tmp_path)!r}), module.__file__\n"
    )
    result = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_installed_packages_lose_their_test_suites_and_ours_are_untouched(tmp_path):
    for folder in ("sympy/tests", "sympy/core/tests", "mpmath/tests", "lambda_rewards/math_answer/tests"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "test_x.py").write_text("")
    (tmp_path / "sympy/testing").mkdir()
    prune_test_suites(tmp_path, keep=[tmp_path / "lambda_rewards"])
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_dir())
    assert "sympy/tests" not in left and "sympy/core/tests" not in left and "mpmath/tests" not in left
    assert "sympy/testing" in left and "lambda_rewards/math_answer/tests" in left
