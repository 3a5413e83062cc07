"""console jobs: long actions started from the console and their progress, shared by every
API process

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhibo.kit.db

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("started_by", sa.BigInteger(), nullable=True),
        sa.Column("started_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("policy", sa.String(length=100), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("done", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("updated_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_jobs")),
    )
    with op.batch_alter_table("console_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_jobs_started_at"), ["started_at"])


def downgrade() -> None:
    with op.batch_alter_table("console_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_jobs_started_at"))
    op.drop_table("console_jobs")
