"""The designer's pure ES modules, tested with Node's own test runner (`tests/js/*.mjs`).

Node is the system one (`node` on the PATH). Without it these tests skip with a loud
reason, except under CI (`CI=true`), where a skipped test is a failure, as the browser
tests do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

#: The Node test files: named `test_*.mjs`, which `node --test DIR` would not pick up by itself.
JS_TESTS = sorted((Path(__file__).parents[1] / "js").glob("test_*.mjs"))

#: Long enough for every module's tests on a slow machine; a hang fails rather than blocks.
TIMEOUT_S = 120


def node_path() -> str:
    """Find Node, or skip (fail under CI) with the reason."""
    found = shutil.which("node")
    if found:
        return found
    reason = (
        "NO NODE: the JavaScript unit tests in tests/js did not run. "
        "Install Node.js 20 or later (Debian: apt-get install nodejs) so `node` is on the PATH."
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} Under CI a skipped test is a failure.", pytrace=False)
    pytest.skip(reason)


def test_there_are_javascript_tests_to_run() -> None:
    assert JS_TESTS, "tests/js holds no test_*.mjs file"


def test_the_designers_javascript_modules_pass_their_node_tests() -> None:
    node = node_path()
    result = subprocess.run(
        [node, "--test", *map(str, JS_TESTS)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"node --test failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}",
            pytrace=False,
        )
