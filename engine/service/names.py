"""What people, groups and addresses may be called: the checks every door shares.

Each check returns a list of problems pointing at the field (`/username`, `/email`), empty
when the value is fine; the admin pages and the command line (`engine.service.people`)
refuse a new user or group with them.
"""

from __future__ import annotations

import re

from engine.core.errors import Problem

#: Usernames and group keys: short, lower case, safe in a URL and on a command line.
KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
#: Enough to catch a slip of the keyboard; the mail server is the real judge. No control
#: characters: a NUL no database keeps, a line break would split a mail header.
EMAIL_PATTERN = re.compile(r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$")
#: Characters no name may hold: control characters (a NUL no database keeps).
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Longest name of a user or a group.
MAX_NAME = 200
#: Words with a meaning of their own, which a user by that name would be mistaken for:
#: the workflow language's recipients and `not_by` (`requester`, `assignee`,
#: `candidates`), its escalation targets (`manager`, `next_tier`) and the engine acting by
#: itself (`flowdesk`, `system`). Whoever acts through a tracking link is recorded as
#: `~requester` (`engine.service.requests.REQUESTER`), which no username can spell.
RESERVED_USERNAMES = frozenset(
    {"requester", "assignee", "candidates", "manager", "next_tier", "flowdesk", "system"}
)


def name_problems(name: str) -> list[Problem]:
    """Say what is wrong with a person's or a group's name, if anything."""
    if len(name) > MAX_NAME:
        return [Problem("/name", f"the name can have at most {MAX_NAME} characters")]
    if CONTROL.search(name):
        return [Problem("/name", "the name cannot hold control characters such as line breaks")]
    return []


def username_problems(username: str) -> list[Problem]:
    """Say what is wrong with a new username, if anything."""
    if username in RESERVED_USERNAMES:
        return [
            Problem(
                "/username",
                f"'{username}' has a meaning of its own in workflows and timelines; "
                "choose another username",
            )
        ]
    if KEY_PATTERN.match(username):
        return []
    return [
        Problem(
            "/username",
            "a username is 1 to 80 lower-case letters, digits, dots, dashes or underscores",
        )
    ]


def group_key_problems(key: str) -> list[Problem]:
    """Say what is wrong with a new group's key, if anything."""
    if KEY_PATTERN.match(key):
        return []
    return [
        Problem("/key", "a key is 1 to 80 lower-case letters, digits, dots, dashes or underscores")
    ]


def email_problems(email: str | None) -> list[Problem]:
    """Say what is wrong with an email address, if anything (none is fine)."""
    if email and (len(email) > 320 or not EMAIL_PATTERN.match(email)):
        return [Problem("/email", "enter an email address like name@example.org")]
    return []
