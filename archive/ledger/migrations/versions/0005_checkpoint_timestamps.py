"""RFC 3161 timestamp tokens (or why a TSA gave none) of each signed checkpoint.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checkpoint_timestamps",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("checkpoint_id", sa.Integer, sa.ForeignKey("checkpoints.id"), nullable=False,
                  index=True),
        sa.Column("tsa_url", sa.Text, nullable=False),
        sa.Column("requested_at", sa.String(32), nullable=False),
        sa.Column("response", sa.LargeBinary, nullable=True),
        sa.Column("gen_time", sa.String(32), nullable=True),
        sa.Column("serial", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("checkpoint_timestamps")
