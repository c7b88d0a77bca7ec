"""The column-wise import plan against the row-wise one: same report, same people, same events.

A file of new people into an empty directory is planned column by column; everything else
row by row. The two must agree on every file the column-wise plan accepts (ids aside, which
are new random ones in each), and it must decline every file with a rejected row.
"""

from __future__ import annotations

import csv
import io
import json
import random
import uuid
from typing import Any

import pytest

from services.reviews.directory.importer import (
    ImportMode,
    MissingPeople,
    RowAction,
    _Directory,
    _Outcome,
    _plan_new_people,
    _plan_rows,
    parse_records,
)
from services.reviews.events import EVENT_DEFAULTS, person_event_data, person_event_items
from shared.people import PersonEventData

EMPTY = _Directory({}, {}, {}, {}, {})
OPTIONS: dict[str, Any] = {"mode": ImportMode.all_or_nothing, "missing": MissingPeople.keep, "dry_run": False}


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def organisation(manager_column: str, *, shuffle: bool, size: int = 60) -> tuple[list[str], list[list[str]]]:
    """People 0..size-1, each managed by a lower number (so no cycle), in the form ``manager_column`` names."""
    rng = random.Random(size)
    header = [
        "Email",
        "employeeNumber",
        "userName",
        "externalId",
        "displayName",
        "givenName",
        "familyName",
        "title",
        "department",
        "active",
        "hireDate",
        "location",
        "Costume",  # not a directory column: ignored
        manager_column,
    ]
    refs = {
        "managerEmployeeNumber": lambda k: str(k),
        "managerEmail": lambda k: f"P{k}@Example.com",
        "managerUserName": lambda k: f"U{k}" if k % 3 else f"p{k}@example.com",
        "managerExternalId": lambda k: f"X{k}",
    }
    rows = []
    for number in range(size):
        manager = rng.randrange(number) if number and rng.random() < 0.95 else None
        rows.append(
            [
                f" p{number}@EXAMPLE.com " if number % 4 == 0 else f"p{number}@example.com",
                str(number),
                f"u{number}" if number % 3 else "",  # without one, the e-mail is the userName
                f"X{number}",
                "" if number % 5 == 0 else f"Person {number}",  # derived from the names when empty
                "Zoë",
                'O"Brien\\' if number % 2 else "",
                "Engineer",
                f"Dept {number % 4}",
                ["", "true", "No", "Y", "inactive"][number % 5],
                "2024-02-29" if number % 2 else "",
                "Köln",
                "x",
                refs[manager_column](manager) if manager is not None else "",
            ]
        )
    if shuffle:  # reports before their managers: the writer must still create managers first
        rng.shuffle(rows)
    return header, rows


def comparable(outcome: _Outcome) -> dict[str, Any]:
    """The outcome with each new id replaced by the row number of the person it was drawn for."""
    rows = outcome.report.rows
    number = {row.person_id: row.row for row in rows}
    creates = outcome.creates
    ids = {person_id.hex: number[person_id] for person_id in creates["id"]}
    columns = {
        name: [number.get(value) if name in ("id", "manager_id") else value for value in values]
        for name, values in creates.items()
        if name != "path"
    }
    columns["path"] = [[ids[path[i : i + 32]] for i in range(0, len(path), 32)] for path in creates["path"]]
    return {
        "report": outcome.report.model_dump(exclude={"rows"}),
        "rows": [row.model_dump(exclude={"person_id"}) for row in rows],
        "creates": columns,
        "rest": (outcome.updates, outcome.email_changes, outcome.path_moves),
    }


@pytest.mark.parametrize(
    ("manager_column", "shuffle", "file_format"),
    [
        ("managerEmployeeNumber", False, "csv"),
        ("managerEmployeeNumber", True, "json"),
        ("managerEmail", True, "csv"),
        ("managerUserName", False, "csv"),
        ("managerExternalId", True, "csv"),
    ],
)
def test_column_wise_plan_equals_row_wise_plan(manager_column: str, shuffle: bool, file_format: str) -> None:
    header, rows = organisation(manager_column, shuffle=shuffle)
    if file_format == "json":
        content = json.dumps([dict(zip(header, row, strict=True)) for row in rows]).encode()
    else:
        content = csv_bytes(header, rows)
    records, columns = parse_records(content, file_format)

    columnwise = _plan_new_people(EMPTY, records, columns, **OPTIONS)
    assert columnwise is not None, "a clean file of new people is planned column by column"
    rowwise = _plan_rows(EMPTY, records, columns, **OPTIONS)
    assert comparable(columnwise) == comparable(rowwise)
    assert columnwise.report.summary[RowAction.create] == len(rows)
    assert columnwise.report.ignored_columns == ["costume"]
    # Not a trivially equal pair: names derived, words read, some managers listed after reports.
    created = columnwise.creates
    assert 'Zoë O"Brien\\' in created["display_name"]
    assert False in created["active"]
    assert created["user_name"][created["email"].index("p3@example.com")] == "p3@example.com"
    if shuffle:
        assert [person_id for person_id in created["id"]] != [row.person_id for row in columnwise.report.rows]


