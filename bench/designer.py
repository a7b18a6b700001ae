"""The form designer with a 200-field form, in headless Chromium: how long it takes to open
and how long an edit takes to show.

Serves the web app with waitress in this process over a fresh SQLite database and a real
Redis (`REDIS_URL`, else the embedded one), saves a draft of `--fields` fields, signs a
designer in, and measures in the page:

- `open_ms`: from navigation start until the draft is loaded and drawn (the page marks
  itself `data-ready`), the median over `--opens` loads;
- `edit_ms`: from the key press that moves a field (Alt+ArrowDown) or a keystroke in its
  label until the next frame, with the canvas, panel and JSON view redrawn: the median
  over `--edits` edits of each kind.

Prints one JSON line; exits 1 when either median is over `LIMIT_MS`.

    python bench/designer.py [--fields 200] [--opens 5] [--edits 30]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from engine.service.accounts import set_password  # noqa: E402
from engine.service.definitions import load_folder  # noqa: E402
from engine.service.drafts import save_draft  # noqa: E402
from engine.service.people import ensure_user  # noqa: E402
from engine.store.database import Database  # noqa: E402
from web.app import create_app  # noqa: E402
from web.cli.stack import embedded_redis, serve_in_thread  # noqa: E402

#: The issue's bound on opening the designer and on showing an edit.
LIMIT_MS = 300.0
PASSWORD = "bench password 123"
TYPES = ["text", "textarea", "number", "date", "select", "radio", "checkbox", "multiselect"]

MEASURE_MOVE = """
async (index) => {
  const button = document.querySelectorAll('.canvas-select')[index];
  button.focus();
  const started = performance.now();
  const press = {key: 'ArrowDown', altKey: true, bubbles: true};
  button.dispatchEvent(new KeyboardEvent('keydown', press));
  await new Promise((done) => requestAnimationFrame(() => setTimeout(done)));
  return performance.now() - started;
}
"""

MEASURE_TYPE = """
async (text) => {
  const label = document.getElementById('prop-label');
  const started = performance.now();
  label.value = text;
  label.dispatchEvent(new Event('input', {bubbles: true}));
  await new Promise((done) => requestAnimationFrame(() => setTimeout(done)));
  return performance.now() - started;
}
"""


def big_form(count: int) -> dict[str, object]:
    """A sound form of `count` fields of every common type, every fifth with a rule."""
    fields: list[dict[str, object]] = []
    for index in range(count):
        kind = TYPES[index % len(TYPES)]
        field: dict[str, object] = {
            "key": f"field_{index}",
            "type": kind,
            "label": f"Field {index}",
        }
        if kind in ("select", "radio", "multiselect"):
            field["options"] = ["alpha", "beta", "gamma"]
        if index % 5 == 4:
            field["visible_if"] = {"field": "field_4", "op": "eq", "value": "alpha"}
        fields.append(field)
    fields[4] = {"key": "field_4", "type": "select", "label": "Field 4",
                 "options": ["alpha", "beta", "gamma"]}  # fmt: skip
    return {"kind": "form", "format": 1, "key": "big", "title": "A big form", "fields": fields}


@contextmanager
def serve(folder: Path, fields: int) -> Iterator[str]:
    database_url = f"sqlite:///{folder / 'flowdesk.sqlite3'}"
    database = Database(database_url)
    database.migrate()
    now = datetime.now(UTC)
    with database.writer_session() as session, session.begin():
        load_folder(session, ROOT / "workflows", now, "bench")
        ensure_user(session, "dana", now, name="Dana", roles=["designer"])
        set_password(session, "dana", PASSWORD)
        save_draft(session, "big", big_form(fields), 0, now, "bench")
    database.dispose()
    with redis(folder) as redis_url:
        app = create_app(
            {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "SECRET_KEY": "bench-" * 8}
        )
        with serve_in_thread(app) as url:
            yield url


@contextmanager
def redis(folder: Path) -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    with embedded_redis(folder) as url:
        yield url


def measure(base: str, opens: int, edits: int) -> dict[str, float]:
    chromium = shutil.which("chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_context(base_url=base).new_page()
        page.goto("/sign-in?next=/designer/")
        page.get_by_label("Username").fill("dana")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/designer/")
        open_times = []
        for _ in range(opens):
            page.goto("/designer/forms/big")
            page.wait_for_selector("#designer[data-ready=true]")
            open_times.append(
                page.evaluate("() => performance.getEntriesByName('designer:ready')[0].startTime")
            )
        moves = [page.evaluate(MEASURE_MOVE, 100 + i % 50) for i in range(edits)]
        page.locator(".canvas-select").nth(10).click()
        typed = [page.evaluate(MEASURE_TYPE, f"Field ten {i}") for i in range(edits)]
        browser.close()
    return {
        "open_ms": round(statistics.median(open_times), 1),
        "edit_ms": round(statistics.median(moves + typed), 1),
        "move_ms": round(statistics.median(moves), 1),
        "type_ms": round(statistics.median(typed), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=200)
    parser.add_argument("--opens", type=int, default=5)
    parser.add_argument("--edits", type=int, default=30)
    args = parser.parse_args()
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "queue depth 1" is no news
    with tempfile.TemporaryDirectory() as folder, serve(Path(folder), args.fields) as base:
        result = {"fields": args.fields, **measure(base, args.opens, args.edits)}
    print(json.dumps(result))
    return 0 if max(result["open_ms"], result["edit_ms"]) <= LIMIT_MS else 1


if __name__ == "__main__":
    sys.exit(main())
