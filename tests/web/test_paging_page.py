"""An incident an escalation policy pages can be acknowledged from its page, whatever opened
it: the button was in the alerts section only, so an incident reported on the portal, by
mail or by phone went on paging level after level, and took the work from whoever had it."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from engine.service.catalogue import Catalogue
from engine.service.commands import Commands
from engine.service.escalation_policies import EscalationPolicies
from engine.service.people import ensure_user
from engine.store.database import Database
from engine.store.instances import Event, Instance
from tests.infrastructure import INCIDENT, Clock
from tests.web.test_inbox import make_team, post, signed_in

POLICY = {"levels": [{"notify": [{"user": "erin"}], "after": "PT15M"},
                     {"notify": [{"user": "ivy"}], "after": "PT30M"}], "repeat": 1}  # fmt: skip


def test_an_agent_acknowledges_a_paged_incident_reported_on_the_portal(
    app: Flask, database: Database, commands: Commands, clock: Clock
) -> None:
    team = make_team(app, database, commands, clock)
    with database.writer_session() as session, session.begin():
        ensure_user(session, "root", clock(), roles=["admin"])
    EscalationPolicies(team).save("payments-escalation", POLICY, actor="root")
    Catalogue(team).save_service(
        "payments",
        {"name": "Payments", "start_data": {}, "policy_key": "payments-escalation"},
        actor="root",
        create=True,
    )
    data = {**INCIDENT, "impact": "high", "affected_service": "payments"}
    number = str(team.start("it-incident", data, requester="rita")["number"])
    erin = signed_in(app, "erin")

    page = erin.get(f"/instances/{number}").text
    assert '<h2 id="paging-title">Paging</h2>' in page
    assert f'action="/instances/{number}/acknowledge"' in page
    assert post(erin, f"/instances/{number}/acknowledge").status_code == 303

    with database.reading() as session:
        kinds = session.scalars(
            select(Event.kind)
            .join(Instance, Instance.id == Event.instance_id)
            .where(Instance.number == number)
        ).all()
    assert kinds.count("acknowledged") == 1
    # Once: the section is gone, and a second acknowledgement (a double click) is refused.
    assert 'id="paging-title"' not in erin.get(f"/instances/{number}").text
    assert post(erin, f"/instances/{number}/acknowledge").status_code == 409
    requester = signed_in(app, "rita").get(f"/instances/{number}")
    assert requester.status_code == 200
    assert 'id="paging-title"' not in requester.text  # the desk's to acknowledge
