"""complaint handling: who complained, status (open, resolved, rejected), when and by whom it
was decided, and the resolution

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhibo.kit.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode: SQLite rebuilds the table so the new CHECK constraints are enforced there too.
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "complainant_kind",
                sa.Enum(
                    "viewer",
                    "buyer",
                    "brand",
                    "other",
                    name="complainant_kind",
                    native_enum=False,
                    create_constraint=False,
                    length=24,
                ),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("complainant_id", sa.BigInteger(), nullable=True))
        # Rows already there (loaded from files) are open complaints.
        batch_op.add_column(
            sa.Column(
                "status",
                sa.Enum(
                    "open",
                    "resolved",
                    "rejected",
                    name="complaint_status",
                    native_enum=False,
                    create_constraint=False,
                    length=24,
                ),
                server_default="open",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column("handled_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("handled_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("resolution", sa.Text(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_complaints_complainant_kind"),
            sa.text("complainant_kind IN ('viewer', 'buyer', 'brand', 'other')"),
        )
        batch_op.create_check_constraint(
            op.f("ck_complaints_complaint_status"),
            sa.text("status IN ('open', 'resolved', 'rejected')"),
        )
        batch_op.create_check_constraint(
            op.f("ck_complaints_handled_when_decided"),
            sa.text(
                "(status = 'open' AND handled_at IS NULL) "
                "OR (status <> 'open' AND handled_at IS NOT NULL)"
            ),
        )
        batch_op.create_index("ix_complaints_status", ["status"], unique=False)
        batch_op.create_index(
            "ix_complaints_complainant", ["complainant_kind", "complainant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.drop_index("ix_complaints_complainant")
        batch_op.drop_index("ix_complaints_status")
        batch_op.drop_constraint(op.f("ck_complaints_handled_when_decided"), type_="check")
        batch_op.drop_constraint(op.f("ck_complaints_complaint_status"), type_="check")
        batch_op.drop_constraint(op.f("ck_complaints_complainant_kind"), type_="check")
        batch_op.drop_column("resolution")
        batch_op.drop_column("handled_by")
        batch_op.drop_column("handled_at")
        batch_op.drop_column("status")
        batch_op.drop_column("complainant_id")
        batch_op.drop_column("complainant_kind")
