"""What a person sees at 80 and at 200 columns: tables, the live line, status sentences.

At 80 columns a table leaves out its least useful columns and wraps long names inside their
cells; nothing is cut with an ellipsis, no line is wider than the terminal, and identifiers and
timestamps stay whole. At 200 columns everything is shown on one line per row.
"""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console
from rich.progress import Progress

from rft.cli import common
from rft.cli.train_watch import _live_line, describe_run
from rft.runs import RunStatus

LONG_NAME = "gsm8k-qwen3-32b-epochs-3-lr-2e-5-batch-256-heldout-v12"  # 54 characters
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\dZ")


def _width(monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    for console in (common.console, common.err_console):
        monkeypatch.setattr(console, "width", columns)


def _first_column(table: str) -> str:
    """The first column's text in the body, its wrapped pieces joined (one row, no rules)."""
    return "".join(line.split("│")[1].strip() for line in table.splitlines() if line.startswith("│"))


def _fits(output: str, columns: int) -> None:
    assert "…" not in output
    assert max(len(line) for line in output.splitlines()) <= columns


@pytest.mark.parametrize("columns", [80, 200])
def test_train_list(rft, deployed, monkeypatch, columns: int) -> None:
    from tests.cli.test_train import _start_direct

    _start_direct(deployed, LONG_NAME, wait_seconds=0)
    deployed.wait_for(LONG_NAME)
    _width(monkeypatch, columns)
    table = rft("train", "list").stdout
    _fits(table, columns)
    assert _first_column(table) == LONG_NAME
    assert TIMESTAMP.search(table)
    if columns == 200:
        assert "stopped" in table and "model" in table and LONG_NAME in table


@pytest.mark.parametrize("columns", [80, 200])
def test_models_list(rft, deployed, monkeypatch, columns: int) -> None:
    deployed.put_model(LONG_NAME, base_url="http://unused/v1", published_at="2026-11-30T08:00:00Z")
    deployed.registry().set_alias("prod", LONG_NAME, by="test", reason="first")
    _width(monkeypatch, columns)
    table = rft("models", "list").stdout
    _fits(table, columns)
    assert _first_column(table) == LONG_NAME
    assert "prod" in table and "ready" in table
    if columns == 200:
        assert "openai.gpt-oss-20b" in table and "2026-11-30 08:00Z" in table


@pytest.mark.parametrize("columns", [80, 200])
def test_models_history(rft, deployed, monkeypatch, columns: int) -> None:
    deployed.put_model(LONG_NAME, base_url="http://unused/v1")
    arn = "arn:aws:sts::123456789012:assumed-role/PlatformEngineers/alice@example.com"
    deployed.registry().set_alias("prod", LONG_NAME, by=arn, reason="the first model that beat the base")
    _width(monkeypatch, columns)
    table = rft("models", "history", "prod").stdout
    _fits(table, columns)
    assert TIMESTAMP.search(table)
    assert "the first" in table
    if columns == 200:
        assert "PlatformEngineers" in table and LONG_NAME in table


def _live(columns: int, run: RunStatus) -> str:
    out = io.StringIO()
    console = Console(file=out, width=columns, force_terminal=False, color_system=None)
    progress = Progress(*_live_line(columns), console=console)
    progress.add_task(describe_run(run), total=run.total_steps, completed=run.current_step, run=run.name)
    console.print(progress.get_renderable())
    return out.getvalue()


@pytest.mark.parametrize("columns", [80, 200])
def test_the_live_line_keeps_the_step_and_the_reward_whole(columns: int) -> None:
    run = RunStatus(
        name=LONG_NAME, status="RUNNING", step="Wait for Mantle job", provider="mantle",
        base_model="openai.gpt-oss-20b", reward="math_answer", started=None, stopped=None,
        job_status="running", current_step=123, total_steps=400, mean_reward=0.41237,
    )  # fmt: skip
    line = _live(columns, run)
    _fits(line, columns)
    assert "step 123/400" in line and "mean reward 0.412" in line
    assert (LONG_NAME in line) is (columns == 200)  # at 80 it is said once, above the live line


def test_status_sentences_wrap_between_words_on_a_terminal(monkeypatch) -> None:
    out = io.StringIO()
    terminal = Console(file=out, width=40, force_terminal=True, color_system=None, highlight=False)
    monkeypatch.setattr(common, "err_console", terminal)
    common.say("Uploaded datasets/train-0123456789abcdef.jsonl to environment 'staging' in us-west-2.")
    for line in out.getvalue().splitlines():
        assert len(line) <= 40
    words = out.getvalue().split()
    assert "datasets/train-0123456789abcdef.jsonl" in words and "us-west-2." in words
