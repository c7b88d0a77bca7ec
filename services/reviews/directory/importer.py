"""Bulk import of an HRIS export (CSV or JSON) into the directory.

The same rules as the directory service (unique userName/externalId/e-mail, a manager who
exists, nobody their own manager, no cycles), checked set-based: the whole file and the whole
directory are validated in memory against the graph the import would leave, then applied
with a few bulk statements and one outbox row per changed person.

A file is all or nothing by default: one rejected row and nothing is written. With
``mode=valid_rows`` the valid rows are applied (rows that depend on a rejected one, such as
the reports of a rejected manager, are rejected too) and the report says which.
"""

from __future__ import annotations

import asyncio
import csv
import gc
import io
import json
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, Field, TypeAdapter
from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.reviews.events import outbox, person_event_rows
from services.reviews.models import Person, PersonEmail, email_key
from shared.database import create_engine, create_sessionmaker, insert_many, utcnow

CHUNK = 5000
PEOPLE = cast(Table, Person.__table__)
PERSON_EMAILS = cast(Table, PersonEmail.__table__)

# Every column an import file may carry; the directory attributes keep their names.
PERSON_COLUMNS = (
    "user_name",
    "external_id",
    "email",
    "display_name",
    "given_name",
    "family_name",
    "title",
    "locale",
    "timezone",
    "employee_number",
    "cost_center",
    "organization",
    "division",
    "department",
    "location",
    "hire_date",
    "active",
)
MANAGER_COLUMNS = ("manager_email", "manager_user_name", "manager_external_id", "manager_employee_number", "manager_id")
KNOWN_COLUMNS = frozenset(PERSON_COLUMNS + MANAGER_COLUMNS)
REQUIRED_COLUMNS = ("email",)
MAX_LENGTHS = {
    "user_name": 320,
    "external_id": 255,
    "email": 320,
    "display_name": 200,
    "given_name": 200,
    "family_name": 200,
    "title": 200,
    "locale": 35,
    "timezone": 64,
    "employee_number": 100,
    "cost_center": 200,
    "organization": 200,
    "division": 200,
    "department": 200,
    "location": 100,
}
SHORTEST_LIMIT = min(MAX_LENGTHS.values())
MAX_LISTED_ROWS = 10
# The Person columns an import writes (emails aside), in one order for bulk statements.
WRITTEN = (*[name for name in PERSON_COLUMNS if name != "active"], "manager_id", "active")
# What a create writes besides the version and the timestamps, in the order of _Outcome.creates.
CREATED = (*WRITTEN, "id", "path")
TRUE_WORDS = frozenset({"true", "1", "yes", "y", "active"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "inactive"})
ACTIVE_WORDS = {**dict.fromkeys(TRUE_WORDS, True), **dict.fromkeys(FALSE_WORDS, False)}
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class ImportMode(StrEnum):
    all_or_nothing = "all_or_nothing"
    valid_rows = "valid_rows"


class MissingPeople(StrEnum):
    keep = "keep"
    deactivate = "deactivate"


class RowAction(StrEnum):
    create = "create"
    update = "update"
    deactivate = "deactivate"
    unchanged = "unchanged"
    reject = "reject"


class RowReport(BaseModel):
    row: int | None = Field(
        description="Position of the record in the file (1 = first record); null for a person "
        "the file does not mention (missing=deactivate)."
    )
    action: RowAction
    key: str = Field(description="The e-mail address (or userName) the row is about.")
    person_id: uuid.UUID | None = None
    changes: list[str] = Field(default_factory=list, description="Fields an update changes.")
    reasons: list[str] = Field(default_factory=list, description="Why the row is rejected.")


class ImportReport(BaseModel):
    dry_run: bool
    mode: ImportMode
    missing: MissingPeople
    applied: bool = Field(description="Whether anything was written (never on a dry run).")
    summary: dict[RowAction, int]
    ignored_columns: list[str] = Field(default_factory=list)
    rows: list[RowReport]

    @property
    def rejected(self) -> int:
        return self.summary.get(RowAction.reject, 0)


_ROW_REPORTS = TypeAdapter(list[RowReport])


class ImportFileError(ValueError):
    """The file cannot be read at all (not CSV/JSON, not a list of records)."""


# Reading files


def _column_name(raw: str) -> str:
    name = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", raw.strip())
    return re.sub(r"[\s\-.]+", "_", name).lower()


