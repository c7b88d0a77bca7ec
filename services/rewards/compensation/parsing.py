"""Turn an uploaded compensation file (CSV or JSON) into numbered raw rows. No I/O here."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from services.rewards.compensation.schemas import IMPORT_FIELDS, OPTIONAL_IMPORT_FIELDS
from shared.errors import ValidationFailed

MAX_ROWS = 10_000
MAX_BYTES = 5 * 1024 * 1024

RawRow = dict[str, Any]


def parse(content_type: str, body: bytes) -> list[RawRow]:
    """Rows of a CSV (header line first) or JSON (a list, or ``{"records": [...]}``) file."""
    if len(body) > MAX_BYTES:
        raise ValidationFailed.field("body", f"the file is larger than {MAX_BYTES} bytes")
    rows = _csv_rows(body) if check_media_type(content_type) == "csv" else _json_rows(body)
    if not rows:
        raise ValidationFailed.field("body", "the file holds no rows")
    if len(rows) > MAX_ROWS:
        raise ValidationFailed.field("body", f"at most {MAX_ROWS} rows per import")
    return rows


def check_media_type(content_type: str) -> str:
    """``csv`` or ``json``; 422 naming ``content-type`` for anything else."""
    media_type = content_type.split(";")[0].strip().lower()
    if media_type in ("text/csv", "application/csv"):
        return "csv"
    if media_type == "application/json":
        return "json"
    raise ValidationFailed.field("content-type", "send text/csv or application/json")


def _csv_rows(body: bytes) -> list[RawRow]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed.field("body", "a CSV file must be UTF-8") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in IMPORT_FIELDS if name not in header]
    unknown = [name for name in header if name not in IMPORT_FIELDS and name not in OPTIONAL_IMPORT_FIELDS]
    errors = [{"field": name, "message": "column missing from the header line"} for name in missing]
    errors += [{"field": name, "message": "unknown column"} for name in unknown]
    if errors:
        raise ValidationFailed("The CSV header does not match: " + ", ".join(e["field"] for e in errors), errors)
    reader.fieldnames = header
    rows: list[RawRow] = []
    for record in reader:
        if None in record:  # more cells than header columns
            rows.append({"__extra__": True})
            continue
        rows.append({key: value for key, value in record.items() if value is not None})
    return rows


def _json_rows(body: bytes) -> list[RawRow]:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise ValidationFailed.field("body", "not valid JSON") from None
    if isinstance(document, dict) and set(document) == {"records"}:
        document = document["records"]
    if not isinstance(document, list):
        raise ValidationFailed.field("body", 'expected a list of records or {"records": [...]}')
    return [row if isinstance(row, dict) else {"__not_object__": True} for row in document]
