"""check-ins: a person's calendar subscription address (the digest of its secret)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.database

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "checkin_calendar_feeds",
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", shared.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_at", shared.database.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_calendar_feeds")),
        sa.UniqueConstraint("person_id", name=op.f("uq_checkin_calendar_feeds_person_id")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_checkin_calendar_feeds_token_digest")),
    )


def downgrade() -> None:
    op.drop_table("checkin_calendar_feeds")
