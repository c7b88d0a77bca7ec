"""HR's lists: a name is unique in any case, also against two adds racing each other

The services refused a name that differs only in case, but only by reading first: two requests
adding "Wins" and "wins" at the same moment both passed that read, and the case-sensitive unique
constraint let both in. A unique index on lower(name) makes the database refuse the second.
Names already stored that differ only in case keep the oldest as it is and number the others.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 02:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("company_values", "competencies", "checkin_agenda_templates")
NAME_LENGTH = 100


def _number_case_duplicates(connection: sa.Connection, table: str) -> None:
    # lower() of the database itself, so that the numbered names pass the index built with it.
    rows = connection.execute(
        sa.text(f"SELECT id, name, lower(name) FROM {table} ORDER BY created_at, id")
    ).all()
    taken = {folded for _, _, folded in rows}
    seen: set[str] = set()
    for row_id, name, folded in rows:
        if folded not in seen:
            seen.add(folded)
            continue
        number = 2
        while True:
            suffix = f" ({number})"
            candidate = name[: NAME_LENGTH - len(suffix)] + suffix
            if candidate.lower() not in taken:
                break
            number += 1
        taken.add(candidate.lower())
        connection.execute(
            sa.text(f"UPDATE {table} SET name = :name WHERE id = :id"),
            {"name": candidate, "id": row_id},
        )


def upgrade() -> None:
    connection = op.get_bind()
    for table in TABLES:
        _number_case_duplicates(connection, table)
        op.create_index(f"uq_{table}_name_lower", table, [sa.text("lower(name)")], unique=True)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_index(f"uq_{table}_name_lower", table_name=table)
