"""Email intake: a mail to a mailbox opens an instance; a reply becomes a comment on it.

Every door (the SMTP listener, the IMAP poll, `flowdesk mail-in`) hands the raw RFC 5322
bytes to `MailIntake.receive`, which decides, records and answers a `Receipt`:

- a mail from a machine (an auto-reply, a bounce, bulk mail, a loop) or from a sender seen
  too often in a minute is **dropped**;
- a **reply** (the number in its subject, or `In-Reply-To`/`References` naming a mail we
  sent) becomes a public comment on that instance, by the sender, if the sender has a part
  in it (its requester, by account or by address, an agent, or someone who holds or held
  one of its tasks); else it is **refused**, and nothing is added;
- any other mail **opens** an instance of the mailbox's workflow: the subject and text fill
  the fields the mailbox names, its defaults the rest, its attachments become the
  instance's files. The requester is the user with the sender's address, else the sender
  as a caller without an account, who gets a tracking link.

Each mail is recorded in `inbound_mail` with what became of it and why, in the same
transaction as the instance or comment it made. A mail received twice (same Message-ID)
changes nothing the second time.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import getaddresses
from typing import Any

from sqlalchemy import func, insert, or_, select, update

from engine.core.definition import Workflow
from engine.core.errors import Problem
from engine.service.apply import message_row, record_events
from engine.service.commands import Commands
from engine.service.errors import InvalidInput, NotFound, ServiceError
from engine.service.file_kinds import safe_filename, sniff
from engine.service.mail_reading import (
    Letter,
    addressed,
    automatic,
    parse,
    read_letter,
    reply_text,
    unreadable_letter,
)
from engine.service.requests import REQUESTER, NewFile, add_files, token_hash
from engine.service.starters import start_check
from engine.service.starting import email_problem
from engine.service.submissions import InvalidData
from engine.settings import (
    MAIL_IN_FLOOD_HOURLY_LIMIT,
    MAIL_IN_FLOOD_LIMIT,
    MAIL_IN_FLOOD_WINDOW,
    MAIL_IN_MAX_BODY_CHARS,
    MAIL_IN_MAX_BYTES,
    MAIL_IN_MAX_FILE_BYTES,
    MAIL_IN_MAX_NAME_CHARS,
    MAIL_IN_MAX_SUBJECT_CHARS,
    relay_settings,
)
from engine.store.files import FileStore
from engine.store.instances import Instance, Outbox, Task, TrackingLink
from engine.store.mailboxes import TAKEN, InboundMail, Mailbox
from engine.store.notifications import SentMail
from engine.store.people import User
from engine.store.repository import InstanceRow, Repository
from engine.store.uow import UnitOfWork
from forms.errors import FieldError

#: The start form fields a mail fills in, unless the mailbox names others.
DEFAULT_FIELDS = {"subject": "summary", "body": "description", "name": "name", "email": "email"}
#: What a mail may fill in, as a mailbox is checked: its defaults must start the workflow
#: with these.
SAMPLE_MAIL = {
    "subject": "A mail",
    "body": "What the mail says",
    "name": "A sender",
    "email": "sender@example.org",
}

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Receipt:
    """What became of one mail: opened, commented, dropped or refused, and why."""

    outcome: str
    reason: str
    number: str | None = None
    tracking_link: str | None = None
    repeated: bool = False


@dataclass(frozen=True, slots=True)
class MailboxView:
    """A mailbox as the CLI lists it; a field named "" is one its mails leave out."""

    address: str
    workflow_key: str
    service_key: str | None
    fields: dict[str, str]
    defaults: dict[str, Any]
    active: bool


class MailIntake:
    """The intake's use cases over the commands and the file store."""

    def __init__(
        self,
        commands: Commands,
        files: FileStore,
        *,
        own_addresses: Sequence[str] = (),
        base_url: str | None = None,
    ) -> None:
        self.commands = commands
        self.files = files
        # "Flowdesk <noreply@example.org>" is the address noreply@example.org.
        self.own = frozenset(
            address.strip().lower()
            for _name, address in getaddresses(list(own_addresses))
            if "@" in address
        )
        self.base_url = (base_url or "").rstrip("/") or None

    # Mailboxes -----------------------------------------------------------------------------

    def save_mailbox(
        self,
        address: str,
        workflow_key: str,
        *,
        service_key: str | None = None,
        fields: dict[str, str] | None = None,
        defaults: dict[str, Any] | None = None,
        active: bool = True,
    ) -> MailboxView:
        """Create or change the mailbox at `address`, opening instances of `workflow_key`."""
        address = address.strip().lower()
        problem = email_problem(address)
        if problem:
            raise InvalidInput(f"the address: {problem}", [Problem("/address", problem)])
        named = {**DEFAULT_FIELDS, **(fields or {})}
        unknown = set(named) - set(DEFAULT_FIELDS)
        if unknown:
            message = f"a mailbox fills in {', '.join(DEFAULT_FIELDS)} only, not {sorted(unknown)}"
            raise InvalidInput(message, [Problem("/fields", message)])
        self.commands.check_data(defaults or {}, "the defaults")

        def body(uow: UnitOfWork, at: datetime) -> MailboxView:
            repo = uow.repository
            try:
                _version, workflow = self.commands.registry.latest_workflow(repo, workflow_key)
            except NotFound:
                message = f"there is no published workflow '{workflow_key}'"
                raise InvalidInput(message, [Problem("/workflow", message)]) from None
            service = (service_key or "").strip() or None
            if service is not None and not repo.existing_services([service]):
                message = f"there is no service '{service}' in the catalogue"
                raise InvalidInput(message, [Problem("/service", message)])
            self._check_defaults(repo, workflow, named, defaults or {}, service)
            session = uow.session
            box = session.scalar(select(Mailbox).where(Mailbox.address == address))
            if box is None:
                box = Mailbox(address=address, created_at=at)
                session.add(box)
            box.workflow_key = workflow_key
            box.service_key = service
            box.fields = named
            box.defaults = dict(defaults or {})
            box.active = active
            session.flush()
            return _view(box)

        return self.commands.execute("save_mailbox", None, body)

    def _check_defaults(
        self,
        repo: Repository,
        workflow: Workflow,
        named: Mapping[str, str],
        defaults: Mapping[str, Any],
        service: str | None,
    ) -> None:
        """Refuse defaults with which no mail could start the workflow: with what a mail
        fills in (`named`) and the mailbox's service, they must fill in its start form, as
        a start would check them."""
        mail = {target: SAMPLE_MAIL[part] for part, target in named.items() if target}
        field = workflow.start.get("service")
        if service is not None and field:
            if field in defaults:  # it would be overridden by the mailbox's, in silence
                message = (
                    f"defaults/{field}: a mail to this mailbox is filed under its service "
                    f"'{service}'; leave it out"
                )
                raise InvalidInput(message, [Problem(f"/defaults/{field}", message)])
            mail[field] = service
        try:
            self.commands.check_start_data(repo, workflow, {**defaults, **mail})
        except InvalidData as error:
            problems = [_defaults_problem(workflow.key, e, named, defaults) for e in error.fields]
            raise InvalidInput("; ".join(p.message for p in problems), problems) from None

    def mailboxes(self) -> list[MailboxView]:
        """Every mailbox, by address."""
        with self.commands.database.reading() as session:
            return [_view(b) for b in session.scalars(select(Mailbox).order_by(Mailbox.address))]

    def mailbox(self, address: str) -> MailboxView | None:
        """The mailbox at `address` (compared without regard to case), or None."""
        with self.commands.database.reading() as session:
            box = session.scalar(select(Mailbox).where(Mailbox.address == address.strip().lower()))
            return _view(box) if box is not None else None

    def accepts(self, address: str) -> bool:
        """Tell whether an active mailbox has this address (the SMTP listener asks at RCPT)."""
        return self._mailbox([address]) is not None

    def received(self, limit: int = 50) -> list[InboundMail]:
        """The latest mails received, newest first, with what became of them."""
        with self.commands.database.reading() as session:
            rows = list(
                session.scalars(select(InboundMail).order_by(InboundMail.id.desc()).limit(limit))
            )
            session.expunge_all()
            return rows

    # Receiving -----------------------------------------------------------------------------

    def receive(
        self,
        raw: bytes,
        *,
        recipients: Sequence[str] = (),
        source: str,
        envelope_sender: str | None = None,
    ) -> Receipt:
        """Take one mail's bytes: open an instance, comment on one, or drop it, and record it.

        `recipients` are the envelope's (SMTP `RCPT TO`) or the mailbox an IMAP account
        feeds; without them the mail's own `To`, `Cc` and `Delivered-To` are read.
        `envelope_sender` is SMTP's `MAIL FROM` when the mail came that way: empty, it is a
        bounce or an auto-reply (RFC 3834), which is never answered.
        """
        if len(raw) > MAIL_IN_MAX_BYTES:
            raise InvalidInput(f"the mail is {len(raw)} bytes; the limit is {MAIL_IN_MAX_BYTES}")
        try:
            message = parse(raw)
            letter = read_letter(message, raw)
        except Exception as error:
            log.warning("a mail could not be read: %r", error)
            unread = unreadable_letter(raw)
            return self._record(unread, None, source, "refused", f"it cannot be read ({error})")
        if not recipients:
            recipients = _addressees(message)
        box = self._mailbox(recipients)
        if box is None:
            named = ", ".join(recipients) or "nobody"
            return self._record(letter, None, source, "refused", f"no mailbox at {named}")
        earlier = self._earlier(letter.message_id, box.id)
        if earlier is not None:
            return earlier
        why = automatic(message, letter.sender, self.own | {box.address})
        if why is None and envelope_sender is not None and envelope_sender.strip("<> ") == "":
            why = "an empty envelope sender (MAIL FROM:<>): a bounce or an automatic reply"
        if why is None:
            why = self._flooding(letter.sender)
        if why is not None:
            return self._record(letter, box, source, "dropped", why)
        user = self._user(letter.sender)
        target = self._answered(letter)
        if target is not None:
            return self._comment(letter, box, source, target, user)
        return self._open(letter, box, source, user)

    def _open(self, letter: Letter, box: Mailbox, source: str, user: str | None) -> Receipt:
        fields = {**DEFAULT_FIELDS, **box.fields}
        name = (letter.sender_name or letter.sender.partition("@")[0])[:MAIL_IN_MAX_NAME_CHARS]
        name = name.strip()
        said = {
            "subject": letter.subject[:MAIL_IN_MAX_SUBJECT_CHARS] or "(no subject)",
            "body": letter.text.strip()[:MAIL_IN_MAX_BODY_CHARS] or "(no text)",
            "name": name,
            "email": letter.sender,
        }
        # A field named "" is one the workflow's start form does not have: left out.
        data = {**box.defaults, **{fields[k]: v for k, v in said.items() if fields[k]}}
        token = None if user else secrets.token_hex(24)
        link = f"{self.base_url}/track/{token}" if token and self.base_url else None
        stored, left_out = self._store(letter)
        why = f"opened from a mail by {letter.sender} to {box.address}"
        why += _left_out_words(left_out)

        def after(repo: Repository, instance: InstanceRow, at: datetime) -> None:
            add_files(repo, instance, stored, at, uploaded_by=user or REQUESTER)
            caller = None if user else {"name": name, "email": letter.sender}
            repo.connection.execute(
                update(Instance)
                .where(Instance.id == instance.id)
                .values(channel="email", caller=caller)
            )
            event = {
                "kind": "mailed",
                "at": at,
                "actor": user or REQUESTER,
                "why": why,
                "detail": {"mailbox": box.address, "message_id": letter.message_id},
            }
            record_events(repo, instance, [event], None, at)
            if token is not None:
                repo.connection.execute(
                    insert(TrackingLink),
                    {"instance_id": instance.id, "token_hash": token_hash(token), "created_at": at},
                )
                if link:
                    note = {"to": {"email": letter.sender}, "template": "request-received"}
                    repo.add_outbox([message_row(instance, "notify", {**note, "link": link}, at)])
            _insert_record(repo, letter, box.id, source, "opened", why, instance.id, at)
            # The start pages the service it is filed under by its escalation policy.

        try:
            result = self.commands.start(
                box.workflow_key,
                data,
                requester=user,
                key=_key(letter, box),
                after=after,
                check=start_check(user),
                source="email",
                service=box.service_key,  # none: the form's answer, if it gives one
            )
        except ServiceError as error:
            self._forget(stored)
            return self._record(letter, box, source, "refused", _refusal(error))
        return Receipt("opened", why, str(result["number"]), link)

    def _comment(
        self, letter: Letter, box: Mailbox, source: str, number: str, user: str | None
    ) -> Receipt:
        text = reply_text(letter.text) or letter.text.strip() or "(no text)"
        text = text[: self.commands.limits.max_comment_chars]
        question = self._question(number, user, letter.sender)
        if question is not None:
            answered = self._answer(letter, box, source, number, question, text)
            if answered is not None:
                return answered
        stored, left_out = self._store(letter)
        why = f"a reply by {letter.sender} to {number}" + _left_out_words(left_out)

        def body(uow: UnitOfWork, at: datetime) -> dict[str, Any]:
            repo = uow.repository
            instance = self.commands.locked_instance(repo, number)
            actor = self._part(repo, instance, user, letter.sender)
            if actor is None:
                raise _NoPart(f"{letter.sender} has no part in {number}")
            # Anyone's but the requester's is public when it was written to the requester
            # too (as Zendesk has it): an agent, or an approver, answering a mail only
            # Flowdesk got (the "assigned to you" notice) writes an internal note.
            public = actor in (REQUESTER, instance.requester) or bool(
                self._requester_addresses(repo, instance) & set(letter.recipients)
            )
            Commands._add_comment(repo, instance, text, actor, public, at, None)
            add_files(repo, instance, stored, at, uploaded_by=actor)
            _insert_record(repo, letter, box.id, source, "commented", why, instance.id, at)
            return {"number": number}

        try:
            self.commands.execute("mail_reply", _key(letter, box), body)
        except _NoPart as error:
            self._forget(stored)
            if not letter.is_reply and not letter.answers:
                # A new mail that names someone else's request ("the same as [INC-7]") is a
                # new request of the sender's, not a reply they may not write.
                return self._open(letter, box, source, user)
            return self._record(letter, box, source, "refused", str(error))
        except ServiceError as error:
            self._forget(stored)
            return self._record(letter, box, source, "refused", _refusal(error))
        return Receipt("commented", why, number)

    def _question(self, number: str, user: str | None, address: str) -> Question | None:
        """The question a requester's reply answers: the one open task the workflow gave the
        requester that takes a single answer (one outcome, and a form whose one required
        field is a text), as "Answer the service desk" does. None: the reply is a comment."""

        def read(session: Any) -> Question | None:
            repo = Repository(session.connection(), row_locks=False)
            found = repo.instance_id(number)
            instance = repo.instance(found) if found is not None else None
            if instance is None or instance.ended_at is not None:
                return None
            actor = self._part(repo, instance, user, address)
            if actor is None or actor not in (REQUESTER, instance.requester):
                return None
            tasks = session.scalars(
                select(Task).where(Task.instance_id == instance.id, Task.status == "open")
            ).all()
            mine = [t for t in tasks if t.assignment.get("requester")]
            if len(mine) != 1 or mine[0].form_version_id is None:
                return None
            task = mine[0]
            step = self.commands.registry.workflow(repo, instance.workflow_version_id).steps.get(
                task.step
            )
            if step is None or step.type != "task" or len(step.outcomes()) != 1:
                return None
            form = self.commands.forms.version(repo, task.form_version_id)
            required = [f for f in form.fields if f.get("required") is True]
            if len(required) != 1 or required[0]["type"] not in ("text", "textarea"):
                return None
            return Question(task.id, step.outcomes()[0], required[0]["key"], actor, step.label)

        found: Question | None = self.commands.read(read)
        return found

    def _answer(
        self, letter: Letter, box: Mailbox, source: str, number: str, question: Question, text: str
    ) -> Receipt | None:
        """Answer the requester's question with the reply's words, and keep its files; None
        when the answer is refused (too long for its field...): the reply is then a comment."""
        stored, left_out = self._store(letter)
        why = f"a reply by {letter.sender} answers '{question.label}' of {number}"
        why += _left_out_words(left_out)

        def after(repo: Repository, instance: InstanceRow, at: datetime) -> None:
            # In the answer's own transaction: the files and the record with it, or none.
            add_files(repo, instance, stored, at, uploaded_by=question.actor)
            _insert_record(repo, letter, box.id, source, "answered", why, instance.id, at)

        try:
            self.commands.complete(
                question.task_id,
                question.outcome,
                {question.field: text},
                actor=question.actor,
                key=_key(letter, box),
                requester_of=number if question.actor == REQUESTER else None,
                after=after,
            )
        except ServiceError as error:
            self._forget(stored)
            if error.code in ("busy", "unavailable"):
                raise  # ours to fix: the mail is taken again later
            return None  # answered meanwhile, too long for its field...: a comment then
        return Receipt("answered", why, number)

    # Deciding --------------------------------------------------------------------------------

    def _mailbox(self, addresses: Sequence[str]) -> Mailbox | None:
        wanted = [a.strip().lower().strip("<>") for a in addresses if a.strip()]
        if not wanted:
            return None
        with self.commands.database.reading() as session:
            found = session.scalars(
                select(Mailbox).where(Mailbox.address.in_(wanted), Mailbox.active)
            ).all()
            session.expunge_all()
        by_address = {box.address: box for box in found}
        return next((by_address[a] for a in wanted if a in by_address), None)

    def _earlier(self, message_id: str, mailbox_id: int) -> Receipt | None:
        """The receipt of the same mail received before, if it was taken."""
        with self.commands.database.reading() as session:
            row = session.execute(
                select(InboundMail.outcome, InboundMail.reason, Instance.number)
                .outerjoin(Instance, Instance.id == InboundMail.instance_id)
                .where(
                    InboundMail.message_id == message_id,
                    InboundMail.mailbox_id == mailbox_id,
                    InboundMail.outcome.in_(TAKEN),
                )
            ).first()
        if row is None:
            return None
        return Receipt(row.outcome, row.reason, row.number, repeated=True)

    def _flooding(self, sender: str) -> str | None:
        """Say why a sender writes too often to be a person (two machines answering each
        other), or None."""
        now = self.commands.clock()
        hour = now - timedelta(hours=1)
        minute = now - MAIL_IN_FLOOD_WINDOW
        with self.commands.database.reading() as session:
            row = session.execute(
                select(
                    func.count(),
                    func.count().filter(InboundMail.received_at >= minute),
                )
                .select_from(InboundMail)
                .where(InboundMail.sender == sender, InboundMail.received_at >= hour)
            ).one()
        if int(row[1] or 0) >= MAIL_IN_FLOOD_LIMIT:
            seconds = int(MAIL_IN_FLOOD_WINDOW.total_seconds())
            return f"{sender} sent more than {MAIL_IN_FLOOD_LIMIT} mails within {seconds} seconds"
        if int(row[0] or 0) >= MAIL_IN_FLOOD_HOURLY_LIMIT:
            return f"{sender} sent more than {MAIL_IN_FLOOD_HOURLY_LIMIT} mails within an hour"
        return None

    def _user(self, address: str) -> str | None:
        """The active user with this address (the first by name when several share it)."""
        with self.commands.database.reading() as session:
            return session.scalar(
                select(User.username)
                .where(func.lower(User.email) == address, User.active)
                .order_by(User.username)
                .limit(1)
            )

    def _answered(self, letter: Letter) -> str | None:
        """The number of the instance a mail answers, by its subject or its headers."""
        with self.commands.database.reading() as session:
            for number in letter.numbers():
                if session.scalar(select(Instance.id).where(Instance.number == number)):
                    return number
            if not letter.answers:
                return None
            return session.scalar(
                select(Instance.number)
                .join(Outbox, Outbox.instance_id == Instance.id)
                .join(SentMail, SentMail.outbox_id == Outbox.id)
                .where(SentMail.message_id.in_(letter.answers))
                .limit(1)
            )

    def _part(
        self, repo: Repository, instance: InstanceRow, user: str | None, address: str
    ) -> str | None:
        """Who the sender acts as on this instance: a user, the requester, or None (no part)."""
        if user is not None:
            if instance.requester == user or repo.is_agent(user):
                return user
            held = repo.connection.scalar(
                select(Task.id)
                .where(
                    Task.instance_id == instance.id,
                    or_(
                        Task.assignee == user,
                        Task.delegated_by == user,
                        Task.completed_by == user,
                    ),
                )
                .limit(1)
            )
            if held is not None:
                return user
        if instance.requester is not None:
            return None
        return REQUESTER if address in self._requester_addresses(repo, instance) else None

    def _requester_addresses(self, repo: Repository, instance: InstanceRow) -> set[str]:
        """The addresses the instance's requester is known by: their account's, or the
        address a caller without an account gave (its caller, its `confirm_to` field)."""
        if instance.requester is not None:
            email = repo.connection.scalar(
                select(User.email).where(User.username == instance.requester)
            )
            return {email.lower()} if email else set()
        caller = repo.connection.scalar(select(Instance.caller).where(Instance.id == instance.id))
        found = {str((caller or {}).get("email", "")).lower()}
        workflow = self.commands.registry.workflow(repo, instance.workflow_version_id)
        field = workflow.start.get("confirm_to")
        if isinstance(field, str):
            found.add(str((instance.state.get("data") or {}).get(field, "")).lower())
        return found - {""}

    # Keeping ---------------------------------------------------------------------------------

    def _store(self, letter: Letter) -> tuple[list[NewFile], list[str]]:
        """Write a mail's files to disk; return them, and the names of those too large."""
        stored, left_out = [], []
        for enclosure in letter.enclosures:
            if len(enclosure.content) > MAIL_IN_MAX_FILE_BYTES:
                left_out.append(enclosure.filename)
                continue
            kept = self.files.put(io.BytesIO(enclosure.content), limit=MAIL_IN_MAX_FILE_BYTES)
            name = safe_filename(enclosure.filename)
            stored.append(
                NewFile(
                    None,
                    name,
                    sniff(enclosure.content[:512], name),  # not the type the mail declares
                    kept.size,
                    kept.sha256,
                    kept.key,
                )
            )
        return stored, left_out

    def _forget(self, stored: Sequence[NewFile]) -> None:
        for file in stored:
            self.files.delete(file.storage_key)

    def _record(
        self, letter: Letter, box: Mailbox | None, source: str, outcome: str, reason: str
    ) -> Receipt:
        def body(uow: UnitOfWork, at: datetime) -> None:
            mailbox_id = box.id if box is not None else None
            _insert_record(uow.repository, letter, mailbox_id, source, outcome, reason, None, at)

        self.commands.execute("mail_record", None, body)
        return Receipt(outcome, reason)