def parse_records(content: bytes, file_format: str) -> tuple[list[dict[str, Any]], set[str]]:
    """Records of a CSV or JSON file with normalised column names, and the columns present."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError("the file is not UTF-8 text") from None
    if file_format == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportFileError(f"the file is not valid JSON: {exc}") from None
        if isinstance(data, dict) and isinstance(data.get("people"), list):
            data = data["people"]
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise ImportFileError('a JSON import is a list of objects, or {"people": [...]}')
        records = [{_column_name(str(key)): value for key, value in item.items()} for item in data]
        columns = set().union(*(record.keys() for record in records)) if records else set()
        return records, columns
    if file_format != "csv":
        raise ImportFileError(f"unknown format {file_format!r}; use csv or json")
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError("the file is empty") from None
    except csv.Error as exc:
        raise ImportFileError(f"the file is not valid CSV: {exc}") from None
    names = [_column_name(column) for column in header]
    records = []
    try:
        for values in reader:
            if not "".join(values).strip():  # a blank line (any(value.strip() ...) without a call per value)
                continue
            records.append(dict(zip(names, values, strict=False)))
    except csv.Error as exc:
        raise ImportFileError(f"the file is not valid CSV: {exc}") from None
    return records, set(names)


def detect_format(content_type: str | None, filename: str | None = None) -> str:
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind.endswith("json") or (filename or "").lower().endswith(".json"):
        return "json"
    return "csv"


# Validation in memory


@dataclass
class _Row:
    number: int
    values: dict[str, Any]
    present: frozenset[str]
    key: str
    reasons: list[str] = field(default_factory=list)
    person_id: uuid.UUID | None = None
    existing: bool = False
    manager_ref: tuple[str, str] | None = None
    manager_given: bool = False

    @property
    def rejected(self) -> bool:
        return bool(self.reasons)


@dataclass
class _Directory:
    """The current directory, as far as an import needs it."""

    people: dict[uuid.UUID, dict[str, Any]]
    by_user_name: dict[str, uuid.UUID]
    by_external_id: dict[str, uuid.UUID]
    by_employee_number: dict[str, list[uuid.UUID]]
    email_owner: dict[str, uuid.UUID]


async def _load_directory(session: AsyncSession) -> _Directory:
    columns = [getattr(Person, name) for name in WRITTEN]
    people: dict[uuid.UUID, dict[str, Any]] = {}
    by_user_name: dict[str, uuid.UUID] = {}
    by_external_id: dict[str, uuid.UUID] = {}
    by_employee_number: dict[str, list[uuid.UUID]] = {}
    result = await session.execute(select(Person.id, Person.version, Person.path, *columns))
    for row in result.all():
        values = dict(zip(("id", "version", "path", *WRITTEN), row, strict=True))
        people[row[0]] = values
        by_user_name[str(values["user_name"]).lower()] = row[0]
        if values["external_id"]:
            by_external_id[values["external_id"]] = row[0]
        if values["employee_number"]:
            by_employee_number.setdefault(values["employee_number"], []).append(row[0])
    email_rows = await session.execute(select(PersonEmail.value_key, PersonEmail.person_id))
    email_owner = {key: owner for key, owner in email_rows.all()}
    return _Directory(people, by_user_name, by_external_id, by_employee_number, email_owner)


# A plain ASCII address: what most HRIS exports hold. Anything else goes through the full check.
_PLAIN_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})$"
)


def normalized_email(value: str) -> str:
    """The address as the /people API stores it (email-validator's normal form), fast for plain ones."""
    match = _PLAIN_EMAIL.match(value)
    if match is not None and len(value) <= 254 and value.index("@") <= 64:
        return value[: match.start(1)] + match.group(1).lower()
    return str(validate_email(value, check_deliverability=False).normalized)


def _clean(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    return text or None


def _date(value: Any) -> date | None:
    """A calendar date written as YYYY-MM-DD (the only form an HRIS export cannot mean two ways)."""
    text = str(value)
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _read_row(number: int, record: dict[str, Any], columns: set[str]) -> _Row:
    present = KNOWN_COLUMNS.intersection(record)
    values = {name: _clean(record[name]) for name in present}
    key = str(values.get("email") or values.get("user_name") or f"row {number}")
    row = _Row(number=number, values=values, present=present, key=key)
    for column in REQUIRED_COLUMNS:
        if column not in columns:
            row.reasons.append(f"missing required column '{column}'")
        elif not values.get(column):
            row.reasons.append(f"{column}: required")
    if any(isinstance(value, str) and len(value) > SHORTEST_LIMIT for value in values.values()):
        for name, limit in MAX_LENGTHS.items():
            value = values.get(name)
            if isinstance(value, str) and len(value) > limit:
                row.reasons.append(f"{name}: longer than {limit} characters")
    if values.get("email"):
        try:
            values["email"] = normalized_email(str(values["email"]))
            row.key = values["email"]
        except EmailNotValidError as exc:
            row.reasons.append(f"email: not a valid e-mail address ({exc})")
    if "active" in present:
        active = values["active"]
        if active is None:
            values["active"] = True
        elif isinstance(active, bool):
            pass
        elif str(active).lower() in TRUE_WORDS:
            values["active"] = True
        elif str(active).lower() in FALSE_WORDS:
            values["active"] = False
        else:
            row.reasons.append(f"active: {active!r} is not true or false")
    if values.get("hire_date") is not None:
        hired = _date(values["hire_date"])
        if hired is None:
            row.reasons.append(f"hire_date: {values['hire_date']!r} is not a date (YYYY-MM-DD)")
        values["hire_date"] = hired
    refs = [(name, values[name]) for name in MANAGER_COLUMNS if name in present]
    row.manager_given = bool(refs)
    given = [(name, str(value)) for name, value in refs if value]
    if len(given) > 1:
        row.reasons.append("give the manager in one column only: " + ", ".join(name for name, _ in given))
    elif given:
        row.manager_ref = given[0]
    return row


class _Plan:
    """The graph and keys an import would leave, checked until no row changes its verdict."""

    def __init__(self, directory: _Directory, rows: list[_Row]) -> None:
        self.directory = directory
        self.rows = rows
        self.by_id: dict[uuid.UUID, _Row] = {}

    def match(self) -> None:
        """Which person each row is about: externalId, then userName, then e-mail."""
        d = self.directory
        for row in self.rows:
            if row.rejected and not row.values.get("email"):
                continue
            values = row.values
            target: uuid.UUID | None = None
            if values.get("external_id"):
                target = d.by_external_id.get(values["external_id"])
            if target is None and values.get("user_name"):
                target = d.by_user_name.get(str(values["user_name"]).lower())
            if target is None and values.get("email"):
                target = d.email_owner.get(email_key(values["email"]))
            row.existing = target is not None
            row.person_id = target or uuid.uuid4()

    def check_duplicates(self) -> None:
        # Most keys are unique: remember the first holder, make a list only on a second one.
        first: dict[tuple[str, object], tuple[int, _Row]] = {}
        seen: dict[tuple[str, object], list[_Row]] = {}
        for row in self.rows:
            if row.person_id is None:
                continue
            keys: list[tuple[str, object]] = [("person", row.person_id)]
            if row.values.get("email"):
                keys.append(("email", email_key(row.values["email"])))
            if row.values.get("user_name"):
                keys.append(("user_name", str(row.values["user_name"]).lower()))
            if row.values.get("external_id"):
                keys.append(("external_id", str(row.values["external_id"])))
            if row.values.get("employee_number"):
                keys.append(("employee_number", str(row.values["employee_number"])))
            for key in keys:
                holder = first.setdefault(key, (len(first), row))[1]
                if holder is not row:
                    seen.setdefault(key, [holder]).append(row)
        for kind, value in sorted(seen, key=lambda key: first[key][0]):
            rows = seen[(kind, value)]
            if len(rows) < 2:
                continue
            # A few row numbers, not all: a file of one key repeated n times made n reasons of n
            # numbers each (a 6 MiB CSV took 23 GB).
            numbers = ", ".join(str(row.number) for row in rows[:MAX_LISTED_ROWS])
            if len(rows) > MAX_LISTED_ROWS:
                numbers += f" and {len(rows) - MAX_LISTED_ROWS} more"
            what = "the same person" if kind == "person" else f"duplicate {kind.replace('_', ' ')} {value!r}"
            for row in rows:
                row.reasons.append(f"{what} in rows {numbers}")

    def check_existing_keys(self) -> None:
        d = self.directory
        for row in self.rows:
            if row.person_id is None:
                continue
            values = row.values
            claims = []
            if values.get("email"):
                claims.append(("e-mail address", d.email_owner.get(email_key(values["email"]))))
            user_name = values.get("user_name") or (None if row.existing else values.get("email"))
            if user_name:
                claims.append(("userName", d.by_user_name.get(str(user_name).lower())))
            if values.get("external_id"):
                claims.append(("externalId", d.by_external_id.get(values["external_id"])))
            for label, owner in claims:
                if owner is not None and owner != row.person_id:
                    holder = d.people[owner]["email"]
                    row.reasons.append(f"{label} already belongs to another person ({holder})")

    def check_required(self) -> None:
        """A new person needs a name; an update may leave it out (the current one stays)."""
        for row in self.rows:
            if row.rejected:
                continue
            values = row.values
            named = values.get("display_name") or values.get("given_name") or values.get("family_name")
            if named:
                continue
            if not row.existing or "display_name" in row.present:
                row.reasons.append("display_name: required (or given_name and family_name)")

    def _index(self) -> dict[str, dict[str, uuid.UUID | None]]:
        """Keys of the rows still standing, to find managers within the file."""
        index: dict[str, dict[str, uuid.UUID | None]] = {
            "manager_email": {},
            "manager_user_name": {},
            "manager_external_id": {},
            "manager_employee_number": {},
        }
        for row in self.rows:
            if row.person_id is None:
                continue
            target = None if row.rejected else row.person_id
            values = row.values
            if values.get("email"):
                index["manager_email"][email_key(values["email"])] = target
            user_name = values.get("user_name") or (None if row.existing else values.get("email"))
            if user_name:
                index["manager_user_name"][str(user_name).lower()] = target
            if values.get("external_id"):
                index["manager_external_id"][values["external_id"]] = target
            if values.get("employee_number"):
                index["manager_employee_number"][values["employee_number"]] = target
        return index

    def resolve_manager(self, row: _Row, index: dict[str, dict[str, uuid.UUID | None]]) -> uuid.UUID | None:
        """The manager's id; appends a reason and returns None when it cannot be found."""
        assert row.manager_ref is not None
        column, value = row.manager_ref
        d = self.directory
        if column == "manager_id":
            try:
                manager = uuid.UUID(value)
            except ValueError:
                row.reasons.append(f"manager_id: {value!r} is not a person id")
                return None
            in_file = self.by_id.get(manager)
            if manager in d.people or (in_file is not None and not in_file.rejected):
                return manager
            row.reasons.append(f"unknown manager {value!r}")
            return None
        lookup = value.lower() if column in ("manager_email", "manager_user_name") else value
        if lookup in index[column]:
            found = index[column][lookup]
            if found is None:
                row.reasons.append(f"the manager's row ({value}) is rejected")
            return found
        existing: uuid.UUID | None = None
        if column == "manager_email":
            existing = d.email_owner.get(lookup)
        elif column == "manager_user_name":
            existing = d.by_user_name.get(lookup)
        elif column == "manager_external_id":
            existing = d.by_external_id.get(lookup)
        else:
            candidates = d.by_employee_number.get(lookup, [])
            if len(candidates) > 1:
                row.reasons.append(f"manager employee number {value!r} is held by several people")
                return None
            existing = candidates[0] if candidates else None
        if existing is None:
            row.reasons.append(f"unknown manager {value!r}")
        return existing

    def managers(self) -> dict[uuid.UUID, uuid.UUID | None]:
        """The final manager of every person the import leaves, rows still standing applied."""
        self.by_id = {row.person_id: row for row in self.rows if row.person_id is not None}
        index = self._index()
        graph = {person_id: values["manager_id"] for person_id, values in self.directory.people.items()}
        for row in self.rows:
            if row.rejected or row.person_id is None:
                continue
            if row.manager_given:
                manager = self.resolve_manager(row, index) if row.manager_ref else None
                if row.rejected:
                    continue
                if manager == row.person_id:
                    row.reasons.append("a person cannot be their own manager")
                    continue
                row.values["manager_id"] = manager
            elif not row.existing:
                row.values["manager_id"] = None
            graph[row.person_id] = row.values.get("manager_id", graph.get(row.person_id))
        return graph

    def check_cycles(self, graph: dict[uuid.UUID, uuid.UUID | None]) -> None:
        state: dict[uuid.UUID, int] = {}
        for start in graph:
            if state.get(start):
                continue
            path: list[uuid.UUID] = []
            node: uuid.UUID | None = start
            while node is not None and not state.get(node):
                state[node] = 1
                path.append(node)
                node = graph.get(node)
            if node is not None and state.get(node) == 1:
                cycle = path[path.index(node) :]
                names = " → ".join(self._name(member) for member in [*cycle, cycle[0]])
                for member in cycle:
                    row = self.by_id.get(member)
                    if row is not None and not row.rejected:
                        row.reasons.append(f"manager cycle: {names}")
            for member in path:
                state[member] = 2

    def _name(self, person_id: uuid.UUID) -> str:
        row = self.by_id.get(person_id)
        if row is not None:
            return row.key
        return str(self.directory.people[person_id]["email"])


def _final_values(row: _Row, current: dict[str, Any] | None) -> dict[str, Any]:
    """The person a row leaves: columns it carries replace, columns it lacks keep their value."""
    values: dict[str, Any] = dict(current) if current else dict.fromkeys(WRITTEN)
    for name in PERSON_COLUMNS:
        if name in row.present:
            values[name] = row.values.get(name)
    values["manager_id"] = row.values.get("manager_id", values.get("manager_id"))
    if current is None:
        values["user_name"] = values.get("user_name") or values["email"]
        values["active"] = True if values.get("active") is None else values["active"]
    if not values.get("display_name"):
        derived = " ".join(part for part in (values.get("given_name"), values.get("family_name")) if part)
        values["display_name"] = derived or None
    if not values.get("user_name") and current is not None:
        values["user_name"] = current["user_name"]
    return values


def _verdict(row: _Row, values: dict[str, Any], current: dict[str, Any] | None) -> tuple[RowAction, list[str]]:
    if current is None:
        return RowAction.create, []
    changes = [name for name in WRITTEN if values.get(name) != current.get(name)]
    if not changes:
        return RowAction.unchanged, []
    if "active" in changes and not values["active"]:
        return RowAction.deactivate, changes
    return RowAction.update, changes


@dataclass
class _Outcome:
    report: ImportReport
    # The people to create, column by column (CREATED, each a list), managers before their reports.
    creates: dict[str, list[Any]]
    updates: list[dict[str, Any]]
    email_changes: list[tuple[uuid.UUID, str | None, str]]
    path_moves: list[dict[str, Any]] = field(default_factory=list)


def _plan_new_people(
    directory: _Directory,
    records: Sequence[dict[str, Any]],
    columns: set[str],
    *,
    mode: ImportMode,
    missing: MissingPeople,
    dry_run: bool,
) -> _Outcome | None:
    """The plan of a file of new people into an empty directory, checked column by column.

    The same checks as the row-wise plan below, over whole columns: a set per key for
    duplicates, a dict per manager column, one pass for cycles and paths. It only answers
    when every row passes: ``None`` for a file with a rejected row (or an unusual shape:
    a record lacking a column, a value that is not text, several manager columns, a
    ``manager_id``), which the row-wise plan then reads, so the errors a bad file gets
    come from one place. An initial load from an HRIS is this case; a re-import, which
    matches people already there, takes the row-wise plan.
    """
    if directory.people or directory.email_owner or directory.by_user_name or directory.by_external_id:
        return None
    count = len(records)
    present = set().union(*records)
    if not count or "email" not in columns or "email" not in present or set(map(len, records)) != {len(present)}:
        return None
    values: dict[str, list[Any]] = {}
    for name in (*PERSON_COLUMNS, *MANAGER_COLUMNS):
        if name in present:
            raw = [record[name] for record in records]
            if set(map(type, raw)) != {str}:
                return None
            values[name] = [value.strip() or None for value in raw]
    for name, limit in MAX_LENGTHS.items():
        column = values.get(name)
        if column is not None and max(map(len, filter(None, column)), default=0) > limit:
            return None
    if None in values["email"]:
        return None
    try:
        emails = values["email"] = [normalized_email(value) for value in values["email"]]
    except EmailNotValidError:
        return None
    # Few distinct values: each one read once.
    if "active" in values:
        active = {value: True if value is None else ACTIVE_WORDS.get(value.lower()) for value in set(values["active"])}
        if None in active.values():
            return None
        values["active"] = list(map(active.__getitem__, values["active"]))
    if "hire_date" in values:
        dates = {value: _date(value) for value in set(values["hire_date"]) if value is not None}
        if None in dates.values():
            return None
        values["hire_date"] = [None if value is None else dates[value] for value in values["hire_date"]]
    given = [name for name in MANAGER_COLUMNS if name in values]
    if len(given) > 1 or "manager_id" in given:
        return None
    names = [values[name] for name in ("display_name", "given_name", "family_name") if name in values]
    if not names or not all(map(any, zip(*names, strict=True))):
        return None

    email_keys = list(map(email_key, emails))
    user_names = values.get("user_name")
    keys: dict[str, list[str]] = {
        "email": email_keys,
        "user_name": [value.lower() for value in user_names if value] if user_names else [],
        "external_id": [value for value in values.get("external_id", ()) if value],
        "employee_number": [value for value in values.get("employee_number", ()) if value],
    }
    if any(len(set(column)) != len(column) for column in keys.values()):
        return None

    managers: list[int | None] = [None] * count
    if given:
        reference_column = given[0]
        if reference_column == "manager_email":
            found = dict(zip(email_keys, range(count), strict=True))
        elif reference_column == "manager_user_name":
            found = {
                (name or email).lower(): index
                for index, (name, email) in enumerate(zip(user_names or emails, emails, strict=True))
            }
        else:
            own = values.get(reference_column.removeprefix("manager_"), [])
            found = {value: index for index, value in enumerate(own) if value}
        lower = reference_column in ("manager_email", "manager_user_name")
        for index, reference in enumerate(values[reference_column]):
            if reference:
                manager = found.get(reference.lower() if lower else reference)
                if manager is None or manager == index:  # unknown, or their own manager
                    return None
                managers[index] = manager

    # The creation depth (managers first), one walk up per chain; a walk that meets itself is a cycle.
    depth = [0] * count
    for start in range(count):
        if depth[start]:
            continue
        chain: list[int] = []
        node: int | None = start
        while node is not None and not depth[node]:
            depth[node] = -1
            chain.append(node)
            node = managers[node]
        if node is not None and depth[node] < 0:
            return None
        level = depth[node] if node is not None else 0
        for member in reversed(chain):
            level += 1
            depth[member] = level
    order = sorted(range(count), key=depth.__getitem__)

    # Every row passes: the new people's ids (none is drawn for a file that is refused here).
    ids = [uuid.uuid4() for _ in range(count)]
    paths: list[str] = [""] * count
    for index in order:
        manager = managers[index]
        paths[index] = (paths[manager] if manager is not None else "") + ids[index].hex

    nothing = [None] * count
    final = {name: values.get(name, nothing) for name in WRITTEN}
    final["user_name"] = (
        [name or email for name, email in zip(user_names, emails, strict=True)] if user_names else emails
    )
    final["active"] = values.get("active", [True] * count)
    final["manager_id"] = [None if manager is None else ids[manager] for manager in managers]
    final["display_name"] = [
        display or " ".join(part for part in (given_name, family_name) if part) or None
        for display, given_name, family_name in zip(
            values.get("display_name", nothing),
            values.get("given_name", nothing),
            values.get("family_name", nothing),
            strict=True,
        )
    ]
    final["id"], final["path"] = ids, paths
    if order != list(range(count)):
        final = {name: [column[index] for index in order] for name, column in final.items()}
    reports = _ROW_REPORTS.validate_python(
        [
            {"row": number, "action": RowAction.create, "key": email, "person_id": person_id}
            for number, email, person_id in zip(range(1, count + 1), emails, ids, strict=True)
        ]
    )
    summary = dict.fromkeys(RowAction, 0)
    summary[RowAction.create] = count
    report = ImportReport(
        dry_run=dry_run,
        mode=mode,
        missing=missing,
        applied=not dry_run,
        summary=summary,
        ignored_columns=sorted(columns - KNOWN_COLUMNS),
        rows=reports,
    )
    return _Outcome(report, {name: final[name] for name in CREATED}, [], [])


def plan_import(
    directory: _Directory,
    records: Sequence[dict[str, Any]],
    columns: set[str],
    *,
    mode: ImportMode,
    missing: MissingPeople,
    dry_run: bool,
) -> _Outcome:
    """What importing ``records`` would do: column by column when the file qualifies, else row by row."""
    with _collector_paused():
        outcome = _plan_new_people(directory, records, columns, mode=mode, missing=missing, dry_run=dry_run)
        if outcome is not None:
            return outcome
        return _plan_rows(directory, records, columns, mode=mode, missing=missing, dry_run=dry_run)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a plan runs, on again after (if it was on).

    A plan makes hundreds of thousands of objects (ids, report rows) that all live until it
    returns: the collections their allocation triggers find no garbage and scan the whole
    heap each time, which cost a 100,000-row plan about as much as its own work. A plan has
    no await, so no other task of the event loop runs meanwhile; an import job plans in a
    worker thread, and the loop's own reference cycles wait the plan's second or two.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _plan_rows(
    directory: _Directory,
    records: Sequence[dict[str, Any]],
    columns: set[str],
    *,
    mode: ImportMode,
    missing: MissingPeople,
    dry_run: bool,
) -> _Outcome:
    """The plan row by row: any file, any directory; every rejected row's reasons come from here."""
    rows = [_read_row(number, record, columns) for number, record in enumerate(records, start=1)]
    plan = _Plan(directory, rows)
    plan.match()
    plan.check_duplicates()
    plan.check_existing_keys()
    plan.check_required()
    # A rejected manager rejects its reports, which may break other cycles: repeat to a fixpoint.
    while True:
        rejected = sum(row.rejected for row in rows)
        graph = plan.managers()
        plan.check_cycles(graph)
        if sum(row.rejected for row in rows) == rejected:
            break
    paths = _paths(graph)
    reports: list[RowReport] = []
    creates: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    email_changes: list[tuple[uuid.UUID, str | None, str]] = []
    for row in rows:
        if not row.rejected:
            assert row.person_id is not None
            current = directory.people.get(row.person_id) if row.existing else None
            values = _final_values(row, current)
            values["path"] = paths[row.person_id]
        if row.rejected:
            reports.append(_report(row.number, RowAction.reject, row.key, None, reasons=row.reasons))
            continue
        action, changes = _verdict(row, values, current)
        reports.append(_report(row.number, action, row.key, row.person_id, changes=changes))
        if action is RowAction.create:
            creates.append({"id": row.person_id, **values})
        elif action is not RowAction.unchanged:
            assert current is not None
            updates.append(
                {**values, "id": row.person_id, "version": current["version"] + 1, "was_active": current["active"]}
            )
            if "email" in changes:
                email_changes.append((current["id"], current["email"], values["email"]))
    if missing is MissingPeople.deactivate:
        mentioned = {row.person_id for row in rows if row.existing}
        for person_id, current in directory.people.items():
            if person_id in mentioned or not current["active"]:
                continue
            # A person absent from a full export is deactivated, unless a rejected row named them.
            values = {**current, "active": False}
            reports.append(_report(None, RowAction.deactivate, current["email"], person_id, changes=["active"]))
            updates.append({**values, "version": current["version"] + 1, "was_active": True})
    updated = {values["id"] for values in updates}
    path_moves = [
        {"id": person_id, "path": paths[person_id]}
        for person_id, current in directory.people.items()
        if person_id not in updated and paths.get(person_id, current["path"]) != current["path"]
    ]
    summary = dict.fromkeys(RowAction, 0)
    for row_report in reports:
        summary[row_report.action] += 1
    rejected = summary[RowAction.reject]
    applies = (
        not dry_run and (rejected == 0 or mode is ImportMode.valid_rows) and bool(creates or updates or path_moves)
    )
    report = ImportReport(
        dry_run=dry_run,
        mode=mode,
        missing=missing,
        applied=applies,
        summary=summary,
        ignored_columns=sorted(columns - KNOWN_COLUMNS),
        rows=reports,
    )
    ordered = _creation_order(creates)
    created = {name: [values[name] for values in ordered] for name in CREATED}
    return _Outcome(report, created, updates, email_changes, path_moves)


def _report(
    number: int | None,
    action: RowAction,
    key: str,
    person_id: uuid.UUID | None,
    *,
    changes: list[str] | None = None,
    reasons: list[str] | None = None,
) -> RowReport:
    return RowReport(
        row=number, action=action, key=key, person_id=person_id, changes=changes or [], reasons=reasons or []
    )


def _paths(graph: dict[uuid.UUID, uuid.UUID | None]) -> dict[uuid.UUID, str]:
    """Every person's materialized path in the final graph (which has no cycle)."""
    paths: dict[uuid.UUID, str] = {}
    for start in graph:
        chain: list[uuid.UUID] = []
        node: uuid.UUID | None = start
        while node is not None and node not in paths and node not in chain:
            chain.append(node)
            node = graph.get(node)
        prefix = paths.get(node, "") if node is not None else ""
        for member in reversed(chain):
            prefix += member.hex
            paths[member] = prefix
    return paths


def _creation_order(creates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Managers before their reports, so every foreign key names a row already written."""
    by_id = {values["id"]: values for values in creates}
    depth: dict[uuid.UUID, int] = {}
    for values in creates:
        chain = []
        node: uuid.UUID | None = values["id"]
        while node is not None and node in by_id and node not in depth:
            chain.append(node)
            node = by_id[node]["manager_id"]
        base = depth.get(node, 0) if node is not None else 0
        for offset, member in enumerate(reversed(chain), start=1):
            depth[member] = base + offset
    return sorted(creates, key=lambda values: depth[values["id"]])


def _grouped_by_keys(rows: list[dict[str, Any]]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    return groups


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _apply(session: AsyncSession, outcome: _Outcome) -> None:
    now = utcnow()
    creates = outcome.creates
    count = len(creates["id"])
    created_columns = (*CREATED, "version", "created_at", "deactivated_at")
    # Every row the writes need, built before the first await (so with the collector paused,
    # as in the plan: all of it lives until the last write).
    with _collector_paused():
        created_rows = list(
            zip(
                *[creates[name] for name in CREATED],
                [1] * count,
                [now] * count,
                [None if active else now for active in creates["active"]],
                strict=True,
            )
        )
        email_rows = [
            (email_key(email), person_id, email, "work", True)
            for email, person_id in zip(creates["email"], creates["id"], strict=True)
        ] + [(email_key(new), pid, new, "work", True) for pid, _old, new in outcome.email_changes]
        event_rows = person_event_rows(outcome.updates, created={**creates, "version": [1] * count})
    for chunk in _chunks(created_rows):
        await insert_many(session, PEOPLE, created_columns, chunk)
    if outcome.updates:
        # Addresses that stop being primary: drop the old primary row, mark the others secondary.
        changed = outcome.email_changes
        stale = [email_key(old) for _pid, old, _new in changed if old] + [email_key(new) for _pid, _old, new in changed]
        for chunk in _chunks(stale):
            await session.execute(delete(PersonEmail).where(PersonEmail.value_key.in_(list(chunk))))
        for chunk in _chunks([pid for pid, _old, _new in changed]):
            await session.execute(
                update(PersonEmail).where(PersonEmail.person_id.in_(list(chunk))).values(primary=False)
            )
        rows = []
        for values in outcome.updates:
            row = {name: values[name] for name in WRITTEN}
            row.update(id=values["id"], path=values["path"], version=values["version"], modified_at=now)
            if values["active"] != values["was_active"]:
                row["deactivated_at"] = None if values["active"] else now
            rows.append(row)
        table = PEOPLE
        for keys, group in _grouped_by_keys(rows).items():
            statement = (
                update(table)
                .where(table.c.id == bindparam("person_id"))
                .values({name: bindparam(name) for name in keys if name != "id"})
            )
            for chunk in _chunks(group):
                await session.execute(statement, [{**row, "person_id": row["id"]} for row in chunk])
    # People whose place moved because someone above them moved: only their path changes.
    for chunk in _chunks(outcome.path_moves):
        await session.execute(
            update(PEOPLE).where(PEOPLE.c.id == bindparam("person_id")).values(path=bindparam("path")),
            [{"person_id": move["id"], "path": move["path"]} for move in chunk],
        )
    for chunk in _chunks(email_rows):
        await insert_many(session, PERSON_EMAILS, ("value_key", "person_id", "value", "type", "primary"), chunk)
    await outbox.add_rows(session, event_rows)
    await session.flush()


async def import_people(
    session: AsyncSession,
    records: Sequence[dict[str, Any]],
    columns: set[str],
    *,
    dry_run: bool = False,
    mode: ImportMode = ImportMode.all_or_nothing,
    missing: MissingPeople = MissingPeople.keep,
) -> ImportReport:
    """Validate ``records`` against the directory and, unless refused or a dry run, apply them.

    Flushes, never commits: the caller's transaction decides. The report's ``applied`` says
    whether anything was written.
    """
    directory = await _load_directory(session)
    outcome = plan_import(directory, records, columns, mode=mode, missing=missing, dry_run=dry_run)
    if outcome.report.applied:
        await _apply(session, outcome)
    return outcome.report


async def import_file(
    database_url: str,
    path: Path,
    *,
    file_format: str | None = None,
    dry_run: bool = False,
    mode: ImportMode = ImportMode.all_or_nothing,
    missing: MissingPeople = MissingPeople.keep,
) -> ImportReport:
    """Import a file straight into a reviews database (``meritloop people import``), committing."""
    content = await asyncio.to_thread(path.read_bytes)
    records, columns = parse_records(content, file_format or detect_format(None, path.name))
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            return await import_people(session, records, columns, dry_run=dry_run, mode=mode, missing=missing)
    finally:
        await engine.dispose()
