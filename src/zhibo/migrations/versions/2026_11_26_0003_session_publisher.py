"""session publisher: the nginx-rtmp app and client id of a session's RTMP push

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 01:59:54.398046
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("live_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("publish_app", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("publish_client_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("live_sessions", schema=None) as batch_op:
        batch_op.drop_column("publish_client_id")
        batch_op.drop_column("publish_app")