def configured(
    commands: Commands, files: FileStore, environ: Mapping[str, str] | None = None
) -> MailIntake:
    """The intake as every door builds it from the environment.

    Mail from the relay's own sender (`FLOWDESK_SMTP_FROM`) is a loop; tracking links in
    confirmations are made on `FLOWDESK_BASE_URL` (without it, none is mailed).
    """
    env = os.environ if environ is None else environ
    return MailIntake(
        commands,
        files,
        own_addresses=[relay_settings(env).smtp_from],
        base_url=env.get("FLOWDESK_BASE_URL"),
    )


@dataclass(frozen=True, slots=True)
class Question:
    """A requester's task a mail may answer: its task, its one outcome, the field the
    answer goes in, who answers (a user, or `REQUESTER`), and the step's label."""

    task_id: int
    outcome: str
    field: str
    actor: str
    label: str


class _NoPart(Exception):
    """The sender of a reply has no part in the instance it names."""


def _view(box: Mailbox) -> MailboxView:
    return MailboxView(
        box.address, box.workflow_key, box.service_key, box.fields, box.defaults, box.active
    )


def _addressees(message: Any) -> list[str]:
    """The addresses a mail was sent to, the delivery's own first."""
    return addressed(message, ("delivered-to", "x-original-to", "to", "cc"))


