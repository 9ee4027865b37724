"""`rft doctor`: a line per check, --json, exit 0 unless a check fails."""

from __future__ import annotations

from rft import doctor

FOUND = [
    doctor.Check("stacks", doctor.OK, "5 stacks deployed at version 0.1.0+abc"),
    doctor.Check("topic", doctor.WARN, "1 subscription(s) pending confirmation", "confirm the mail"),
]


def test_doctor_warnings_exit_0_and_print_a_line_per_check(deployed, rft, monkeypatch):
    monkeypatch.setattr(doctor, "examine", lambda target, options: list(FOUND))
    outcome = rft("doctor", "--env", "staging")
    assert outcome.exit_code == 0, outcome.stderr
    lines = outcome.stdout.splitlines()
    assert lines[0].startswith("ok   stacks: 5 stacks deployed")
    assert (
        lines[1].startswith("warn topic: 1 subscription(s) pending") and "to do: confirm the mail" in lines[2]
    )
    assert "healthy, 1 warning(s)" in lines[-1]


def test_doctor_a_failed_check_exits_1_and_json_lists_every_check(deployed, rft):
    # The moto environment has no operations stack, no version outputs and no gateway behind its URL:
    # those checks fail, each on its own line, and the others still run.
    outcome = rft("doctor", "--env", "staging", "--json", "--timeout", "5")
    assert outcome.exit_code == 1
    report = outcome.json()
    assert report["environment"] == "staging" and report["ok"] is False
    by_name = {check["name"]: check for check in report["checks"]}
    assert by_name["stacks"]["status"] == "fail" and "staging-Operations" in by_name["stacks"]["detail"]
    assert by_name["budget"]["status"] == "fail" and by_name["budget"]["action"]
    assert {"graders", "validate-only run", "gateway", "topic", "alarms"} <= set(by_name) | {
        name.split(" ")[0] + "s" for name in by_name if name.startswith("grader ")
    }
