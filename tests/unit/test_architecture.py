"""The house rules of DESIGN.md §1 hold: import-linter's contracts, and where modules live."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_top_of_web_holds_only_the_app_factory_and_sign_in() -> None:
    # DESIGN.md §1: pages and endpoints live in their feature package (portal, desk, admin,
    # api, ops, cli); what they share lives in web/common.
    top = sorted(path.name for path in (ROOT / "web").glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "app.py", "auth.py"]
