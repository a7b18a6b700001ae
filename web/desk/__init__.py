"""The service desk's pages for signed-in people: the inbox, tasks, instances, their account."""

from __future__ import annotations

from flask import Flask

from web.desk import account, inbox, instances, notifications, problems, requests, search


def init_app(app: Flask) -> None:
    inbox.init_app(app)
    instances.init_app(app)
    search.init_app(app)
    account.init_app(app)
    requests.init_app(app)
    notifications.init_app(app)
    problems.init_app(app)
