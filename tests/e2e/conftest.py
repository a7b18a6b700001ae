"""The portal served by waitress, the production WSGI server, and driven by a real Chromium.

The database and Redis fixtures come from `tests.infrastructure`. These tests run on
SQLite only: the browser proves the pages and their script, which do not depend on the
database behind them, and the web and integration suites already run on PostgreSQL.

Chromium is the system one (`chromium` on the PATH). Without it the tests skip with a
loud reason, except under CI (`CI=true`), where a skipped browser test is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright
from redis import Redis

from engine.service.commands import Commands, utcnow
from web.app import create_app
from web.cli.stack import serve_in_thread

#: Flags for a headless Chromium in a container: no sandbox, no GPU, no calls home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

#: How long a click or fill waits for its element, in milliseconds (as `expect` does).
ACTION_TIMEOUT_MS = 5_000

#: Reports every Content Security Policy violation of every page, before its own scripts run.
CSP_WATCH = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportCspViolation(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated SQLite file of this test's own (SQLite only: see the module docstring)."""
    path = tmp_path / "flowdesk.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def clock() -> Callable[[], datetime]:
    """The real clock: the server behind the browser reads it, so the service desk must too."""
    return utcnow


@pytest.fixture
def portal(
    database_url: str, redis: Redis, redis_url: str, commands: Commands, tmp_path: Path
) -> Iterator[str]:
    """Serve the app, holding the shipped pack, with waitress on a free port; yield its URL."""
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": "e2e-secret-" * 4,
            "UPLOAD_FOLDER": str(tmp_path / "files"),
            "PORTAL_RATE_LIMIT": "1000 per minute",
        }
    )
    with serve_in_thread(app, threads=8) as url:
        yield url


def chromium_path() -> str:
    """Find the system Chromium, or skip (fail under CI) with the reason."""
    found = shutil.which("chromium")
    if found:
        return found
    reason = (
        "NO CHROMIUM: the browser tests in tests/e2e did not run. "
        "Install it (Debian: apt-get install chromium) so `chromium` is on the PATH."
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} Under CI a skipped browser test is a failure.", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole session."""
    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@dataclass
class Problems:
    """What went wrong inside the page: console errors, uncaught exceptions, CSP violations."""

    console: list[str] = field(default_factory=list)
    uncaught: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)

    def expect(self, text: str) -> None:
        """Accept console errors holding `text` (with their URL): Chromium logs every 4xx."""
        self.expected.append(text)

    def on_console(self, message: ConsoleMessage) -> None:
        said = f"{message.text} ({message.location.get('url', '')})"
        if message.type == "error" and not any(text in said for text in self.expected):
            self.console.append(said)

    def on_error(self, error: Any) -> None:
        self.uncaught.append(str(error))

    def on_csp_violation(self, text: str) -> None:
        self.csp.append(text)

    def all(self) -> list[str]:
        return [
            *(f"console: {text}" for text in self.console),
            *(f"uncaught: {text}" for text in self.uncaught),
            *(f"CSP: {text}" for text in self.csp),
        ]


@pytest.fixture
def page(browser: Browser, portal: str) -> Iterator[Page]:
    """A fresh browser context and page on the portal; closed before the server stops."""
    context = browser.new_context(base_url=portal)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    yield context.new_page()
    context.close()


@pytest.fixture
def problems(page: Page) -> Problems:
    """Watch the page, from before its first load, for errors and CSP violations."""
    return watch(page)


def watch(page: Page) -> Problems:
    """Watch a page, from before its first load, for errors and CSP violations."""
    problems = Problems()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_error)
    page.expose_function("reportCspViolation", problems.on_csp_violation)
    page.add_init_script(CSP_WATCH)
    return problems


@dataclass
class Window:
    """One person's own browser context (own cookies, own session) and its watched page."""

    page: Page
    problems: Problems


@pytest.fixture
def open_window(browser: Browser, portal: str) -> Iterator[Callable[[], Window]]:
    """Open a browser context per person, so several can be signed in at once."""
    contexts: list[BrowserContext] = []

    def open_one() -> Window:
        context = browser.new_context(base_url=portal)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        return Window(page, watch(page))

    yield open_one
    for context in contexts:
        context.close()


#: axe impacts that fail a page.
BLOCKING = ("serious", "critical")


def blocking_violations(page: Page, where: str) -> list[str]:
    """Scan the page with axe-core; describe each serious or critical violation."""
    results = Axe().run(page)
    found = []
    for violation in results.response["violations"]:
        if violation["impact"] not in BLOCKING:
            continue
        found.append(
            f"{where}: {violation['id']} ({violation['impact']}): {violation['help']}"
            f" [{violation['helpUrl']}]"
        )
        for node in violation["nodes"]:
            found.append(f"    at {', '.join(node['target'])}: {node['html'][:160]}")
    return found
