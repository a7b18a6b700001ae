"""`flowdesk play` and `flowdesk up` let a process owner drive a workflow from the terminal."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from web.cli import main

PACK = str(Path(__file__).resolve().parents[2] / "workflows")


def play(*args: str, answers: str) -> str:
    result = CliRunner().invoke(main, ["play", *args, "--pack", PACK], input=answers)
    assert result.exit_code == 0, result.output
    return result.output


def test_an_incident_is_worked_confirmed_and_closed() -> None:
    output = play(
        "it-incident",
        "--data",
        '{"category": "network", "impact": "high", "urgency": "medium"}',
        answers='1 resolved {"resolution": "Restarted the switch"}\n1 approved\n',
    )
    assert "impact=high, urgency=medium -> P2 (row 2)" in output
    assert "[route] -> work: otherwise: no condition matched" in output
    assert "task 'Work on the incident' for group network (round_robin):" in output
    # The start data not given were filled in with samples, and said so.
    assert "(start data not given, so filled in: name, email, summary" in output
    assert "Ended: closed (resolved)." in output


def test_a_password_incident_goes_to_self_service() -> None:
    output = play("it-incident", "--data", '{"category": "password"}', answers="1 approved\n")
    assert "-> self_service: 'Password reset' matched: category is 'password'" in output
    assert "Ended: closed (resolved)." in output


def test_firing_the_confirmation_timer_closes_an_unanswered_incident() -> None:
    output = play("it-incident", answers="1 resolved\n2\n")
    assert "completed as 'approved' by escalation" in output
    assert "Ended: closed" in output


def test_a_wrong_answer_is_explained_and_nothing_changes() -> None:
    output = play("service-request", "--data", '{"cost": 900}', answers="7\n1 maybe\nq\n")
    assert "pick a number from 1 to" in output
    assert (
        "'maybe' is not an outcome of step 'approve'; choose one of: approved, rejected" in output
    )
    assert "Ended: cancelled" in output


def test_an_unknown_workflow_is_refused_with_the_known_ones() -> None:
    result = CliRunner().invoke(main, ["play", "nope", "--pack", PACK])
    assert result.exit_code == 2
    shipped = sorted(json.loads(path.read_text())["key"] for path in Path(PACK).glob("*.json"))
    assert {"it-incident", "major-incident", "service-request"} <= set(shipped)
    assert f"there are: {', '.join(shipped)}" in result.output


def test_a_task_form_fills_in_its_defaults_as_the_service_does(tmp_path: Path) -> None:
    form = {
        "kind": "form", "format": 1, "key": "assessment", "title": "Assess",
        "fields": [
            {"key": "downtime_minutes", "type": "number", "label": "Downtime", "default": 0},
            {"key": "note", "type": "text", "label": "Note", "required_if": "outcome == 'risky'"},
        ],
    }  # fmt: skip
    workflow = {
        "kind": "workflow", "format": 1, "key": "change", "title": "Change", "first": "assess",
        "steps": {
            "assess": {"type": "task", "assign": {"group": "cab"}, "form": "assessment",
                       "on": {"safe": "route", "risky": "route"}},
            "route": {"type": "decision", "otherwise": "plan",
                      "branches": [{"label": "No downtime", "when": "downtime_minutes == 0",
                                    "next": "done"}]},
            "plan": {"type": "end"},
            "done": {"type": "end"},
        },
    }  # fmt: skip
    (tmp_path / "assessment.json").write_text(json.dumps(form), encoding="utf-8")
    (tmp_path / "change.json").write_text(json.dumps(workflow), encoding="utf-8")

    result = CliRunner().invoke(
        main, ["play", "change", "--pack", str(tmp_path)], input="1 risky\n"
    )

    assert result.exit_code == 0, result.output
    # The note a risky answer requires is filled in with a sample, and said so; the default
    # downtime is filled in as the service fills it in.
    assert "(left out, so filled in: note)" in result.output
    assert "[route] -> done: 'No downtime' matched: downtime_minutes == 0" in result.output


def test_a_rejection_needs_its_reason_as_the_service_asks() -> None:
    output = play(
        "service-request",
        "--data",
        '{"cost": 900}',
        answers='1 rejected\n1 rejected {"comment": "Too dear"}\n',
    )
    assert "Say why you reject" in output
    assert "Ended:" in output


def test_a_step_waiting_for_a_child_workflow_offers_how_the_child_ends(tmp_path: Path) -> None:
    child = {
        "kind": "workflow", "format": 1, "key": "check", "title": "Check", "first": "done",
        "steps": {"done": {"type": "end", "outcome": "clean"}},
    }  # fmt: skip
    parent = {
        "kind": "workflow", "format": 1, "key": "project", "title": "Project", "first": "sub",
        "steps": {
            "sub": {"type": "subflow", "workflow": "check", "on": {"clean": "done"},
                    "next": "done"},
            "done": {"type": "end", "status": "finished"},
        },
    }  # fmt: skip
    for doc in (child, parent):
        (tmp_path / f"{doc['key']}.json").write_text(json.dumps(doc), encoding="utf-8")

    result = CliRunner().invoke(
        main, ["play", "project", "--pack", str(tmp_path)], input="1 clean\n"
    )

    assert result.exit_code == 0, result.output
    assert "[1] How check ends" in result.output
    assert "Ended: finished" in result.output


def test_a_task_answered_with_an_outcome_alone_gets_samples_for_its_required_fields() -> None:
    """As in the Studio's simulation: a route is tried without typing every required field;
    the fields filled in are said, and what was given is kept."""
    output = play(
        "it-incident",
        "--data",
        '{"category": "network", "impact": "high", "urgency": "medium"}',
        answers="1 resolved\n1 approved\n",
    )

    assert "(left out, so filled in: resolution)" in output
    assert "Ended: closed (resolved)." in output
    given = play(
        "it-incident",
        "--data",
        '{"category": "network", "impact": "high", "urgency": "medium"}',
        answers='1 resolved {"resolution": "Restarted the switch"}\n1 approved\n',
    )
    assert "left out, so filled in" not in given


def test_a_field_left_out_takes_what_the_instance_holds_before_a_sample(tmp_path: Path) -> None:
    """A task form asking again for a field the start filled in gets the instance's value,
    not a sample that would send the instance down another route."""
    start = {
        "kind": "form", "format": 1, "key": "report", "title": "Report",
        "fields": [{"key": "category", "type": "select", "label": "Category", "required": True,
                    "options": ["hardware", "network"]}],
    }  # fmt: skip
    workflow = {
        "kind": "workflow", "format": 1, "key": "triage", "title": "Triage", "first": "check",
        "start": {"form": "report"},
        "steps": {
            "check": {"type": "task", "assign": {"group": "desk"}, "form": "report",
                      "next": "route"},
            "route": {"type": "decision", "otherwise": "other",
                      "branches": [{"label": "Network", "when": "category == 'network'",
                                    "next": "net"}]},
            "net": {"type": "end"},
            "other": {"type": "end"},
        },
    }  # fmt: skip
    (tmp_path / "report.json").write_text(json.dumps(start), encoding="utf-8")
    (tmp_path / "triage.json").write_text(json.dumps(workflow), encoding="utf-8")

    result = CliRunner().invoke(
        main,
        ["play", "triage", "--pack", str(tmp_path), "--data", '{"category": "network"}'],
        input="1 done\n",
    )

    assert result.exit_code == 0, result.output
    assert "(left out, so filled in: category)" in result.output
    assert "'Network' matched" in result.output
