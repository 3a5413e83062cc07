"""order idempotency: a buyer's Idempotency-Key, unique per buyer, so a retried order is one

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-27 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=100), nullable=True))
        batch_op.create_index(
            "uq_orders_buyer_idempotency_key", ["buyer_id", "idempotency_key"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("uq_orders_buyer_idempotency_key")
        batch_op.drop_column("idempotency_key")