def _key(letter: Letter, box: Mailbox) -> str:
    digest = hashlib.sha256(f"{box.id}\n{letter.message_id}".encode()).hexdigest()
    return f"mail:{digest[:40]}"


def _left_out_words(left_out: list[str]) -> str:
    if not left_out:
        return ""
    limit = MAIL_IN_MAX_FILE_BYTES // (1024 * 1024)
    return f"; left out, larger than {limit} MB: {', '.join(left_out)}"


def _refusal(error: ServiceError) -> str:
    lines = [error.message] + [f"{p.pointer}: {p.message}" for p in error.problems]
    return "; ".join(dict.fromkeys(lines))


def _insert_record(
    repo: Repository,
    letter: Letter,
    mailbox_id: int | None,
    source: str,
    outcome: str,
    reason: str,
    instance_id: int | None,
    at: datetime,
) -> None:
    repo.connection.execute(
        insert(InboundMail),
        {
            "mailbox_id": mailbox_id,
            "message_id": letter.message_id,
            "sender": letter.sender[:320],
            "subject": letter.subject[:998],
            "size": letter.size,
            "source": source,
            "outcome": outcome,
            "reason": reason,
            "instance_id": instance_id,
            "received_at": at,
        },
    )


def _defaults_problem(
    workflow: str, error: FieldError, named: Mapping[str, str], defaults: Mapping[str, Any]
) -> Problem:
    """Place a start form's complaint about a mailbox: its defaults, the mail's part that
    fills the field, or the field no one fills."""
    top = error.field.split(".")[0]
    if top in defaults:
        return Problem(f"/defaults{error.pointer}", f"defaults{error.pointer}: {error.message}")
    parts = [part for part, target in named.items() if target == top]
    if parts:
        words = f"the mail's {parts[0]} fills '{top}' of {workflow}'s start form: {error.message}"
        return Problem("/fields", words)
    words = f"'{top}' of {workflow}'s start form: {error.message} (give it in the defaults)"
    return Problem("/defaults", words)
