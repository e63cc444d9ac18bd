"""Keep each user's question filters: `users.filters_json` (nullable), the sidebar's topics and levels.

Rows from before keep NULL: no filters, every topic at the candidate's level, as before.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("filters_json", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("users", "filters_json")
