"""identity payouts: tips paid out by settlement runs (payout batch columns, tip payout items),
viewers' real-name verification decisions, and reviewers' patrol shifts (issue 8)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhibo.kit.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH_COLUMNS = (
    "tips",
    "tips_fen",
    "tip_clawback_fen",
    "tip_carried_in_fen",
    "tip_carried_out_fen",
)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False)


def upgrade() -> None:
    # Plain ADD COLUMN (no table rebuild on SQLite): existing batches paid no tips.
    for name in _BATCH_COLUMNS:
        op.add_column(
            "payout_batches",
            sa.Column(name, sa.BigInteger(), server_default="0", nullable=False),
        )
    op.create_table(
        "tip_payout_items",
        sa.Column(
            "kind",
            sa.Enum(
                "tip",
                "clawback",
                name="tip_payout_kind",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("tip_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("streamer_id", sa.BigInteger(), nullable=False),
        sa.Column("tip_amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "tip_id", name=op.f("pk_tip_payout_items")),
    )
    op.create_index("ix_tip_payout_items_run", "tip_payout_items", ["run_id"], unique=False)

    op.create_table(
        "viewer_verifications",
        _id(),
        sa.Column(
            "viewer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "action",
            sa.Enum(
                "verified",
                "refused",
                "reset",
                name="viewer_verification_action",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("rule_version", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("id_number_masked", sa.String(length=18), nullable=True),
        sa.Column("id_number_hash", sa.String(length=64), nullable=True),
        sa.Column("is_minor", sa.Boolean(), nullable=True),
        sa.Column("checked_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["viewer_id"],
            ["viewers.id"],
            name=op.f("fk_viewer_verifications_viewer_id_viewers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_viewer_verifications")),
    )
    op.create_index(
        "ix_viewer_verifications_viewer_checked",
        "viewer_verifications",
        ["viewer_id", "checked_at"],
        unique=False,
    )

    op.create_table(
        "patrol_shifts",
        _id(),
        sa.Column(
            "reviewer_token_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("reviewer_name", sa.String(length=100), nullable=False),
        sa.Column("starts_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "ends_at IS NULL OR ends_at > starts_at",
            name=op.f("ck_patrol_shifts_ends_after_start"),
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_token_id"],
            ["api_tokens.id"],
            name=op.f("fk_patrol_shifts_reviewer_token_id_api_tokens"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patrol_shifts")),
    )
    op.create_index(
        "ix_patrol_shifts_reviewer_start",
        "patrol_shifts",
        ["reviewer_token_id", "starts_at"],
        unique=False,
    )
    op.create_index("ix_patrol_shifts_starts_at", "patrol_shifts", ["starts_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_patrol_shifts_starts_at", table_name="patrol_shifts")
    op.drop_index("ix_patrol_shifts_reviewer_start", table_name="patrol_shifts")
    op.drop_table("patrol_shifts")
    op.drop_index("ix_viewer_verifications_viewer_checked", table_name="viewer_verifications")
    op.drop_table("viewer_verifications")
    op.drop_index("ix_tip_payout_items_run", table_name="tip_payout_items")
    op.drop_table("tip_payout_items")
    # SQLite (3.35+) drops a plain column in place, keeping the table's CHECK constraints.
    for name in reversed(_BATCH_COLUMNS):
        op.drop_column("payout_batches", name)
