"""publisher reconnect: when a live session's push left (reconnect grace) and why it ended

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26 11:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhibo.kit.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("live_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("publisher_left_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("end_reason", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("live_sessions", schema=None) as batch_op:
        batch_op.drop_column("end_reason")
        batch_op.drop_column("publisher_left_at")
