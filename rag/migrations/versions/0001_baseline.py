"""Baseline: users, attempts and cards, as the history had them before Alembic.

A SQLite file written before Alembic already holds these tables (and a `schema_version` table) but no
`alembic_version`; this revision then leaves them as they are, so every attempt, card and pending question
survives. A new database gets the tables created here. User names compare case-insensitively: `COLLATE NOCASE`
on SQLite, the `citext` type on PostgreSQL (a trusted extension since PostgreSQL 13, so the database owner can
create it).

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

USER_NAME = sa.Text(collation="NOCASE").with_variant(postgresql.CITEXT(), "postgresql")
ATTEMPT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER PRIMARY KEY is SQLite's rowid


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(sa.text("CREATE EXTENSION IF NOT EXISTS citext"))
    existing = set(sa.inspect(bind).get_table_names())
    if "users" not in existing:
        op.create_table(
            "users",
            sa.Column("name", USER_NAME, primary_key=True),
            sa.Column("created_at", sa.Text(), nullable=False),
            sa.Column("pending_json", sa.Text()),
        )
    if "attempts" not in existing:
        op.create_table(
            "attempts",
            sa.Column("id", ATTEMPT_ID, primary_key=True, autoincrement=True),
            sa.Column("user", USER_NAME, sa.ForeignKey("users.name"), nullable=False),
            sa.Column("question_id", sa.Text(), nullable=False),
            sa.Column("topic", sa.Text(), nullable=False),
            sa.Column("level", sa.Text(), nullable=False),
            sa.Column("kind", sa.Text(), nullable=False),
            sa.Column("answer", sa.Text(), nullable=False, server_default=""),
            sa.Column("grade_json", sa.Text()),
            sa.Column("grader", sa.Text(), nullable=False, server_default=""),
            sa.Column("model", sa.Text(), nullable=False, server_default=""),
            sa.Column("score", sa.Float()),
            sa.Column("status", sa.Text(), nullable=False),
            sa.Column("fell_back", sa.Integer(), nullable=False, server_default="0"),
            sa.Column("hints", sa.Integer(), nullable=False, server_default="0"),
            sa.Column("created_at", sa.Text(), nullable=False),
            sa.CheckConstraint("kind IN ('answer', 'skip', 'idk', 'followup')", name="attempts_kind"),
            sa.CheckConstraint("status IN ('scored', 'unscored', 'none')", name="attempts_status"),
            sqlite_autoincrement=True,
        )
        op.create_index("attempts_user_time", "attempts", ["user", "created_at"])
    if "cards" not in existing:
        op.create_table(
            "cards",
            sa.Column("user", USER_NAME, primary_key=True),
            sa.Column("question_id", sa.Text(), primary_key=True),
            sa.Column("card_json", sa.Text(), nullable=False),
            sa.Column("due", sa.Text(), nullable=False),
            sa.Column("updated_at", sa.Text(), nullable=False),
        )


def downgrade() -> None:
    op.drop_table("cards")
    op.drop_index("attempts_user_time", table_name="attempts")
    op.drop_table("attempts")
    op.drop_table("users")
