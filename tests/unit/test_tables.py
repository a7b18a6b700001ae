"""Decision tables: the first matching row gives the answer, and the timeline says which."""

from __future__ import annotations

from typing import Any

import pytest

from engine.core.tables import DecisionTable

PRIORITY = DecisionTable.from_document(
    "priority",
    {
        "inputs": ["impact", "urgency"],
        "output": "priority",
        "rows": [
            {"when": ["high", "high"], "then": "P1"},
            {"when": ["high", ["medium", "low"]], "then": "P2"},
            {"when": ["-", "high"], "then": "P2"},
            {"when": ["medium", "-"], "then": "P3"},
            {"when": ["-", "-"], "then": "P4"},
        ],
    },
)

ROUTING = DecisionTable.from_document(
    "team",
    {
        "inputs": ["category", "caller.vip"],
        "output": "team",
        "rows": [
            {"when": ["hardware", True], "then": "vip-desk"},
            {"when": [["hardware", "network"], "-"], "then": "field-services"},
        ],
        "default": "service-desk",
    },
)


@pytest.mark.parametrize(
    ("impact", "urgency", "priority", "row"),
    [
        ("high", "high", "P1", 0),
        ("high", "medium", "P2", 1),
        ("high", "low", "P2", 1),
        ("low", "high", "P2", 2),
        ("medium", "low", "P3", 3),
        ("low", "low", "P4", 4),
        (None, None, "P4", 4),
    ],
)
def test_first_matching_row_gives_the_output(
    impact: Any, urgency: Any, priority: str, row: int
) -> None:
    result = PRIORITY.lookup({"impact": impact, "urgency": urgency})
    assert (result.value, result.row) == (priority, row)


def test_earlier_row_wins_over_a_later_one_that_also_matches() -> None:
    # "high, high" also matches rows 3 and 5; row 1 decides.
    assert PRIORITY.lookup({"impact": "high", "urgency": "high"}).value == "P1"


def test_dash_matches_anything_including_a_missing_field() -> None:
    assert ROUTING.lookup({"category": "network"}).value == "field-services"
    assert ROUTING.lookup({"category": "network", "caller": {"vip": True}}).value == (
        "field-services"
    )


def test_list_cell_matches_any_of_its_values() -> None:
    assert ROUTING.lookup({"category": "hardware"}).value == "field-services"
    assert ROUTING.lookup({"category": "software"}).row is None


def test_dotted_input_reads_nested_data() -> None:
    result = ROUTING.lookup({"category": "hardware", "caller": {"vip": True}})
    assert (result.value, result.row) == ("vip-desk", 0)


def test_default_when_no_row_matches() -> None:
    result = ROUTING.lookup({"category": "software"})
    assert (result.value, result.row) == ("service-desk", None)


def test_no_default_gives_none_when_no_row_matches() -> None:
    table = DecisionTable.from_document(
        "t", {"inputs": ["a"], "output": "b", "rows": [{"when": ["x"], "then": "y"}]}
    )
    assert table.lookup({"a": "z"}).value is None


def test_cells_do_not_take_true_for_one() -> None:
    table = DecisionTable.from_document(
        "discount",
        {
            "inputs": ["member", "quantity"],
            "output": "discount",
            "rows": [
                {"when": [True, "-"], "then": 10},
                {"when": ["-", 1], "then": 0},
                {"when": ["-", [2, 3]], "then": 5},
            ],
            "default": 15,
        },
    )
    assert table.lookup({"member": 1, "quantity": True}).value == 15
    assert table.lookup({"member": True, "quantity": 1}).value == 10
    assert table.lookup({"member": False, "quantity": 1}).value == 0
    assert table.lookup({"member": False, "quantity": 2}).value == 5
    assert table.lookup({"member": False, "quantity": 1.0}).value == 0


def test_describe_names_the_inputs_the_answer_and_the_row() -> None:
    data = {"impact": "high", "urgency": "low"}
    assert PRIORITY.describe(data, PRIORITY.lookup(data)) == (
        "table priority: impact=high, urgency=low -> P2 (row 2)"
    )


def test_describe_says_when_the_default_was_used() -> None:
    data = {"category": "software"}
    assert ROUTING.describe(data, ROUTING.lookup(data)) == (
        "table team: category=software, caller.vip=None -> service-desk (no row matched: default)"
    )


#: Who approves a purchase, by its amount (bands) and its kind: the table a newcomer asked for.
APPROVER = DecisionTable.from_document(
    "approver",
    {
        "inputs": ["cost", "kind"],
        "output": "approver",
        "rows": [
            {"when": [{"lt": 500}, "-"], "then": "nobody"},
            {"when": [{"ge": 500, "lt": 5000}, "laptop"], "then": "manager"},
            {"when": [{"ge": 500, "le": 20000}, "-"], "then": "director"},
        ],
        "default": "cfo",
    },
)


@pytest.mark.parametrize(
    ("cost", "kind", "approver"),
    [
        (0, "laptop", "nobody"),
        (499.99, "desk", "nobody"),
        (500, "laptop", "manager"),
        (4999, "laptop", "manager"),
        (5000, "laptop", "director"),
        (500, "desk", "director"),
        (20000, "desk", "director"),
        (20000.5, "desk", "cfo"),
        (None, "desk", "cfo"),  # no amount lies in any band
        ("300", "desk", "cfo"),  # text is not a number
        (True, "desk", "cfo"),  # nor is yes
    ],
)
def test_a_range_cell_matches_the_numbers_within_its_bounds(
    cost: Any, kind: str, approver: str
) -> None:
    assert APPROVER.lookup({"cost": cost, "kind": kind}).value == approver


def test_a_range_of_dates_matches_the_dates_within_it_and_the_timeline_says_the_row() -> None:
    season = DecisionTable.from_document(
        "season",
        {
            "inputs": ["needed_by"],
            "output": "season",
            "rows": [{"when": [{"ge": "2026-12-01", "lt": "2027-01-01"}], "then": "peak"}],
            "default": "quiet",
        },
    )
    data = {"needed_by": "2026-12-24"}
    found = season.lookup(data)

    assert found.value == "peak"
    assert season.describe(data, found) == "table season: needed_by=2026-12-24 -> peak (row 1)"
    assert season.lookup({"needed_by": "2027-01-01"}).value == "quiet"


@pytest.mark.parametrize(
    ("cell", "value", "inside"),
    [
        ({"le": "2026-06-01"}, "2026-06-01T23:30:00+02:00", True),  # a day holds its moments
        ({"lt": "2026-06-01"}, "2026-06-01T00:10:00+00:00", False),
        ({"ge": "2026-06-01T08:00:00Z"}, "2026-06-01T09:30:00+02:00", False),  # 07:30 UTC
        ({"ge": "2026-06-01T08:00:00Z"}, "2026-06-01T10:30:00+02:00", True),
        ({"gt": "2026-06-01T08:00:00+00:00"}, "2026-06-02", True),  # its first moment, UTC
        ({"ge": "2026-06-01"}, "not a date", False),
        ({"ge": "2026-06-01"}, 20260601, False),
    ],
)
def test_a_range_of_moments_compares_them_on_one_clock(
    cell: dict[str, Any], value: Any, inside: bool
) -> None:
    """Moments written with other offsets are compared as moments, not as text."""
    table = DecisionTable.from_document(
        "when", {"inputs": ["at"], "output": "when", "rows": [{"when": [cell], "then": "in"}]}
    )
    assert (table.lookup({"at": value}).value == "in") is inside
