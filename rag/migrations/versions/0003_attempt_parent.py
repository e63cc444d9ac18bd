"""Link a follow-up attempt to the attempt at its main question: `attempts.parent_attempt_id` (nullable).

Follow-ups are questions of their own now; their attempts are stored under the follow-up's id. Rows from
before keep NULL (their follow-up attempts were stored under the main question's id).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ATTEMPT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # A plain nullable column: ADD COLUMN on both backends, no table rebuild, every row kept as it is.
    op.add_column("attempts", sa.Column("parent_attempt_id", ATTEMPT_ID, nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN on both (SQLite 3.35+), so SQLite keeps the table, its AUTOINCREMENT and checks.
    op.drop_column("attempts", "parent_attempt_id")
