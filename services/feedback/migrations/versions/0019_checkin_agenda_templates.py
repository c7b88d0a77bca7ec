"""check-ins: HR's agenda templates, and the template a series uses

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.database

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "checkin_agenda_templates",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prompts", sa.JSON(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", shared.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("modified_at", shared.database.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_agenda_templates")),
        sa.UniqueConstraint("name", name=op.f("uq_checkin_agenda_templates_name")),
    )
    with op.batch_alter_table("checkin_series", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agenda_template_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_checkin_series_agenda_template_id_checkin_agenda_templates"),
            "checkin_agenda_templates",
            ["agenda_template_id"],
            ["id"],
            ondelete="RESTRICT",
        )


def downgrade() -> None:
    with op.batch_alter_table("checkin_series", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_checkin_series_agenda_template_id_checkin_agenda_templates"), type_="foreignkey"
        )
        batch_op.drop_column("agenda_template_id")
    op.drop_table("checkin_agenda_templates")
