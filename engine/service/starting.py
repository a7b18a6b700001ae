"""Starting a workflow, by whoever its `start.by` lets, and logging a call for a caller.

Every door that starts an instance for a person goes through here (the "New request"
page, the REST API, `flowdesk start`), and the portal's public form asks the same rule
(`require_may_start`): `anyone` (people without an account too), `signed_in`, or the
members of named groups (and admins). The rule is decided in the start's transaction,
on the very version that starts, before its data is read.

An agent logs a call for a caller: a user (who becomes the requester and finds it in
"My requests"), or someone without an account (a name, and an email address or phone
number), who gets a tracking link by mail when they gave an address. The channel and
who logged it are kept on the instance and on its timeline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from engine.core.definition import ADDRESS_FIELD, Workflow
from engine.core.errors import Problem
from engine.core.starters import start_rule
from engine.service.apply import message_row, record_events
from engine.service.commands import SOURCE_FIELD, AfterStart, Commands, Result
from engine.service.errors import InvalidInput, NotAllowed, NotFound
from engine.service.person import Person
from engine.service.published import PublicStart, Published
from engine.service.requests import NewFile, add_files, token_hash
from engine.service.starters import allows, require_may_start, start_check
from engine.store.instances import Instance, TrackingLink
from engine.store.people import User
from engine.store.repository import InstanceRow, Repository

#: How a call reached the desk, and how pages say it.
CHANNELS = {
    "phone": "a phone call",
    "email": "an email",
    "chat": "a chat",
    "walk_in": "a walk-in visit",
    "sms": "a text message (SMS)",
}

#: Longest caller name, email address and phone number.
MAX_NAME_CHARS = 200
MAX_EMAIL_CHARS = 254
MAX_PHONE_CHARS = 40


@dataclass(frozen=True, slots=True)
class Startable:
    """A workflow a person may start from a form: key, title and what it is for."""

    key: str
    title: str
    description: str


@dataclass(frozen=True, slots=True)
class Caller:
    """Who called: a user, or someone without an account (a name, an address or a phone)."""

    user: str | None = None
    name: str = ""
    email: str = ""
    phone: str = ""

    def words(self) -> str:
        if self.user:
            return self.user
        reach = ", ".join(part for part in (self.email, self.phone) if part)
        return f"{self.name} ({reach})" if reach else self.name

    def to_dict(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (("name", self.name), ("email", self.email), ("phone", self.phone))
            if v
        }


class Starting:
    """Starting instances for people, and logging calls for callers."""

    def __init__(self, commands: Commands, published: Published) -> None:
        self.commands = commands
        self.published = published

    def startable(self, person: Person | None) -> list[Startable]:
        """Return the workflows with a start form this person may start, by title."""
        found = []
        for key, title in self.published.workflows():
            workflow = self.published.workflow(key)
            if workflow.start.get("form") and allows(start_rule(workflow.start), person):
                found.append(Startable(key, title, self.published.requesters_words(workflow)))
        return found

    def start_form(self, person: Person | None, workflow_key: str) -> PublicStart:
        """Return a workflow and its start form for a person who may start it.

        NotFound for a workflow that does not exist or has no start form; NotAllowed for
        one this person may not start.
        """
        workflow = self.published.workflow(workflow_key)
        form_key = workflow.start.get("form")
        if not form_key:
            raise NotFound(f"'{workflow_key}' has no start form to fill in")
        if not allows(start_rule(workflow.start), person):
            raise NotAllowed(f"you may not start '{workflow.title}'")
        form_version, form = self.published.form(form_key)
        return PublicStart(workflow, form, form_version)

    def start(
        self,
        workflow_key: str,
        data: dict[str, Any],
        *,
        person: str | None,
        key: str | None = None,
        form_version: int | None = None,
        files: Sequence[NewFile] = (),
        page: bool = False,
        token: str | None = None,
        link: str | None = None,
    ) -> Result:
        """Start an instance with `person` as its requester, if the workflow lets them.

        `page`: sent from a form page, whose hidden fields keep their defaults; else a
        script's, which may set them, a hidden `source` being `api` unless it says.

        Started for nobody (a public workflow, from the command line), the requester follows
        it by a tracking link, as on the portal: `token` (refused without one: nobody could
        follow or answer it); `link` is its address, mailed to the workflow's `confirm_to`
        address when the data gives one.
        """
        address = None
        if person is None:
            workflow = self.published.workflow(workflow_key)
            if not token and allows(start_rule(workflow.start), None):  # else: "sign in"
                raise InvalidInput(
                    "a request started for nobody needs a tracking link, or nobody could "
                    "follow or answer it: say who starts it"
                )
            found = data.get(str(workflow.start.get("confirm_to") or ""))
            address = found.strip() if isinstance(found, str) and found.strip() else None

        def after(repo: Repository, instance: InstanceRow, at: datetime) -> None:
            add_files(repo, instance, files, at, uploaded_by=person)
            if person is None and token:
                _track(repo, instance, token, link, address, at)

        return self.commands.start(
            workflow_key,
            data,
            requester=person,
            key=key,
            after=after,
            form_version=form_version,
            check=start_check(person),
            hidden={} if page else None,
            source=None if page else "api",
        )

    def _with_caller(
        self, workflow_key: str, data: dict[str, Any], caller: Caller
    ) -> dict[str, Any]:
        """Fill in what is known of the caller once: their name and address (said on the
        call, or a user's own) in the start form's fields for them (`name`, the workflow's
        `confirm_to`), where the data leaves them empty, so the desk does not type them
        twice."""
        fields = self.caller_fields(workflow_key)
        if not any(fields):
            return data  # none to fill, or no start form: the start says why
        name, email = caller.name, caller.email
        if caller.user is not None:
            with self.commands.database.reading() as session:
                found = session.execute(
                    select(User.name, User.email).where(User.username == caller.user)
                ).first()
            name, email = (found.name or caller.user, found.email or "") if found else ("", "")
        filled = dict(data)
        for key, value in zip(fields, (name, email), strict=True):
            if key and value and filled.get(key) in (None, ""):
                filled[key] = value
        return filled

    def caller_fields(self, workflow_key: str) -> tuple[str | None, str | None]:
        """The start form's fields a call fills from what the desk says of its caller: the
        name (`name`) and the address (the workflow's `confirm_to`), each None where the
        form has no such field. A page that logs a call leaves them out: the caller is
        asked for once, in the desk's words, not as the form asks ("Your name")."""
        try:
            workflow = self.published.workflow(workflow_key)
            _version, form = self.published.form(str(workflow.start.get("form") or ""))
        except NotFound:
            return (None, None)
        keys = {f["key"] for f in form.fields if f["type"] != "hidden"}
        address = str(workflow.start.get("confirm_to") or ADDRESS_FIELD)
        return ("name" if "name" in keys else None, address if address in keys else None)

    def log_call(
        self,
        workflow_key: str,
        data: dict[str, Any],
        *,
        agent: str,
        channel: str,
        caller: Caller,
        key: str | None = None,
        form_version: int | None = None,
        token: str | None = None,
        link: str | None = None,
        files: Sequence[NewFile] = (),
    ) -> Result:
        """Start an instance for a caller, as an agent, recording the channel.

        A caller without an account gets a tracking link (`token`; `link` is its address,
        mailed to them when they gave an email address).
        """
        try:
            caller = _checked_caller(caller)
        except InvalidInput as refused:  # every problem of the call at once, the channel too
            problems = [*_channel_problems(channel), *refused.problems]
            raise InvalidInput(refused.message, problems) from None
        for problem in _channel_problems(channel):
            raise InvalidInput(problem.message, [problem])
        if caller.user is None and not token:
            raise InvalidInput("a caller without an account needs a tracking link")

        def check(repo: Repository, workflow: Workflow) -> None:
            if not repo.is_agent(agent):
                raise NotAllowed("only the service desk logs calls for callers")
            if caller.user is not None and caller.user not in repo.active_users([caller.user]):
                message = f"there is no active user '{caller.user}'"
                raise InvalidInput(message, [Problem("/caller", message)])
            require_may_start(repo, workflow, agent)

        after = _logged(agent, channel, caller, token, link, key, files)
        return self.commands.start(
            workflow_key,
            self._with_caller(workflow_key, data, caller),
            requester=caller.user,
            key=key,
            after=after,
            form_version=form_version,
            check=check,
            hidden={SOURCE_FIELD: channel},  # where it came from is the call's channel
        )


def _logged(
    agent: str,
    channel: str,
    caller: Caller,
    token: str | None,
    link: str | None,
    key: str | None,
    files: Sequence[NewFile],
) -> AfterStart:
    def after(repo: Repository, instance: InstanceRow, at: datetime) -> None:
        add_files(repo, instance, files, at, uploaded_by=agent)
        repo.connection.execute(
            update(Instance)
            .where(Instance.id == instance.id)
            .values(
                channel=channel,
                logged_by=agent,
                caller=caller.to_dict() if caller.user is None else None,
            )
        )
        event = {
            "kind": "logged",
            "at": at,
            "actor": agent,
            "why": f"from {CHANNELS[channel]} by {caller.words()}",
            "detail": {"channel": channel, "logged_by": agent, "caller": caller.words()},
        }
        record_events(repo, instance, [event], key, at)
        if caller.user is None and token is not None:
            _track(repo, instance, token, link, caller.email or None, at)

    return after


def _track(
    repo: Repository,
    instance: InstanceRow,
    token: str,
    link: str | None,
    address: str | None,
    at: datetime,
) -> None:
    """Give a requester without an account the tracking link `token` opens; mail its address
    (`link`) to `address`, when there are both."""
    repo.connection.execute(
        insert(TrackingLink),
        {"instance_id": instance.id, "token_hash": token_hash(token), "created_at": at},
    )
    if address and link:
        confirmation = {"to": {"email": address}, "template": "request-received", "link": link}
        repo.add_outbox([message_row(instance, "notify", confirmation, at)])


def _channel_problems(channel: str) -> list[Problem]:
    if channel in CHANNELS:
        return []
    message = f"'{channel}' is not a channel; choose one of: {', '.join(CHANNELS)}"
    return [Problem("/channel", message)]


def _checked_caller(caller: Caller) -> Caller:
    """Trim a caller and refuse one that names nobody, or gives a broken address."""
    user = (caller.user or "").strip() or None
    name, email, phone = caller.name.strip(), caller.email.strip(), caller.phone.strip()
    problems = []
    if user is not None:
        if name or email or phone:
            problems.append(
                Problem("/caller", "choose a user, or give a name without an account, not both")
            )
        return Caller(user) if not problems else _refuse(problems)
    if not name:
        problems.append(Problem("/caller/name", "give the caller's name, or choose a user"))
    elif len(name) > MAX_NAME_CHARS:
        problems.append(Problem("/caller/name", f"at most {MAX_NAME_CHARS} characters"))
    elif any(not character.isprintable() for character in name):
        # A line break or an escape sequence in a name forges lines wherever it is shown
        # (`flowdesk show` printed a timeline line the name made up).
        problems.append(Problem("/caller/name", "a name is one line, without control characters"))
    if not email and not phone:
        problems.append(
            Problem("/caller/email", "give an email address or a phone number to reach them")
        )
    if email and email_problem(email):
        problems.append(Problem("/caller/email", email_problem(email) or ""))
    if phone and (len(phone) > MAX_PHONE_CHARS or not _phone_like(phone)):
        problems.append(
            Problem("/caller/phone", "a phone number holds digits, spaces and + ( ) - . only")
        )
    if problems:
        _refuse(problems)
    return Caller(None, name, email, phone)


def _refuse(problems: list[Problem]) -> Caller:
    raise InvalidInput("the caller is not complete: " + problems[0].message, problems)


def email_problem(address: str) -> str | None:
    if len(address) > MAX_EMAIL_CHARS:
        return f"at most {MAX_EMAIL_CHARS} characters"
    local, at, domain = address.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain
        or any(c.isspace() or ord(c) < 32 or c in ",;<>" for c in address)
        or "@" in local
    ):
        return "one email address, like name@example.org"
    return None


def _phone_like(phone: str) -> bool:
    return any(c.isdigit() for c in phone) and all(c.isdigit() or c in " +()-./" for c in phone)


def channel_words(channel: str | None) -> str | None:
    """Say a channel as pages do ("a phone call"); None when nobody logged the request."""
    return CHANNELS.get(channel or "")


def caller_words(caller: Mapping[str, Any] | None) -> str | None:
    """Say a caller without an account in a line: name (email, phone)."""
    if not caller:
        return None
    return Caller(
        None, caller.get("name", ""), caller.get("email", ""), caller.get("phone", "")
    ).words()
