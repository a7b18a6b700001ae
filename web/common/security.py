"""The web app's guards: CSRF on every form post, rate limits, security headers.

Each comes from a well-kept Flask extension; this module only configures them.
"""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

csrf = CSRFProtect()
#: No X-RateLimit headers on every answer: working them out cost a Redis round trip per
#: limited request, a tenth of a public report's time. A 429 says Retry-After (web.common.errors).
limiter = Limiter(get_remote_address, headers_enabled=False)
talisman = Talisman()

#: Where scripts, styles and images may come from: this server only; no inline script.
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def init_app(app: Flask) -> None:
    if app.config["TRUSTED_PROXIES"]:
        # The rate limit counts per client address: behind N proxies, believe N hops.
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    csrf.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"] or "memory://")
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "flowdesk-limits")
    # Redis away: each process counts in its own memory until it is back, and a limit that
    # cannot be counted at all lets the request through, logged: a rate limit must not
    # take the portal down with it (it answered 500, and kept nothing).
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    limiter.init_app(app)
    https = bool(app.config["HTTPS"])
    talisman.init_app(
        app,
        force_https=https,
        strict_transport_security=https,
        session_cookie_secure=https,
        content_security_policy=CONTENT_SECURITY_POLICY,
        # Tracking links carry their secret in the path: never send it on as a referrer.
        referrer_policy="no-referrer",
        frame_options="DENY",
    )
