"""`flowdesk play` and `flowdesk up` let a process owner drive a workflow from the terminal."""

from __future__ import annotations

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
    assert "group=network" in output
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
    assert "there are: it-incident, major-incident, service-request" in result.output
