"""The European Central Bank's reference rates as a file (eurofxref.csv, eurofxref-hist.csv): parsed
into rates against the euro in this service's direction. Pure functions, no I/O.

The ECB quotes one euro in each currency (``USD 1.0578``: 1 EUR = 1.0578 USD); a rate here says what
one unit of a currency is worth in the base (1 USD = 0.9453582908 EUR), so each value is inverted and
rounded half up to the rate's ten decimals. A cell the ECB leaves empty or writes ``N/A`` (a
currency it stopped quoting, a day it did not) is no rate.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from pydantic import TypeAdapter, ValidationError

from services.rewards import rules
from services.rewards.schemas import Currency
from shared.errors import Problem, ValidationFailed

BASE = "EUR"
MAX_BYTES = 2 * 1024 * 1024
MAX_RATES = 20_000
MAX_ERRORS = 50
NO_RATE = {"", "N/A", "NA"}
_CURRENCY: TypeAdapter[str] = TypeAdapter(Currency)


class FileRejected(Problem):
    """422 naming each bad cell (``row`` counted from 1 after the header, ``field`` its column); nothing stored."""

    status, type_name, title = 422, "validation-error", "Validation Error"

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"The file has {len(errors)} problem(s); nothing was imported.", errors=errors)


@dataclass
class ReferenceRates:
    """What a file holds: a rate per (currency, day), and the cells it left empty."""

    rates: dict[tuple[str, date], Decimal] = field(default_factory=dict)
    quoted: dict[tuple[str, date], Decimal] = field(default_factory=dict)  # as the ECB wrote it
    empty_cells: int = 0


def _day(raw: str) -> date | None:
    text = raw.strip()
    for layout in ("%Y-%m-%d", "%d %B %Y"):
        try:
            return datetime.strptime(text, layout).date()
        except ValueError:
            continue
    return None


def _currency(raw: str) -> str | None:
    try:
        return _CURRENCY.validate_python(raw.strip())
    except ValidationError:
        return None


_SMALLEST_QUOTE = Decimal(1) / 100_000


def _inverse(quoted: Decimal) -> Decimal:
    with localcontext() as context:
        context.prec = 60
        return rules.half_up(Decimal(1) / quoted, rules.RATE_STEP)


def parse_reference_rates(body: bytes) -> ReferenceRates:
    """The file's rates, or a 422 naming each bad cell (``row`` counted from 1 after the header)."""
    if len(body) > MAX_BYTES:
        raise ValidationFailed.field("file", f"the file is larger than {MAX_BYTES} bytes: import a year at a time")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed.field("file", "the file must be UTF-8 text") from None
    try:
        lines = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:  # a cell longer than the csv module's field limit, a NUL byte
        raise ValidationFailed.field("file", f"not a CSV file the ECB writes: {exc}") from None
    if not lines or not lines[0] or lines[0][0].strip().lower() != "date":
        raise ValidationFailed.field("file", "the first line must be the ECB's header: Date, USD, JPY, …")
    header = [cell.strip() for cell in lines[0]]
    errors: list[dict[str, Any]] = []
    columns: dict[int, str] = {}
    for index, name in enumerate(header[1:], start=1):
        if not name or name == BASE:
            continue  # the trailing empty column the ECB writes; the base's own rate is 1
        code = _currency(name)
        if code is None:
            errors.append({"field": "header", "column": name, "message": "not an ISO 4217 currency code"})
        else:
            columns[index] = code
    found = ReferenceRates()
    for number, line in enumerate(lines[1:], start=1):
        if not any(cell.strip() for cell in line):
            continue
        day = _day(line[0]) if line else None
        if day is None:
            errors.append({"row": number, "field": "Date", "message": "a date such as 2026-11-30 or 30 November 2026"})
            continue
        for index, code in columns.items():
            cell = line[index].strip() if index < len(line) else ""
            if cell.upper() in NO_RATE:
                found.empty_cells += 1
                continue
            try:
                quoted = Decimal(cell)
            except InvalidOperation:
                quoted = Decimal(-1)
            if not quoted.is_finite() or quoted <= 0 or quoted >= Decimal(10) ** 10:
                errors.append({"row": number, "field": code, "message": "a positive number of that currency per euro"})
                continue
            # A quote this small would be a rate of 100,000 or more (and 1/quote may not even round).
            rate = _inverse(quoted) if quoted > _SMALLEST_QUOTE else Decimal(100_000)
            if rate <= 0 or rate >= 100_000:
                errors.append({"row": number, "field": code, "message": "the rate per euro is out of range"})
                continue
            if (code, day) in found.rates:
                errors.append({"row": number, "field": code, "message": f"{day} is in the file twice"})
                continue
            found.rates[(code, day)], found.quoted[(code, day)] = rate, quoted
        if len(found.rates) > MAX_RATES:
            raise ValidationFailed.field("file", f"at most {MAX_RATES} rates per file: import a year at a time")
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        raise FileRejected(errors)
    if not found.rates:
        raise ValidationFailed.field("file", "the file holds no rate")
    return found
