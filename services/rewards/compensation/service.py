"""Compensation records: an all-or-nothing import and who may read what.

Salaries never leave this service: no event is written here and nothing here logs a value.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards.bands.repository import PayBandRepository
from services.rewards.compensation.parsing import RawRow
from services.rewards.compensation.repository import CompensationRepository
from services.rewards.compensation.schemas import (
    OPTIONAL_IMPORT_FIELDS,
    CompensationRow,
    ImportReport,
    ImportRowResult,
    RowAction,
)
from services.rewards.models import CompensationRecord, PayBand
from shared.auth import Principal, Role
from shared.database import utcnow
from shared.errors import Conflict, Forbidden, NotFound, Problem

MAX_REPORTED_ERRORS = 1000
# Job architecture and sensitive attributes a row may carry beside the pay (issue 11).
ATTRIBUTES = OPTIONAL_IMPORT_FIELDS


class ImportRejected(Problem):
    """422 with one entry per bad row and field: ``{row, field, message}``; nothing was applied."""

    status, type_name, title = 422, "validation-error", "Validation Error"

    def __init__(self, errors: list[dict[str, Any]], bad_rows: int) -> None:
        super().__init__(
            f"{bad_rows} row(s) are invalid; nothing was imported.",
            errors=errors[:MAX_REPORTED_ERRORS],
            invalid_rows=bad_rows,
        )


def today() -> date:
    return utcnow().date()


class CompensationService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.records = CompensationRepository.from_session(session)
        self.bands = PayBandRepository.from_session(session)

    async def import_rows(self, raw_rows: list[RawRow], *, dry_run: bool, by: uuid.UUID) -> ImportReport:
        """Check every row, then store all of them or none. Rows are numbered from 1."""
        return await self.import_checked(check_rows(raw_rows), dry_run=dry_run, by=by)

    async def import_checked(
        self,
        checked: CheckedRows,
        *,
        dry_run: bool,
        by: uuid.UUID,
        writing: Callable[[], None] | None = None,
    ) -> ImportReport:
        """Store the rows :func:`check_rows` made (all or none) once the database agrees with every one.

        ``writing`` is called once every row passed, just before the records are written.
        """
        errors = list(checked.errors)
        rows = checked.rows
        known = await self.records.known_people(row.person_id for row in rows.values())
        bands = await self.bands.by_keys((row.grade, row.currency) for row in rows.values())
        existing = await self.records.existing(row.person_id for row in rows.values())
        categories = await self.records.category_codes()
        # Every row against the loaded data: pure Python, in a thread so a large file does not
        # hold the event loop (the objects are loaded already; nothing here touches the session).
        results, new_records = await asyncio.to_thread(_plan, rows, errors, known, bands, existing, categories, by)
        if errors:
            raise ImportRejected(errors, bad_rows=len({error["row"] for error in errors}))
        if not dry_run:
            if writing is not None:
                writing()
            try:
                await self.records.add_all(new_records)
            except IntegrityError:
                # A concurrent import stored a record for the same person and date. Not
                # re-raised as is: the error's text holds the salaries of the statement.
                raise Conflict("Another import changed these records at the same time; try again.") from None
        return ImportReport(
            dry_run=dry_run,
            applied=not dry_run,
            rows=checked.count,
            created=len(new_records),
            unchanged=len(results) - len(new_records),
            results=results,
        )

    async def current(self, person_id: uuid.UUID, principal: Principal) -> tuple[CompensationRecord, PayBand]:
        _may_read(person_id, principal)
        found = (await self.records.current([person_id], today())).get(person_id)
        if found is None:
            raise NotFound(f"Person {person_id} has no current compensation record.")
        return found

    async def history(self, person_id: uuid.UUID) -> list[tuple[CompensationRecord, PayBand]]:
        return await self.records.history(person_id)


def _plan(
    rows: dict[int, CompensationRow],
    errors: list[dict[str, Any]],
    known: set[uuid.UUID],
    bands: dict[tuple[str, str], PayBand],
    existing: dict[tuple[uuid.UUID, date], CompensationRecord],
    categories: set[str],
    by: uuid.UUID,
) -> tuple[list[ImportRowResult], list[CompensationRecord]]:
    """Each row against what the database holds; pure Python over loaded objects (run in a thread)."""
    first_row_of: dict[tuple[uuid.UUID, date], int] = {}
    results: list[ImportRowResult] = []
    new_records: list[CompensationRecord] = []
    for number, row in rows.items():
        key = (row.person_id, row.effective_date)
        row_errors: list[tuple[str, str]] = []
        if row.person_id not in known:
            row_errors.append(("person_id", "no person with this id is known to the rewards service"))
        band = bands.get((row.grade, row.currency))
        if band is None:
            row_errors.append(("grade", f"no pay band for grade {row.grade!r} in {row.currency}"))
        if row.worker_category is not None and row.worker_category not in categories:
            row_errors.append(("worker_category", "no worker category with this code: HR defines them first"))
        if row.hire_date is not None and row.hire_date > row.effective_date:
            row_errors.append(("hire_date", "must not be after effective_date"))
        if key in first_row_of:
            row_errors.append(("effective_date", f"row {first_row_of[key]} has the same person and date"))
        first_row_of.setdefault(key, number)
        action = RowAction.create
        current = existing.get(key)
        if current is not None and band is not None:
            if _same(current, row, band):
                action = RowAction.unchanged
            else:
                row_errors.append(
                    (
                        "effective_date",
                        "a different record effective on this date exists; records are never "
                        "changed: import the change with a new effective date",
                    )
                )
        errors += [{"row": number, "field": field, "message": message} for field, message in row_errors]
        if row_errors or band is None:
            continue
        results.append(
            ImportRowResult(row=number, person_id=row.person_id, effective_date=row.effective_date, action=action)
        )
        if action is RowAction.create:
            new_records.append(
                CompensationRecord(
                    person_id=row.person_id,
                    pay_band_id=band.id,
                    currency=row.currency,
                    base_salary=row.base_salary,
                    effective_date=row.effective_date,
                    imported_by=by,
                    **{name: getattr(row, name) for name in ATTRIBUTES},
                )
            )
    return results, new_records


@dataclass
class CheckedRows:
    """The rows of a file checked on their own (types, required fields): no database needed."""

    rows: dict[int, CompensationRow]
    errors: list[dict[str, Any]]
    count: int


def check_rows(raw_rows: list[RawRow]) -> CheckedRows:
    """Validate each row; pure Python (a background import runs it in a worker thread)."""
    errors: list[dict[str, Any]] = []
    rows: dict[int, CompensationRow] = {}
    for number, raw in enumerate(raw_rows, start=1):
        parsed = _parse_row(number, raw, errors)
        if parsed is not None:
            rows[number] = parsed
    return CheckedRows(rows, errors, len(raw_rows))


def _may_read(person_id: uuid.UUID, principal: Principal) -> None:
    if principal.has_any(Role.hr, Role.admin) or principal.person_id == person_id:
        return
    raise Forbidden("Only HR, admins and the person themself may read a compensation record.")


def _parse_row(number: int, raw: RawRow, errors: list[dict[str, Any]]) -> CompensationRow | None:
    if raw.get("__not_object__"):
        errors.append({"row": number, "field": "row", "message": "must be an object"})
        return None
    if raw.get("__extra__"):
        errors.append({"row": number, "field": "row", "message": "more cells than header columns"})
        return None
    # Empty CSV cells mean "missing", so the report says "Field required", not a type error.
    cleaned = {key: value for key, value in raw.items() if not (isinstance(value, str) and not value.strip())}
    try:
        return CompensationRow.model_validate(cleaned)
    except ValidationError as exc:
        # Messages only: the offending value (maybe a salary) is never echoed back or logged.
        for error in exc.errors(include_input=False, include_url=False):
            field = ".".join(str(part) for part in error["loc"]) or "row"
            errors.append({"row": number, "field": field, "message": error["msg"]})
        return None


def _same(record: CompensationRecord, row: CompensationRow, band: PayBand) -> bool:
    return (
        record.currency == row.currency
        and record.base_salary == row.base_salary
        and record.pay_band_id == band.id
        and all(getattr(record, name) == getattr(row, name) for name in ATTRIBUTES)
    )
