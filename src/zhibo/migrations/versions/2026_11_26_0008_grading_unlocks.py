"""grading unlocks: traffic limits (recommendation listings), campaigns and their enrolments

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhibo.kit.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _utc() -> zhibo.kit.db.UTCDateTime:
    return zhibo.kit.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "traffic_limits",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("room_id", BIG_ID, nullable=False),
        sa.Column("limited_from", _utc(), nullable=False),
        sa.Column("limited_until", _utc(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source_ref", sa.String(length=200), nullable=True),
        sa.Column("set_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("lifted_at", _utc(), nullable=True),
        sa.CheckConstraint(
            "limited_until > limited_from", name=op.f("ck_traffic_limits_ends_after_start")
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["live_rooms.id"], name=op.f("fk_traffic_limits_room_id_live_rooms")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_traffic_limits")),
    )
    with op.batch_alter_table("traffic_limits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_traffic_limits_room_until", ["room_id", "limited_until"], unique=False
        )

    op.create_table(
        "campaigns",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("starts_at", _utc(), nullable=False),
        sa.Column("ends_at", _utc(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_campaigns_ends_after_start")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )

    op.create_table(
        "campaign_enrolments",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("campaign_id", BIG_ID, nullable=False),
        sa.Column("streamer_id", BIG_ID, nullable=False),
        sa.Column("session_id", BIG_ID, nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("enrolled_at", _utc(), nullable=False),
        sa.CheckConstraint(
            "level BETWEEN 0 AND 5", name=op.f("ck_campaign_enrolments_level_range")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_enrolments_campaign_id_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["live_sessions.id"],
            name=op.f("fk_campaign_enrolments_session_id_live_sessions"),
        ),
        sa.ForeignKeyConstraint(
            ["streamer_id"],
            ["streamers.id"],
            name=op.f("fk_campaign_enrolments_streamer_id_streamers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_enrolments")),
    )
    with op.batch_alter_table("campaign_enrolments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_campaign_enrolments_campaign_streamer",
            ["campaign_id", "streamer_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_campaign_enrolments_streamer_id"), ["streamer_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("campaign_enrolments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_enrolments_streamer_id"))
        batch_op.drop_index("ix_campaign_enrolments_campaign_streamer")
    op.drop_table("campaign_enrolments")
    op.drop_table("campaigns")
    with op.batch_alter_table("traffic_limits", schema=None) as batch_op:
        batch_op.drop_index("ix_traffic_limits_room_until")
    op.drop_table("traffic_limits")
