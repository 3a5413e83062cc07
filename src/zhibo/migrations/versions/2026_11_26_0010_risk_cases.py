"""risk cases: findings, cases, measures, notices, appeals and the append-only audit log

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhibo.kit.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The audit log is append-only: the database refuses UPDATE and DELETE on it.
APPEND_ONLY = ("risk_audit_log",)


def upgrade() -> None:
    op.create_table(
        "risk_audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("rule_key", sa.String(length=120), nullable=False),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_audit_log")),
    )
    op.create_index("ix_risk_audit_log_case", "risk_audit_log", ["case_id"], unique=False)
    op.create_table(
        "risk_cases",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "subject_kind",
            sa.Enum(
                "streamer",
                "viewer",
                name="subject_kind",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("room_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("rule_key", sa.String(length=120), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("rule_description", sa.Text(), nullable=False),
        sa.Column("rule_measures", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending_review",
                "sanctioned",
                "dismissed",
                "appealed",
                "overturned",
                name="risk_case_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("review_reason", sa.Text(), nullable=False),
        sa.Column("repetition", sa.Integer(), nullable=False),
        sa.Column("opened_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["room_id"], ["live_rooms.id"], name=op.f("fk_risk_cases_room_id_live_rooms")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_cases")),
    )
    op.create_index("ix_risk_cases_status", "risk_cases", ["status"], unique=False)
    op.create_index(
        "ix_risk_cases_subject",
        "risk_cases",
        ["subject_kind", "subject_id", "status"],
        unique=False,
    )
    op.create_table(
        "risk_appeals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("appellant_kind", sa.String(length=16), nullable=False),
        sa.Column(
            "appellant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "won",
                "lost",
                name="appeal_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("filed_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["risk_cases.id"], name=op.f("fk_risk_appeals_case_id_risk_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_appeals")),
    )
    op.create_index(op.f("ix_risk_appeals_case_id"), "risk_appeals", ["case_id"], unique=False)
    op.create_table(
        "risk_findings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("dedup_key", sa.String(length=255), nullable=False),
        sa.Column("detector", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.String(length=100), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("rule_state", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("room_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "session_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("subject_kind", sa.String(length=16), nullable=True),
        sa.Column(
            "subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("user_ids", sa.Text(), nullable=False),
        sa.Column("window_start", zhibo.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("window_end", zhibo.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("event_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("detected_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["risk_cases.id"], name=op.f("fk_risk_findings_case_id_risk_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_findings")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_risk_findings_dedup_key")),
    )
    op.create_index("ix_risk_findings_case", "risk_findings", ["case_id"], unique=False)
    op.create_index(
        "ix_risk_findings_room_detected", "risk_findings", ["room_id", "detected_at"], unique=False
    )
    op.create_table(
        "risk_measures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "finding_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column(
            "target_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "status",
            sa.Enum(
                "applied",
                "pending",
                "reversed",
                "not_applicable",
                name="measure_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("starts_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("reversed_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reversal_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["risk_cases.id"], name=op.f("fk_risk_measures_case_id_risk_cases")
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["risk_findings.id"],
            name=op.f("fk_risk_measures_finding_id_risk_findings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_measures")),
    )
    op.create_index("ix_risk_measures_case", "risk_measures", ["case_id"], unique=False)
    op.create_index(
        "ix_risk_measures_target",
        "risk_measures",
        ["target_kind", "target_id", "kind"],
        unique=False,
    )
    op.create_table(
        "risk_notices",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("recipient_kind", sa.String(length=16), nullable=False),
        sa.Column(
            "recipient_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "measure_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("room_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("rule_key", sa.String(length=120), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("duration", sa.String(length=120), nullable=False),
        sa.Column("ends_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("appeal_channel", sa.Text(), nullable=False),
        sa.Column("created_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["risk_cases.id"], name=op.f("fk_risk_notices_case_id_risk_cases")
        ),
        sa.ForeignKeyConstraint(
            ["measure_id"],
            ["risk_measures.id"],
            name=op.f("fk_risk_notices_measure_id_risk_measures"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_notices")),
    )
    op.create_index(
        "ix_risk_notices_recipient",
        "risk_notices",
        ["recipient_kind", "recipient_id"],
        unique=False,
    )

    _append_only_triggers()


def _append_only_triggers() -> None:
    # The same approach as the ledger's (0005): a trigger refuses every UPDATE and DELETE.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION risk_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'the risk audit log is append-only: % on % refused',
                    TG_OP, TG_TABLE_NAME;
            END $$
            """
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION risk_audit_append_only()"
            )
        return
    for table in APPEND_ONLY:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'the risk audit log is append-only: {action} on "
                f"{table} refused'); END"
            )


def _drop_append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS risk_audit_append_only()")
        return
    for table in APPEND_ONLY:
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")


def downgrade() -> None:
    _drop_append_only_triggers()
    op.drop_index("ix_risk_notices_recipient", table_name="risk_notices")
    op.drop_table("risk_notices")
    op.drop_index("ix_risk_measures_target", table_name="risk_measures")
    op.drop_index("ix_risk_measures_case", table_name="risk_measures")
    op.drop_table("risk_measures")
    op.drop_index("ix_risk_findings_room_detected", table_name="risk_findings")
    op.drop_index("ix_risk_findings_case", table_name="risk_findings")
    op.drop_table("risk_findings")
    op.drop_index(op.f("ix_risk_appeals_case_id"), table_name="risk_appeals")
    op.drop_table("risk_appeals")
    op.drop_index("ix_risk_cases_subject", table_name="risk_cases")
    op.drop_index("ix_risk_cases_status", table_name="risk_cases")
    op.drop_table("risk_cases")
    op.drop_index("ix_risk_audit_log_case", table_name="risk_audit_log")
    op.drop_table("risk_audit_log")
