"""settlement accrual: the queue of orders still to settle; slot fees record their sales

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("slot_fee_terms", sa.Column("sales_fen", sa.BigInteger(), nullable=True))
    op.create_table(
        "settlement_pending",
        sa.Column(
            "order_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_settlement_pending")),
    )
    # Every accrued order without its commission item is still to settle.
    op.execute(
        "INSERT INTO settlement_pending (order_id) SELECT oc.order_id FROM order_commissions oc "
        "WHERE NOT EXISTS (SELECT 1 FROM settlement_items si "
        "WHERE si.kind = 'commission' AND si.source_id = oc.order_id)"
    )


def downgrade() -> None:
    op.drop_table("settlement_pending")
    with op.batch_alter_table("slot_fee_terms") as batch:
        batch.drop_column("sales_fen")
