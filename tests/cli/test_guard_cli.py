"""The health guard in the client: `rft train watch` shows the workflow's verdict and the latest
signals (at 80 columns too), `rft train report` writes the curves with the findings marked."""

from __future__ import annotations

import pytest

from rft.cli import train_report
from rft.cli.common import Scope
from rft.runs import RunStatus
from tests.cli.test_rendering import _fits, _live
from tests.unit.rft.test_health import published, run

LONG_NAME = "gsm8k-lr-sweep-0003-with-validation"


def running(**extra) -> RunStatus:
    return RunStatus(
        name=LONG_NAME, status="RUNNING", step="Wait for Mantle job", provider="mantle",
        base_model="openai.gpt-oss-20b", reward="math_answer", started=None, stopped=None,
        job_status="running", current_step=40, total_steps=400, mean_reward=0.41237, **extra,
    )  # fmt: skip


@pytest.mark.parametrize("columns", [80, 200])
def test_guard_watch_line_shows_the_verdict_and_the_latest_signals(columns):
    metrics = [{"step": 40, "response_length_mean": 612.4, "actor_entropy": 0.8734}]
    status = running(metrics=metrics, guard_verdict="warn", guard_findings=["no_learning"])
    line = _live(columns, status)
    _fits(line, columns)
    flat = " ".join(line.split())
    assert "length 612" in flat and "entropy 0.87" in flat
    assert "guard warn (no_learning)" in flat


def test_guard_report_writes_the_curves_as_a_png(rft, tmp_path, monkeypatch):
    steps = run(lambda t: 0.0, noise=0.0, steps=20)
    monkeypatch.setattr(train_report, "read_run", lambda target, name: running(metrics=steps))
    monkeypatch.setattr(Scope, "environment", lambda scope, deployed=True: object())
    out = tmp_path / "report.png"

    outcome = rft("train", "report", "zero-run", "-o", str(out))

    assert outcome.exit_code == 0, outcome.stderr
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    said = outcome.stdout + outcome.stderr
    assert "health guard stop" in said and "[reward_zero]" in said


def test_guard_report_of_a_healthy_run_names_no_finding(rft, tmp_path, monkeypatch):
    monkeypatch.setattr(train_report, "read_run", lambda target, name: running(metrics=run(published)))
    monkeypatch.setattr(Scope, "environment", lambda scope, deployed=True: object())
    outcome = rft("train", "report", "fine", "-o", str(tmp_path / "fine.png"))
    assert outcome.exit_code == 0 and "health guard healthy" in outcome.stdout + outcome.stderr
    assert "[" not in outcome.stdout + outcome.stderr


def test_guard_report_without_metrics_is_refused(rft, monkeypatch):
    monkeypatch.setattr(train_report, "read_run", lambda target, name: running())
    monkeypatch.setattr(Scope, "environment", lambda scope, deployed=True: object())
    outcome = rft("train", "report", "early")
    assert outcome.exit_code != 0 and "no training metrics yet" in outcome.stderr