BASE = [
    ["email", "display_name", "employee_number", "title", "active", "hire_date", "manager_employee_number"],
    ["ceo@example.com", "Cee", "1", "CEO", "", "", ""],
    ["vp@example.com", "Vee", "2", "VP", "true", "2020-01-01", "1"],
    ["dev@example.com", "Dev", "3", "Dev", "", "", "2"],
]


def changed(row: int, column: str, value: str) -> list[list[str]]:
    table = [list(line) for line in BASE]
    table[row][table[0].index(column)] = value
    return table


@pytest.mark.parametrize(
    ("table", "reason"),
    [
        (changed(3, "manager_employee_number", "9"), "unknown manager '9'"),
        (changed(1, "manager_employee_number", "3"), "manager cycle"),
        (changed(3, "manager_employee_number", "3"), "a person cannot be their own manager"),
        (changed(3, "email", "VP@example.com"), "duplicate email"),
        (changed(3, "employee_number", "2"), "duplicate employee number"),
        (changed(3, "email", "not an address"), "email: not a valid e-mail address"),
        (changed(3, "email", ""), "email: required"),
        (changed(3, "title", "x" * 201), "title: longer than 200 characters"),
        (changed(3, "active", "perhaps"), "active: 'perhaps' is not true or false"),
        (changed(3, "hire_date", "2023-02-29"), "hire_date: '2023-02-29' is not a date (YYYY-MM-DD)"),
        (changed(3, "display_name", ""), "display_name: required"),
    ],
)
def test_a_file_with_a_rejected_row_is_planned_row_by_row(table: list[list[str]], reason: str) -> None:
    records, columns = parse_records(csv_bytes(table[0], table[1:]), "csv")
    assert _plan_new_people(EMPTY, records, columns, **OPTIONS) is None
    report = _plan_rows(EMPTY, records, columns, **OPTIONS).report
    assert any(reason in text for row in report.rows for text in row.reasons), report.rows


def test_people_already_there_and_unusual_shapes_are_planned_row_by_row() -> None:
    records, columns = parse_records(csv_bytes(BASE[0], BASE[1:]), "csv")
    assert _plan_new_people(EMPTY, records, columns, **OPTIONS) is not None
    somebody = uuid.uuid4()
    directory = _Directory({somebody: {"email": "x@example.com"}}, {"x@example.com": somebody}, {}, {}, {})
    assert _plan_new_people(directory, records, columns, **OPTIONS) is None
    # A short CSV line (a record without every column) and a JSON number.
    short, columns = parse_records(csv_bytes(BASE[0], [*BASE[1:], ["new@example.com", "New"]]), "csv")
    assert _plan_new_people(EMPTY, short, columns, **OPTIONS) is None
    numbers, columns = parse_records(json.dumps([{"email": "n@example.com", "display_name": 7}]).encode(), "json")
    assert _plan_new_people(EMPTY, numbers, columns, **OPTIONS) is None


def test_event_data_encoded_by_column_is_what_json_dumps_writes() -> None:
    texts = ["plain", "Zoë", 'quote " and \\ backslash', "tab\tnew\nline", "\x00\x1f", "emoji 😀", "\u2028", None]
    people = []
    for index, text in enumerate(texts):
        people.append(
            {
                "id": uuid.uuid4(),
                "version": index + 1,
                "display_name": text or "x",
                "email": f"p{index}@example.com",
                "manager_id": None if index % 2 else uuid.uuid4(),
                "department": text,
                "active": bool(index % 3),
                "title": texts[-1 - index],
                "organization": "Northwind",
                "division": None,
                "locale": "en-US",
                "timezone": text,
            }
        )
    columns = {name: [person[name] for person in people] for name in EVENT_DEFAULTS}
    items = person_event_items(columns)
    for person, (verb, subject, document) in zip(people, items, strict=True):
        data = {name: str(value) if isinstance(value, uuid.UUID) else value for name, value in person.items()}
        assert document == json.dumps(data, separators=(",", ":"))
        assert PersonEventData.model_validate_json(document).model_dump(mode="json") == person_event_data(person)
        assert subject == str(person["id"])
        assert verb == ("upserted" if person["active"] else "deactivated")
