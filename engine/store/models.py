"""Every table, importable from one place (for Alembic and for the service layer)."""

from engine.store.base import Base
from engine.store.casework import InstanceLink
from engine.store.definitions import Definition, DefinitionVersion
from engine.store.insight import IncidentFigures
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
from engine.store.mailboxes import InboundMail, Mailbox
from engine.store.notifications import Notification, NotificationSettings, SentMail
from engine.store.oncall import EscalationPolicy, OnCallFeed, OnCallOverride, OnCallSchedule
from engine.store.paging import Page
from engine.store.people import ApiToken, Group, Membership, OnCallShift, SignInSession, User
from engine.store.postmortems import Postmortem, PostmortemRevision
from engine.store.retention import ArchivedInstance, RetentionPolicy
from engine.store.search import SavedView
from engine.store.services import Alert, AlertKey, Integration, Service

__all__ = [
    "Alert",
    "AlertKey",
    "ApiToken",
    "ArchivedInstance",
    "Attachment",
    "Base",
    "Command",
    "Comment",
    "Counter",
    "Definition",
    "DefinitionVersion",
    "EscalationPolicy",
    "Event",
    "Group",
    "InboundMail",
    "IncidentFigures",
    "Instance",
    "InstanceLink",
    "Integration",
    "Mailbox",
    "Membership",
    "Notification",
    "NotificationSettings",
    "OnCallFeed",
    "OnCallOverride",
    "OnCallSchedule",
    "OnCallShift",
    "Outbox",
    "Page",
    "Postmortem",
    "PostmortemRevision",
    "RetentionPolicy",
    "SavedView",
    "SentMail",
    "Service",
    "SignInSession",
    "StepRun",
    "Task",
    "Timer",
    "TrackingLink",
    "User",
]
