"""What operators and their monitors ask of the web app, and what every request carries.

`GET /health` and `GET /ready` (`health`), `GET /metrics` (`metrics`), the request id and
latency of every request (`requests`), and the process's log format. See
docs/observability.md.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from engine import logs
from engine.observability import MULTIPROC_ENV
from web.ops import health, metrics, requests

#: Settings of this part (Flask config keys; each can be set as FLOWDESK_<KEY>).
DEFAULTS: dict[str, Any] = {
    #: `text` or `json` (one JSON object per line). Unset in tests: the runner owns logging.
    "LOG_FORMAT": None,
    #: The root logger's level (INFO shows one access line per request); unset: WARNING.
    "LOG_LEVEL": None,
    #: Observe request latency and serve /metrics.
    "METRICS": True,
    #: A bearer token that lets anyone who has it scrape /metrics; unset: loopback only.
    "METRICS_TOKEN": None,
    #: Where the processes write their histograms; unset: PROMETHEUS_MULTIPROC_DIR.
    "METRICS_DIR": None,
}


def init_app(app: Flask) -> None:
    """Set up logging, then the request hooks (before any other part's), then the endpoints."""
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    app.config["METRICS_DIR"] = app.config["METRICS_DIR"] or os.environ.get(MULTIPROC_ENV)
    if app.config["LOG_FORMAT"] is not None or not app.testing:
        logs.configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    requests.init_app(app)
    health.init_app(app)
    metrics.init_app(app)
