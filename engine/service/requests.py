"""What a requester without an account does: submit a public form, then follow it by link.

The tracking link carries a secret token; only its SHA-256 is stored. Whoever
holds the token is the instance's requester for the tasks the workflow gives the
requester (confirm the resolution, answer a question), for public comments and
for adding files — and for nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from engine.service.apply import message_row, record_events
from engine.service.casework import Casework, link_reported_again
from engine.service.commands import Commands, Result
from engine.service.errors import Conflict, NotFound
from engine.service.starters import start_check
from engine.store.instances import REQUESTER as REQUESTER
from engine.store.instances import Attachment, Instance, TrackingLink
from engine.store.repository import InstanceRow, Repository
from engine.store.uow import UnitOfWork


def who(actor: str | None) -> str | None:
    """Say who acted as pages say it: "the requester" for the holder of a tracking link,
    "the escalation policy desk-urgent" for a policy's page (`policy:desk-urgent`)."""
    if actor == REQUESTER:
        return "the requester"
    if actor is not None and actor.startswith("policy:"):
        return f"the escalation policy {actor.removeprefix('policy:')}"
    return actor


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def derived_token(secret: str, seed: str) -> str:
    """A tracking token derived from `seed` (a page's submission id, an idempotency key) with
    the app's secret: a repeat of the same post finds the same token, and no one can guess it."""
    return hmac.new(secret.encode(), seed.encode(), hashlib.sha256).digest()[:24].hex()


@dataclass(frozen=True, slots=True)
class NewFile:
    """A file already on disk (see `engine.store.files`), to record on an instance."""

    field: str | None
    filename: str
    content_type: str
    size: int
    sha256: str
    storage_key: str

    def ref(self) -> dict[str, Any]:
        """Return what the instance data holds for this file: never its bytes."""
        return {
            "id": self.storage_key,
            "name": self.filename,
            "size": self.size,
            "type": self.content_type,
        }


class Requests:
    """The requester's commands, each one transaction through `Commands`."""

    def __init__(self, commands: Commands) -> None:
        self.commands = commands

    def submit(
        self,
        workflow_key: str,
        data: dict[str, Any],
        *,
        token: str,
        files: Sequence[NewFile] = (),
        key: str | None = None,
        confirmation: dict[str, Any] | None = None,
        requester: str | None = None,
        form: tuple[str, int] | None = None,
        again: str | None = None,
    ) -> tuple[Result, bool]:
        """Start an instance from a public form with its tracking link and files.

        Return the answer and whether this call started it (False: a repeat of `key`).
        `confirmation` is a message (`to`, `template`, `link`) to send once it is saved;
        `requester` is the signed-in user who sent the form, if any; `form` the key and
        version id of the form it was checked with, recorded in the timeline. `again`: the
        tracking token of an ended request this one reports again (NotFound for no such
        link, Conflict while it is open); the two are linked.
        """
        started = []
        earlier = self.number(again) if again is not None else None

        def after(repo: Repository, instance: InstanceRow, at: datetime) -> None:
            started.append(instance.id)
            if earlier is not None:
                ended = self.commands.locked_instance(repo, earlier)
                if ended.ended_at is None:
                    raise Conflict(
                        f"{earlier} is still open: write to the service desk on its tracking "
                        "page rather than report it again"
                    )
                link_reported_again(repo, instance, ended, requester or REQUESTER, at)
            repo.connection.execute(
                insert(TrackingLink),
                {"instance_id": instance.id, "token_hash": token_hash(token), "created_at": at},
            )
            if form is not None:
                record_events(
                    repo,
                    instance,
                    [
                        {
                            "kind": "form_submitted",
                            "at": at,
                            "actor": requester,
                            "why": f"sent with the form '{form[0]}' (version id {form[1]})",
                            "detail": {"form": form[0], "version_id": form[1]},
                        }
                    ],
                    key,
                    at,
                )
            add_files(repo, instance, files, at, uploaded_by=None)
            if confirmation is not None:
                repo.add_outbox([message_row(instance, "notify", confirmation, at)])

        result = self.commands.start(
            workflow_key,
            data,
            key=key,
            after=after,
            requester=requester,
            form_version=form[1] if form is not None else None,
            check=start_check(requester),
            hidden={},  # a form page: its hidden fields keep their defaults
        )
        return result, bool(started)

    def number(self, token: str) -> str:
        """Return the number of the instance a token opens; raise NotFound for any other."""
        with self.commands.database.reading() as session:
            number = session.scalar(
                select(Instance.number)
                .join(TrackingLink, TrackingLink.instance_id == Instance.id)
                .where(TrackingLink.token_hash == token_hash(token))
            )
        if number is None:
            raise NotFound("there is nothing at this link")
        return number

    def complete(
        self,
        token: str,
        task_id: int,
        outcome: str,
        data: dict[str, Any] | None = None,
        *,
        key: str | None = None,
    ) -> Result:
        """Do one of the requester's tasks: confirm a resolution, answer a question."""
        number = self.number(token)
        return self.commands.complete(
            task_id, outcome, data, actor=REQUESTER, key=key, requester_of=number
        )

    def reopen(self, token: str, reason: str, *, key: str | None = None) -> Result:
        """Reopen the ended request a token opens, as its requester, with a reason."""
        number = self.number(token)
        return Casework(self.commands).reopen(
            number, reason, actor=REQUESTER, key=key, requester_of=number
        )

    def comment(self, token: str, text: str, *, key: str | None = None) -> Result:
        """Add a public comment as the requester."""
        return self.commands.comment(self.number(token), text, actor=REQUESTER, key=key)

    def attach(self, token: str, files: Sequence[NewFile], *, key: str | None = None) -> Result:
        """Add files to the instance as the requester."""
        number = self.number(token)

        def body(uow: UnitOfWork, at: datetime) -> Result:
            instance = self.commands.locked_instance(uow.repository, number)
            ids = add_files(uow.repository, instance, files, at, uploaded_by=REQUESTER)
            return {"instance_id": instance.id, "number": number, "attachments": ids}

        return self.commands.execute("attach", key, body)


def add_files(
    repo: Repository,
    instance: InstanceRow,
    files: Sequence[NewFile],
    at: datetime,
    *,
    uploaded_by: str | None,
) -> list[str]:
    if not files:
        return []
    repo.connection.execute(
        insert(Attachment),
        [
            {
                "instance_id": instance.id,
                "field": file.field,
                "filename": file.filename,
                "content_type": file.content_type,
                "size": file.size,
                "sha256": file.sha256,
                "storage_key": file.storage_key,
                "uploaded_by": uploaded_by,
                "created_at": at,
            }
            for file in files
        ],
    )
    names = ", ".join(file.filename for file in files)
    record_events(
        repo,
        instance,
        [
            {
                "kind": "attached",
                "at": at,
                "actor": uploaded_by,
                "why": names,
                "detail": {"files": [file.storage_key for file in files]},
            }
        ],
        None,
        at,
    )
    return [file.storage_key for file in files]


def attachment(commands: Commands, number: str, storage_key: str) -> Attachment:
    """Return a file's record if it belongs to the instance `number`; else raise NotFound."""
    with commands.database.reading() as session:
        found = session.scalar(
            select(Attachment)
            .join(Instance, Instance.id == Attachment.instance_id)
            .where(Instance.number == number, Attachment.storage_key == storage_key)
        )
        if found is None:
            raise NotFound("there is no such file")
        session.expunge(found)
        return found
