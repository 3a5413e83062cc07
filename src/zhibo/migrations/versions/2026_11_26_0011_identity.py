"""identity: encrypted identity records, identity checks, guardian consents, the audit of
clear reads, the blacklist with devices and history, tips and refusals, legal holds and
retention runs

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhibo.kit.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Audit trails that are only ever appended to: the database refuses to change them.
APPEND_ONLY = ("personal_data_reads", "blacklist_events")


def upgrade() -> None:
    op.create_table(
        "identity_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "subject_kind",
            sa.Enum(
                "streamer",
                "viewer",
                "operator",
                name="subject_kind",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("id_number_cipher", sa.Text(), nullable=False),
        sa.Column("id_number_hash", sa.String(length=64), nullable=False),
        sa.Column("id_number_masked", sa.String(length=18), nullable=False),
        sa.Column("phone_cipher", sa.Text(), nullable=True),
        sa.Column("phone_hash", sa.String(length=64), nullable=True),
        sa.Column("phone_masked", sa.String(length=20), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("created_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_records")),
    )
    op.create_index(
        op.f("ix_identity_records_id_number_hash"),
        "identity_records",
        ["id_number_hash"],
        unique=False,
    )
    op.create_index(
        op.f("ix_identity_records_phone_hash"), "identity_records", ["phone_hash"], unique=False
    )
    op.create_index(
        "uq_identity_records_subject",
        "identity_records",
        ["subject_kind", "subject_id"],
        unique=True,
    )
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("room_id", sa.BigInteger(), nullable=True),
        sa.Column("session_id", sa.BigInteger(), nullable=True),
        sa.Column("streamer_id", sa.BigInteger(), nullable=True),
        sa.Column("data_class", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("placed_by", sa.String(length=100), nullable=False),
        sa.Column("placed_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("released_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "room_id IS NOT NULL OR session_id IS NOT NULL OR streamer_id IS NOT NULL",
            name=op.f("ck_legal_holds_has_scope"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
    )
    op.create_table(
        "personal_data_reads",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("read_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column(
            "subject_kind",
            sa.Enum(
                "streamer",
                "viewer",
                "operator",
                name="read_subject_kind",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("field", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personal_data_reads")),
    )
    op.create_index(
        op.f("ix_personal_data_reads_read_at"), "personal_data_reads", ["read_at"], unique=False
    )
    op.create_table(
        "retention_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("as_of", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("removed", sa.Integer(), nullable=False),
        sa.Column("started_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_runs")),
    )
    op.create_table(
        "tip_refusals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("viewer_id", sa.BigInteger(), nullable=False),
        sa.Column("session_id", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("reason_code", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("refused_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tip_refusals")),
    )
    op.create_index(op.f("ix_tip_refusals_viewer_id"), "tip_refusals", ["viewer_id"], unique=False)
    op.create_table(
        "blacklist_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id_number_hash", sa.String(length=64), nullable=True),
        sa.Column("id_number_masked", sa.String(length=18), nullable=True),
        sa.Column("phone_hash", sa.String(length=64), nullable=True),
        sa.Column("phone_masked", sa.String(length=20), nullable=True),
        sa.Column(
            "streamer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("appeal_channel", sa.Text(), nullable=False),
        sa.Column("listed_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "lifted",
                "expired",
                name="blacklist_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("lifted_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lift_reason", sa.Text(), nullable=True),
        sa.Column("listed_by", sa.String(length=100), nullable=False),
        sa.Column("source_ref", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "expires_at IS NULL OR expires_at > listed_at",
            name=op.f("ck_blacklist_entries_expires_after"),
        ),
        sa.CheckConstraint(
            "id_number_hash IS NOT NULL OR phone_hash IS NOT NULL",
            name=op.f("ck_blacklist_entries_has_identity_key"),
        ),
        sa.ForeignKeyConstraint(
            ["streamer_id"],
            ["streamers.id"],
            name=op.f("fk_blacklist_entries_streamer_id_streamers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blacklist_entries")),
    )
    op.create_index(
        op.f("ix_blacklist_entries_id_number_hash"),
        "blacklist_entries",
        ["id_number_hash"],
        unique=False,
    )
    op.create_index(
        op.f("ix_blacklist_entries_phone_hash"), "blacklist_entries", ["phone_hash"], unique=False
    )
    op.create_table(
        "guardian_consents",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "streamer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("guardian_name_masked", sa.String(length=100), nullable=False),
        sa.Column("guardian_id_hash", sa.String(length=64), nullable=False),
        sa.Column("guardian_id_masked", sa.String(length=18), nullable=False),
        sa.Column("guardian_id_cipher", sa.Text(), nullable=False),
        sa.Column("relationship", sa.String(length=40), nullable=False),
        sa.Column("document_ref", sa.String(length=200), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("revoked_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["streamer_id"],
            ["streamers.id"],
            name=op.f("fk_guardian_consents_streamer_id_streamers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guardian_consents")),
    )
    op.create_index(
        op.f("ix_guardian_consents_streamer_id"), "guardian_consents", ["streamer_id"], unique=False
    )
    op.create_table(
        "identity_checks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "streamer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "purpose",
            sa.Enum(
                "registration",
                "pre_live",
                name="check_purpose",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("rule_version", sa.String(length=40), nullable=False),
        sa.Column("attested_by", sa.String(length=100), nullable=True),
        sa.Column("document_ref", sa.String(length=200), nullable=True),
        sa.Column("checked_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["streamer_id"], ["streamers.id"], name=op.f("fk_identity_checks_streamer_id_streamers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_checks")),
    )
    op.create_index(
        "ix_identity_checks_streamer_checked",
        "identity_checks",
        ["streamer_id", "checked_at"],
        unique=False,
    )
    op.create_table(
        "blacklist_devices",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("device_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["blacklist_entries.id"],
            name=op.f("fk_blacklist_devices_entry_id_blacklist_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blacklist_devices")),
    )
    op.create_index(
        op.f("ix_blacklist_devices_device_hash"), "blacklist_devices", ["device_hash"], unique=False
    )
    op.create_index(
        "uq_blacklist_devices_pair", "blacklist_devices", ["entry_id", "device_hash"], unique=True
    )
    op.create_table(
        "blacklist_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["blacklist_entries.id"],
            name=op.f("fk_blacklist_events_entry_id_blacklist_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blacklist_events")),
    )
    op.create_index(
        op.f("ix_blacklist_events_entry_id"), "blacklist_events", ["entry_id"], unique=False
    )
    op.create_table(
        "tips",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "viewer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("room_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "streamer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("gift_id", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "held",
                "credited",
                "refunded",
                name="tip_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("sent_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("credit_due_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("credited_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("refunded_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("refund_reason", sa.Text(), nullable=True),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_tips_amount_positive")),
        sa.ForeignKeyConstraint(
            ["room_id"], ["live_rooms.id"], name=op.f("fk_tips_room_id_live_rooms")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["live_sessions.id"], name=op.f("fk_tips_session_id_live_sessions")
        ),
        sa.ForeignKeyConstraint(
            ["streamer_id"], ["streamers.id"], name=op.f("fk_tips_streamer_id_streamers")
        ),
        sa.ForeignKeyConstraint(
            ["viewer_id"], ["viewers.id"], name=op.f("fk_tips_viewer_id_viewers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tips")),
    )
    op.create_index("ix_tips_session", "tips", ["session_id"], unique=False)
    op.create_index(op.f("ix_tips_streamer_id"), "tips", ["streamer_id"], unique=False)
    op.create_index("ix_tips_viewer_sent", "tips", ["viewer_id", "sent_at"], unique=False)
    op.create_index("uq_tips_viewer_key", "tips", ["viewer_id", "idempotency_key"], unique=True)
    _append_only()


def _append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION zhibo_refuse_change() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION zhibo_refuse_change()"
            )
    else:
        for table in APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS zhibo_refuse_change()")
    op.drop_index("uq_tips_viewer_key", table_name="tips")
    op.drop_index("ix_tips_viewer_sent", table_name="tips")
    op.drop_index(op.f("ix_tips_streamer_id"), table_name="tips")
    op.drop_index("ix_tips_session", table_name="tips")
    op.drop_table("tips")
    op.drop_index(op.f("ix_blacklist_events_entry_id"), table_name="blacklist_events")
    op.drop_table("blacklist_events")
    op.drop_index("uq_blacklist_devices_pair", table_name="blacklist_devices")
    op.drop_index(op.f("ix_blacklist_devices_device_hash"), table_name="blacklist_devices")
    op.drop_table("blacklist_devices")
    op.drop_index("ix_identity_checks_streamer_checked", table_name="identity_checks")
    op.drop_table("identity_checks")
    op.drop_index(op.f("ix_guardian_consents_streamer_id"), table_name="guardian_consents")
    op.drop_table("guardian_consents")
    op.drop_index(op.f("ix_blacklist_entries_phone_hash"), table_name="blacklist_entries")
    op.drop_index(op.f("ix_blacklist_entries_id_number_hash"), table_name="blacklist_entries")
    op.drop_table("blacklist_entries")
    op.drop_index(op.f("ix_tip_refusals_viewer_id"), table_name="tip_refusals")
    op.drop_table("tip_refusals")
    op.drop_table("retention_runs")
    op.drop_index(op.f("ix_personal_data_reads_read_at"), table_name="personal_data_reads")
    op.drop_table("personal_data_reads")
    op.drop_table("legal_holds")
    op.drop_index("uq_identity_records_subject", table_name="identity_records")
    op.drop_index(op.f("ix_identity_records_phone_hash"), table_name="identity_records")
    op.drop_index(op.f("ix_identity_records_id_number_hash"), table_name="identity_records")
    op.drop_table("identity_records")
