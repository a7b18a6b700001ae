"""Every table, importable from one place (for Alembic and for the service layer)."""

from engine.store.base import Base
from engine.store.casework import InstanceLink
from engine.store.definitions import Definition, DefinitionVersion
from engine.store.instances import (
    Attachment,
    Command,
    Comment,
    Counter,
    Event,
    Instance,
    Outbox,
    StepRun,
    Task,
    Timer,
    TrackingLink,
)
from engine.store.notifications import Notification, NotificationSettings, SentMail
from engine.store.people import ApiToken, Group, Membership, OnCallShift, SignInSession, User
from engine.store.search import SavedView

__all__ = [
    "ApiToken",
    "Attachment",
    "Base",
    "Command",
    "Comment",
    "Counter",
    "Definition",
    "DefinitionVersion",
    "Event",
    "Group",
    "Instance",
    "InstanceLink",
    "Membership",
    "Notification",
    "NotificationSettings",
    "OnCallShift",
    "Outbox",
    "SavedView",
    "SentMail",
    "SignInSession",
    "StepRun",
    "Task",
    "Timer",
    "TrackingLink",
    "User",
]
