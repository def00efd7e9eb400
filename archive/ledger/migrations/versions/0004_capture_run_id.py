"""Remember which orchestrator run made each capture, so a retried step can find them.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("captures") as batch:
        batch.add_column(sa.Column("run_id", sa.String(64), nullable=True))
        batch.create_index("ix_captures_run_id_url", ["run_id", "url"])


def downgrade() -> None:
    with op.batch_alter_table("captures") as batch:
        batch.drop_index("ix_captures_run_id_url")
        batch.drop_column("run_id")
