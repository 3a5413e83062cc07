"""ledger: accounts, entries and postings (append-only)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 05:06:42.681327
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhibo.kit.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


#: Keys and codes compare byte-wise (see zhibo.models.ledger.Identifier).
IDENTIFIER = sa.String(length=200, collation="C").with_variant(sa.String(length=200), "sqlite")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("code", IDENTIFIER, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=136), nullable=True),
        sa.Column("created_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint("code", name=op.f("uq_ledger_accounts_code")),
    )
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_accounts_kind"), ["kind"], unique=False)

    op.create_table(
        "ledger_entries",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("key", IDENTIFIER, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("effective_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("posted_at", zhibo.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=True),
        sa.Column("ref", sa.String(length=200), nullable=True),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("reverses_entry_id", BIG_ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["reverses_entry_id"],
            ["ledger_entries.id"],
            name=op.f("fk_ledger_entries_reverses_entry_id_ledger_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("key", name=op.f("uq_ledger_entries_key")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entries_order_id", ["order_id"], unique=False)
        batch_op.create_index(
            "uq_ledger_entries_reverses_entry_id",
            ["reverses_entry_id"],
            unique=True,
            postgresql_where=sa.text("reverses_entry_id IS NOT NULL"),
            sqlite_where=sa.text("reverses_entry_id IS NOT NULL"),
        )

    op.create_table(
        "ledger_postings",
        sa.Column("entry_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("line", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.CheckConstraint("amount_fen <> 0", name=op.f("ck_ledger_postings_amount_nonzero")),
        sa.PrimaryKeyConstraint("entry_id", "line", name=op.f("pk_ledger_postings")),
    )
    with op.batch_alter_table("ledger_postings", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_postings_account_id", ["account_id"], unique=False)

    _append_only_triggers()


#: Accounts, entries and postings are append-only: corrections are reversals. The database refuses
#: UPDATE and DELETE itself, so neither a bug nor a hand-typed statement can rewrite history.
APPEND_ONLY = ("ledger_accounts", "ledger_entries", "ledger_postings")


def _append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'the ledger is append-only: % on % refused (post a reversal)',
                    TG_OP, TG_TABLE_NAME;
            END $$
            """
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
            )
        return
    for table in APPEND_ONLY:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: {action} on {table} "
                "refused (post a reversal)'); END"
            )


def _drop_append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS ledger_append_only()")
        return
    for table in APPEND_ONLY:
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")


def downgrade() -> None:
    _drop_append_only_triggers()
    with op.batch_alter_table("ledger_postings", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_postings_account_id")
    op.drop_table("ledger_postings")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("uq_ledger_entries_reverses_entry_id")
        batch_op.drop_index("ix_ledger_entries_order_id")
    op.drop_table("ledger_entries")
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_accounts_kind"))
    op.drop_table("ledger_accounts")
