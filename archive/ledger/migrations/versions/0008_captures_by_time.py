"""Captures listed newest first by capture time: an index on (started_at, id), so that
``archive list``, search and the home page read them in that order page by page
instead of in row order, which follows the batches a run stored, not the moments its
overlapping fetches started.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_captures_started_at_id", "captures", ["started_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_captures_started_at_id", table_name="captures")
