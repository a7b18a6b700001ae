"""What every request carries: an id on its log lines and its work, and a latency measure.

The id comes from the `X-Request-Id` header when it is sane (at most 64 letters, digits
and `._:@/+=-`, as a proxy or a load balancer makes them), else it is made up here. It is
answered in the `X-Request-Id` header, put on every log line written while the request is
served, and written by the store on the outbox messages and timers its command adds, so
the worker's log lines about them carry it too (`engine.logs`).

Latency is observed per route: the URL rule (`/track/<token>`), never the path itself, so
the number of series stays the number of routes, and no secret in a path reaches Prometheus.
The access log line names the route too, for the same reasons.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, current_app, g, request

from engine import logs, observability

#: The header a request id comes in and goes out in.
HEADER = "X-Request-Id"
#: The route label of a request that matched no route (404, 405).
UNMATCHED = "<unmatched>"
#: Methods counted by name; any other (a client may send any word) is counted as `other`,
#: so no client can add series to the metrics.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

access = logging.getLogger("flowdesk.access")


def _begin() -> None:
    given = logs.sane_request_id(request.headers.get(HEADER))
    g.request_id = given or logs.new_request_id()
    g.request_token = logs.enter_request(g.request_id)
    g.request_began = time.perf_counter()


def _answer(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id is None:  # an answer made before this module's first hook ran
        return response
    response.headers[HEADER] = request_id
    seconds = time.perf_counter() - g.request_began
    rule = request.url_rule
    route = rule.rule if rule is not None else UNMATCHED
    method = request.method if request.method in METHODS else "other"
    if current_app.config["METRICS"]:
        observability.observe_request(route, method, response.status_code, seconds)
    if access.isEnabledFor(logging.INFO):
        access.info(
            "%s %s %s in %.1f ms",
            method,
            route,
            response.status_code,
            seconds * 1000,
            extra={
                "method": method,
                "route": route,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 3),
            },
        )
    return response


def _end(_error: BaseException | None) -> None:
    token = g.pop("request_token", None)
    if token is not None:
        logs.leave_request(token)


def init_app(app: Flask) -> None:
    """Give every request an id and (unless `METRICS` is off) a latency measure.

    Called before the other parts register their hooks, so the id is set before any
    of theirs runs, and the latency includes their work.
    """
    app.before_request(_begin)
    app.after_request(_answer)
    app.teardown_request(_end)
