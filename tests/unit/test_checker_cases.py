"""Every rule of `flowdesk check` has a broken example in `tests/checker_cases/`.

A case folder holds `docs/` (a workflow with the forms and calendars it needs,
sound but for one mistake) and `expected.json` (the file, JSON Pointer and words
the check must report). A case must produce that one problem and no other, so it
cannot pass because something else in it happens to be broken.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from web.cli import main

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "checker_cases"

#: `FILE:/json/pointer: message`, as `flowdesk check` prints each problem.
LINE = re.compile(r"^(?P<file>[^:]+\.json):(?P<pointer>/[^ ]*): (?P<message>\S.*)$")

#: What a process owner should never read: Python's way of writing values.
PYTHON_REPR = re.compile(r"[{\[(]'|\b(True|False|None)\b")

#: The rules the issue asks the checker to catch, each shown by at least one case.
REQUIRED = {
    "schema-unknown-step-type",
    "schema-missing-property",
    "unknown-step-in-next",
    "unknown-step-in-on",
    "unknown-decision-otherwise",
    "unknown-escalation-goto",
    "unknown-start-form",
    "unknown-step-form",
    "unknown-decision-table",
    "unknown-calendar-on-step",
    "unknown-calendar-in-sla",
    "unknown-subflow-workflow",
    "unreachable-step",
    "dead-end-loop",
    "quorum-larger-than-reviewers",
    "reject-count-larger-than-reviewers",
    "parallel-join-larger-than-branches",
    "condition-on-unknown-field",
    "condition-on-field-filled-in-later",
    "comparison-with-another-type",
    "comparison-with-a-value-not-among-the-options",
    "duration-in-words",
    "duration-of-nothing",
    "duration-in-months",
    "expression-that-does-not-parse",
    "expression-reading-a-private-attribute",
    "expression-calling-a-method",
    "expression-calling-a-function",
    "template-with-import",
    "template-with-include",
    "loop-of-automatic-steps",
    "duplicate-step-id",
    "escalation-completes-with-an-unknown-outcome",
    "escalation-raises-to-an-unknown-priority",
    "table-row-with-the-wrong-number-of-cells",
    "table-cell-not-among-the-options",
    "form-with-duplicate-field-keys",
    "form-rule-on-an-unknown-field",
    "calendar-with-an-unknown-time-zone",
    "file-that-is-not-json",
    "document-without-a-kind",
    "document-of-an-unknown-kind",
    # Issue 15: what newcomers writing from the docs got past the checker.
    "key-given-twice-in-an-object",
    "ordering-on-a-choice",
    "contains-on-a-number",
    "expression-compared-with-another-type",
    "expression-value-not-among-the-options",
    "expression-adds-text-to-a-number",
    "template-in-a-recipient-that-does-not-parse",
    "template-in-a-reassignment-that-does-not-parse",
    "priority-set-to-an-undeclared-level",
    "priority-table-gives-an-undeclared-level",
    "sla-target-for-an-undeclared-priority",
    "comparison-with-an-undeclared-priority",
    "action-notifies-the-assignee",
    "remind-candidates-of-a-personal-task",
    "recipient-reads-an-unknown-field",
    "wait-until-a-text-field",
    "subflow-passes-a-field-the-child-lacks",
    "subflow-misses-a-required-field",
    "subflow-passes-the-wrong-kind-of-value",
    "condition-reads-reviewers-answers",
    "condition-reads-the-childs-data",
}


def case_folders() -> list[Path]:
    return sorted(path for path in CASES.iterdir() if path.is_dir())


def expected_of(case: Path) -> dict[str, Any]:
    expected: dict[str, Any] = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    return expected


def check(*paths: Path) -> tuple[int, list[str]]:
    """Run `flowdesk check` on paths; return the exit code and the problem lines."""
    result = CliRunner().invoke(main, ["check", *map(str, paths)])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout.splitlines()


def test_every_rule_of_the_issue_has_a_broken_example() -> None:
    missing = REQUIRED - {case.name for case in case_folders()}
    assert not missing


@pytest.mark.parametrize("case", case_folders(), ids=lambda case: case.name)
def test_broken_example_is_reported_at_its_pointer_and_nowhere_else(case: Path) -> None:
    expected = expected_of(case)
    docs = case / "docs"
    assert (docs / expected["file"]).is_file(), "expected.json names a file that is not there"

    code, lines = check(docs)

    assert code == 1
    assert len(lines) == 1, "\n".join(lines)
    line = LINE.match(lines[0])
    assert line, f"not FILE:/json/pointer: message: {lines[0]}"
    assert line["file"] == str(docs / expected["file"])
    assert line["pointer"] == expected["pointer"]
    assert expected["message_contains"] in line["message"]
    assert not PYTHON_REPR.search(line["message"]), line["message"]


def test_installed_command_prints_one_line_per_problem_and_exits_one() -> None:
    flowdesk = Path(sys.executable).with_name("flowdesk")
    docs = Path("tests/checker_cases/quorum-larger-than-reviewers/docs")

    result = subprocess.run(
        [str(flowdesk), "check", str(docs)], cwd=ROOT, capture_output=True, text=True, check=False
    )

    assert result.returncode == 1, result.stderr
    assert result.stdout == (
        f"{docs}/change-request.json:/steps/cab_review/quorum: "
        "the quorum of 4 approvals can never be reached with 3 reviewers\n"
    )


def test_check_of_one_file_finds_the_forms_kept_beside_it(tmp_path: Path) -> None:
    docs = CASES / "comparison-with-another-type" / "docs"
    workflow = tmp_path / "service-request.json"
    shutil.copy(docs / "service-request.json", workflow)

    alone_code, alone = check(workflow)
    shutil.copy(docs / "forms" / "service-request.json", tmp_path / "request-form.json")
    code, lines = check(workflow)

    assert alone_code == 1
    assert any("/start/form: there is no form 'service-request'" in line for line in alone)
    assert code == 1
    assert lines == [
        f"{workflow}:/steps/approve/auto_approve/value: 'cost' holds a number, "
        "so comparing it with '500' (a text) can never be right"
    ]


def test_check_of_one_file_reports_that_file_and_the_forms_it_uses_only(tmp_path: Path) -> None:
    """Not the problems of a form beside it that it does not use."""
    broken = CASES / "form-with-duplicate-field-keys" / "docs"
    shutil.copytree(broken, tmp_path, dirs_exist_ok=True)
    form = tmp_path / "forms" / "incident-report.json"
    broken_form = json.loads(form.read_text())
    mended = {**broken_form, "fields": broken_form["fields"][:6] + broken_form["fields"][7:]}
    form.write_text(json.dumps(mended))
    beside = tmp_path / "forms" / "another-report.json"
    beside.write_text(json.dumps({**broken_form, "key": "another-report"}))
    workflow = tmp_path / "it-incident.json"

    assert check(workflow) == (0, [])  # the broken form is one it does not use

    form.write_text(json.dumps(broken_form))
    code, lines = check(workflow)
    assert code == 1
    assert [line.split(": ", 1)[0] for line in lines] == [f"{form}:/fields/6/key"]


def test_a_decision_that_tests_a_field_lets_a_subflow_hand_it_to_a_required_one(
    tmp_path: Path,
) -> None:
    """The data checks take every route as one that may be taken; a decision that reads the
    field may be what keeps its empty values from the subflow, so it is trusted there (as
    for reviewers read from a field). Without it the same hand-over is reported."""
    docs = CASES / "subflow-hands-over-a-field-that-may-be-empty" / "docs"
    shutil.copytree(docs, tmp_path, dirs_exist_ok=True)
    path = tmp_path / "incident-with-problem.json"
    workflow = json.loads(path.read_text())
    steps = workflow["steps"]
    steps["number"]["next"] = "known_service"
    steps["known_service"] = {
        "type": "decision",
        "branches": [
            {"when": {"field": "affected_service", "op": "not_empty"}, "next": "open_problem"}
        ],
        "otherwise": "closed",
    }
    path.write_text(json.dumps(workflow))

    assert check(tmp_path) == (0, [])
    # A decision after the subflow step keeps nothing from it.
    steps["number"]["next"] = "open_problem"
    steps["open_problem"]["next"] = "known_service"
    steps["known_service"]["branches"][0]["next"] = "closed"
    path.write_text(json.dumps(workflow))
    code, lines = check(tmp_path)
    assert code == 1
    assert [line.split(": ", 1)[0].rsplit(":", 1)[1] for line in lines] == [
        "/steps/open_problem/data/service"
    ]


def test_one_file_is_checked_with_what_loading_its_folder_reads_at_any_depth(
    tmp_path: Path,
) -> None:
    """A pack keeping its forms two folders down (`hr/forms/`) loaded cleanly, but a file of
    it checked alone said its form did not exist: the check read one level down only."""
    docs = CASES / "comparison-with-another-type" / "docs"
    workflow = tmp_path / "service-request.json"
    workflow.write_text(
        (docs / "service-request.json").read_text().replace('"value": "500"', '"value": 500')
    )
    deep = tmp_path / "shared" / "forms"
    deep.mkdir(parents=True)
    shutil.copy(docs / "forms" / "service-request.json", deep / "request-form.json")

    assert check(workflow) == (0, [])
    assert check(tmp_path) == (0, [])


def test_one_file_checked_alone_reports_the_forms_it_uses_that_loading_would_refuse(
    tmp_path: Path,
) -> None:
    """A workflow checked alone said "no problems" (exit 0) while its start form, beside it,
    had a field of a type that does not exist: `flowdesk load` refused the folder, and the
    form, unreadable, hid every check of the fields the workflow reads."""
    docs = CASES / "comparison-with-another-type" / "docs"
    workflow = tmp_path / "service-request.json"
    workflow.write_text(
        (docs / "service-request.json").read_text().replace('"value": "500"', '"value": 500')
    )
    (tmp_path / "forms").mkdir()
    form = json.loads((docs / "forms" / "service-request.json").read_text())
    form["fields"][2]["type"] = "money"
    (tmp_path / "forms" / "service-request.json").write_text(json.dumps(form))
    unused = {**form, "key": "unused-form"}
    (tmp_path / "forms" / "unused.json").write_text(json.dumps(unused))

    code, lines = check(workflow)

    assert code == 1
    assert [line.split(": ", 1)[0] for line in lines] == [
        f"{tmp_path / 'forms' / 'service-request.json'}:/fields/2/type"
    ]  # the form the workflow uses, not the one beside it that nothing names
    assert '"money" is not allowed' in lines[0]
