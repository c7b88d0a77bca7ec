"""upward results found by manager: a manager's list of released results

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 00:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_upward_results_manager_id"), "upward_results", ["manager_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_upward_results_manager_id"), table_name="upward_results")
