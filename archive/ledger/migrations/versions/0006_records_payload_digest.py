"""Index records by payload digest: page captures look up a requisite's earlier
response (same URL, same payload) to write a revisit instead of the bytes again.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.create_index("ix_records_payload_digest", ["payload_digest"])


def downgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.drop_index("ix_records_payload_digest")
