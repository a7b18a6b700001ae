"""The shipped pack is sound: `flowdesk check workflows/` passes on it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from engine.catalog import Catalog
from web.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_pack_has_no_problems() -> None:
    result = CliRunner().invoke(main, ["check", str(ROOT / "workflows")])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


def test_check_command_installed_exits_zero_on_the_pack() -> None:
    flowdesk = Path(sys.executable).with_name("flowdesk")
    result = subprocess.run(
        [str(flowdesk), "check", "workflows/"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pack_holds_the_three_flagship_workflows(catalog: Catalog) -> None:
    keys = {doc.key for doc in catalog.of_kind("workflow")}
    assert {"it-incident", "major-incident", "service-request"} <= keys
