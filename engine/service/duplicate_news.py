"""When an instance ends, the requesters of the requests closed as its duplicates are told.

A request closed as a duplicate was told "the same problem is being worked on there, and
you will hear about it" (`casework`, the `instance-merged` mail): this is where they hear.
`engine.service.apply.save_transition` calls `tell_requesters` once, as the original ends,
in the same transaction: one indexed look-up of its incoming `duplicate` links (none, for
nearly every instance), then per duplicate: its requester with an account on the bell (and
by mail if they asked for it), one without an account by mail (`original-ended`), at the
caller's address or the one their form gave.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select

from engine.core.state import InstanceState
from engine.service.notifications import Note, tell
from engine.store.casework import InstanceLink
from engine.store.instances import Instance
from engine.store.repository import InstanceRow, Repository, message_row
from engine.store.statements import Prepared

#: The mail a requester without an account gets (`engine/jobs/templates/original-ended.*`).
TEMPLATE = "original-ended"
#: Who the notifications say acted when nobody did (an instance the engine ended).
NOBODY = "flowdesk"

_DUPLICATES = Prepared(
    select(Instance.id, Instance.number, Instance.requester, Instance.status, Instance.caller)
    .join(InstanceLink, InstanceLink.instance_id == Instance.id)
    .where(InstanceLink.other_id == bindparam("original"), InstanceLink.kind == "duplicate")
    .order_by(InstanceLink.id)
)


def tell_requesters(
    repo: Repository, original: InstanceRow, state: InstanceState, actor: str | None, at: datetime
) -> None:
    """Tell the requesters of `original`'s duplicates that it has just ended, and how."""
    duplicates = _DUPLICATES.all(repo.connection, {"original": original.id})
    if not duplicates:
        return
    words = state.status.replace("_", " ")
    for duplicate_id, number, requester, status, caller in duplicates:
        row = InstanceRow(duplicate_id, number, 0, {}, 0, 0, requester, status, None)
        said = f"{original.number}, which your request {number} was merged into, is now {words}"
        if requester is not None:
            tell(repo, row, [Note(requester, "request_changed", summary=said)], actor or NOBODY, at)
            continue
        email = caller.get("email") if isinstance(caller, dict) else None
        to: Any = {"email": email} if email else "requester"
        if not email and not repo.has_tracking_link(duplicate_id):
            continue  # nobody follows it (an alert's): no address to write to
        note = {"original": original.number, "status": words}
        payload = {"to": to, "template": TEMPLATE, "note": note}
        repo.add_outbox([message_row(row, "notify", payload, at)])
