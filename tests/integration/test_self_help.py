"""Self-help: a requester's words find the workarounds published for known errors, and
nothing else of any problem."""

from __future__ import annotations

from engine.core.definition import Workflow
from engine.service.commands import Commands
from engine.service.published import Published
from engine.service.self_help import Answer, SelfHelp, describing_fields, score
from tests.similar_seeds import problem

JAM = "Printers jam on every floor"
WORKAROUND = "Print on the floor 2 printer until the new roller arrives."


def test_only_known_errors_whose_workaround_is_published_are_answered(commands: Commands) -> None:
    problem(commands, JAM, WORKAROUND)
    problem(commands, "Printers jam when printing labels", "Feed labels by hand.", publish=False)
    problem(commands, "Printers jam on thick paper", "Use thin paper.", status="investigating")
    problem(commands, "Printers jam after the update", "Roll back.", status="resolved")

    answers = SelfHelp(commands).answers("My printer jams on the 3rd floor, every page")

    assert answers == [Answer(JAM, WORKAROUND)]


def test_what_is_not_published_is_never_matched(commands: Commands) -> None:
    problem(
        commands,
        JAM,
        WORKAROUND,
        root_cause="Vendor Acme shipped worn rollers",
        description="Seen by Ada and Grace in building West",
    )
    helper = SelfHelp(commands)

    # The words of its root cause and description find nothing: they stay inside.
    assert helper.answers("Acme vendor worn rollers shipped") == []
    assert helper.answers("Ada Grace building West") == []
    # A word of the title counts, and so does a beginning ("print" finds "printers").
    assert helper.answers("print jam") == [Answer(JAM, WORKAROUND)]
    assert helper.answers("roller arrives") == [Answer(JAM, WORKAROUND)]  # the workaround's
    # One word in common is not enough once two were typed.
    assert helper.answers("printer broken") == []
    assert helper.answers("   ") == []


def test_the_best_matches_come_first_and_at_most_three() -> None:
    words = ("vpn", "drops", "hour")
    title_hit = Answer("VPN drops", "Reconnect.")
    workaround_hit = Answer("Remote access", "Restart the VPN when it drops.")
    assert score(words, title_hit) == 4
    assert score(words, workaround_hit) == 2
    assert score(("vpn",), Answer("Slow VPN", "Wait.")) == 2  # one word typed: one will do


def test_more_than_three_matches_give_the_best_three_newest_first_among_equals(
    commands: Commands,
) -> None:
    for floor in range(1, 5):
        problem(commands, f"Printer on floor {floor} jams", f"Use floor {floor + 1}.")
    problem(commands, "Printer jams and smokes", "Unplug the printer, it jams and smokes.")

    found = SelfHelp(commands).answers("printer jams and smokes")

    assert [answer.title for answer in found] == [
        "Printer jams and smokes",
        "Printer on floor 4 jams",
        "Printer on floor 3 jams",
    ]


def test_a_form_is_described_by_its_title_fields_and_long_texts(commands: Commands) -> None:
    start = Published(commands.database).public_start("it-incident")
    assert describing_fields(start.workflow, start.form) == ["summary", "description"]
    titled_by_name = Workflow.from_document(
        {**start.workflow.doc, "start": {**start.workflow.start, "title": "{{ name }}"}}
    )
    assert describing_fields(titled_by_name, start.form) == ["name", "description"]
