"""Foreign WARC files brought under custody by ``archive import``.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("warc_file_id", sa.Integer, sa.ForeignKey("warc_files.id"), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("original_name", sa.Text, nullable=False),  # data only, never a path
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("compression", sa.String(16), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),  # valid | partial
        sa.Column("record_counts", sa.Text, nullable=False),  # JSON
        sa.Column("problems", sa.Text, nullable=False),  # JSON list of {offset, code, message}
        sa.Column("imported_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("imports")
