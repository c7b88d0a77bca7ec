"""HR's competencies and company values as the feedback service announces them

A template's competency item may name one by id (shared/catalogue.py).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 06:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalogue_entries",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN ('competency', 'company-value')", name=op.f("ck_catalogue_entries_kind")),
        sa.PrimaryKeyConstraint("kind", "id", name=op.f("pk_catalogue_entries")),
    )


def downgrade() -> None:
    op.drop_table("catalogue_entries")
