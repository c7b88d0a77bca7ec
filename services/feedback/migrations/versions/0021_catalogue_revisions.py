"""Company values and competencies tell other services of every change: a revision per entry

Each entry gets a ``revision`` (1 for what is stored), and every entry already stored is
announced once on the bus (``meritloop.feedback.<kind>.changed``, shared/catalogue.py) through
the outbox, so a service that starts following the lists now learns the entries made before.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02 06:40:00.000000
"""

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, kind): the kind names the event, as shared/catalogue.py does (frozen here).
TABLES = (("company_values", "company-value"), ("competencies", "competency"))
EVENTS = uuid.UUID("5b0f3a52-9a7e-4c55-8a9d-3a1c2f0e7d41")

outbox = sa.table(
    "event_outbox",
    sa.column("id", sa.Uuid),
    sa.column("subject", sa.String),
    sa.column("payload", sa.Text),
    sa.column("headers", sa.Text),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("attempts", sa.Integer),
)


def _announce(connection: sa.Connection, table: str, kind: str, now: datetime) -> None:
    entries = sa.table(table, sa.column("id", sa.Uuid), sa.column("name", sa.String), sa.column("archived", sa.Boolean))
    rows = []
    for entry_id, name, archived in connection.execute(sa.select(entries.c.id, entries.c.name, entries.c.archived)):
        event_id = uuid.uuid5(EVENTS, f"{kind}:{entry_id}:1")
        subject = f"meritloop.feedback.{kind}.changed"
        payload = {
            "specversion": "1.0",
            "id": str(event_id),
            "source": "/meritloop/feedback",
            "type": subject,
            "subject": str(entry_id),
            "time": now.isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "data": {"id": str(entry_id), "name": name, "archived": bool(archived), "revision": 1},
        }
        rows.append(
            {"id": event_id, "subject": subject, "payload": json.dumps(payload), "headers": "{}",
             "created_at": now, "attempts": 0}
        )
    if rows:
        op.bulk_insert(outbox, rows)


def upgrade() -> None:
    connection = op.get_bind()
    now = datetime.now(UTC)
    for table, kind in TABLES:
        # No batch mode: SQLite's table copy would lose the lower(name) index of 0020.
        op.add_column(table, sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))
        _announce(connection, table, kind, now)


def downgrade() -> None:
    for table, _kind in reversed(TABLES):
        op.drop_column(table, "revision")
