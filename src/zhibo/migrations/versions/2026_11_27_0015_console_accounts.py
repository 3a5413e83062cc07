"""console accounts: goal definitions in a table (versions with who, when, old and new) and
console users (username, Argon2id password hash, role, subject, lockout)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhibo.kit.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "goal_definition_versions",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("definitions", sa.Text(), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.String(length=120), nullable=False),
        sa.Column("changed_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_goal_definition_versions")),
    )
    op.create_table(
        "console_users",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "operator",
                "compliance",
                "streamer",
                "partner",
                "brand",
                "auditor",
                "viewer",
                name="role",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("subject_id", sa.BigInteger(), nullable=True),
        sa.Column("token_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", zhibo.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_signed_in_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_tokens.id"],
            name=op.f("fk_console_users_token_id_api_tokens"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_users")),
        sa.UniqueConstraint("username", name=op.f("uq_console_users_username")),
    )


def downgrade() -> None:
    op.drop_table("console_users")
    op.drop_table("goal_definition_versions")
