"""Stored subtree hashes of the custody log's Merkle tree: one per complete block of
256 events, so that a proof or a checkpoint reads O(n / 256) rows instead of every
event's leaf hash (archive.proof.lognodes). Filled by the next checkpoint.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_nodes",
        sa.Column("height", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("log_nodes")
