"""Proof that every AWS SDK call site of the runtime code runs in a test through a validated client.

tests/conftest.py validates every SDK request a test sends and hands it to ``record``, which keeps
(service, operation, the runtime file and function that sent it). On a full run of ``tests/``, the
session ends by comparing those with the static inventory (tests/contract/sdk_inventory.py): a
call site whose function never sent its operation fails the run, named. Under pytest-xdist each
worker returns what it saw in its ``workeroutput`` and the controller checks the union.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from tests.contract import sdk_inventory
from tests.contract.sdk_inventory import ROOT, CallSite

Seen = tuple[str, str, str | None, str | None]  # service, operation, file, function

_SEEN: set[Seen] = set()
_WORKER_KEY = "rft_sdk_operations_seen"
_SDK_MODULES = ("botocore.", "boto3.", "s3transfer.", "tests.conftest")
_RUNTIME_FOLDERS = ("rft/", "lambda_")
_COMPREHENSION = re.compile(r"(\.<locals>\.<(?:genexpr|listcomp|dictcomp|setcomp)>)+$")


def record(service: str, operation: str) -> None:
    """Called for every validated request: who in the runtime code sent it, if anyone."""
    file, function = _runtime_caller(sys._getframe(1))
    _SEEN.add((service, operation, file, function))


def _runtime_caller(frame: FrameType | None) -> tuple[str | None, str | None]:
    """The first frame outside the SDK: the runtime file and function that made the call, or
    (None, None) when that frame is a test, moto, or a transfer thread."""
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith(_SDK_MODULES):
        frame = frame.f_back
    if frame is None:
        return None, None
    try:
        relative = Path(frame.f_code.co_filename).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return None, None
    if not relative.startswith(_RUNTIME_FOLDERS):
        return None, None
    # A generator expression iterating a paginator runs in its own frame: the call site's
    # function is the one around it.
    return relative, _COMPREHENSION.sub("", frame.f_code.co_qualname)


def never_exercised(sites: Iterable[CallSite], seen: set[Seen]) -> list[CallSite]:
    return [site for site in sites if not _exercised(site, seen)]


def _exercised(site: CallSite, seen: set[Seen]) -> bool:
    if (site.service, site.operation, site.file, site.function) in seen:
        return True
    return site.through_transfer_threads and (site.service, site.operation, None, None) in seen


def is_full_run(config: pytest.Config) -> bool:
    """The whole tests/ tree, nothing deselected: only then must every call site have run."""
    option = config.option
    narrowed = (
        getattr(option, "keyword", "")
        or getattr(option, "markexpr", "")
        or getattr(option, "deselect", None)
        or getattr(option, "lf", False)
        or getattr(option, "stepwise", False)
        or getattr(option, "ignore", None)
        or getattr(option, "ignore_glob", None)
        # Collecting or planning runs no test, so nothing is sent.
        or getattr(option, "collectonly", False)
        or getattr(option, "setuponly", False)
        or getattr(option, "setupplan", False)
    )
    if narrowed:
        return False
    tests = (ROOT / "tests").resolve()
    targets = {Path(config.rootpath, arg.split("::")[0]).resolve() for arg in config.args}
    return bool(targets) and all(target in (tests, *tests.parents) for target in targets)


def problems(seen: set[Seen]) -> list[str]:
    inventory = sdk_inventory.build()
    lines = [f"cannot tell which service this call uses: {item}" for item in inventory.unattributed]
    lines += [f"a declaration in DECLARED matches no call: {key}" for key in inventory.unused_declarations]
    lines += [
        f"never exercised through a validated client: {site}"
        for site in never_exercised(inventory.sites, seen)
    ]
    return lines


class Plugin:
    """Registered by tests/conftest.py."""

    def __init__(self) -> None:
        self.seen_by_workers: set[Seen] = set()
        self.report: list[str] = []
        self.judged = False

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        config = session.config
        if hasattr(config, "workerinput"):  # an xdist worker: hand what it saw to the controller
            config.workeroutput[_WORKER_KEY] = [list(item) for item in sorted(_SEEN, key=str)]  # type: ignore[attr-defined]  # set by xdist on workers
            return
        full = is_full_run(config)
        if not full and os.environ.get("RFT_SDK_COVERAGE") != "report":
            return
        self.report = problems(_SEEN | self.seen_by_workers)
        # A run that already failed may have skipped the calls, and a part of the suite is not
        # meant to reach them all: report, but judge only a green full run.
        self.judged = full and exitstatus == 0
        if self.report and self.judged:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.report:
            verdict = "" if self.judged else " (not judged: a failed or partial run)"
            terminalreporter.section(
                f"AWS SDK call sites (tests/contract/sdk_coverage.py){verdict}", red=True
            )
            for line in self.report:
                terminalreporter.line(line)


class XdistController:
    """Collects each worker's calls; registered only when pytest-xdist is installed."""

    def __init__(self, plugin: Plugin) -> None:
        self.plugin = plugin

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        for item in getattr(node, "workeroutput", {}).get(_WORKER_KEY, []):
            service, operation, file, function = item
            self.plugin.seen_by_workers.add((service, operation, file, function))
