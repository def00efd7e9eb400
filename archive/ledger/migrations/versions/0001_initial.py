"""Sources, WARC files, captures, records and the append-only custody log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ZERO = "0" * 64


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("url_key", sa.String(64), nullable=False, unique=True),
        sa.Column("label", sa.Text),
        sa.Column("outlet_hint", sa.Text),
        sa.Column("schedule_group", sa.Text),
        sa.Column("added_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "warc_files",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("relpath", sa.Text, nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, index=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "captures",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("capture_id", sa.String(64), nullable=False, unique=True),
        sa.Column("content_hash", sa.String(64), index=True),
        sa.Column("payload_digest", sa.String(64)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("http_status", sa.Integer),
        sa.Column("url", sa.Text, nullable=False, index=True),
        sa.Column("final_url", sa.Text),
        sa.Column("content_type", sa.Text),
        sa.Column("started_at", sa.String(32), nullable=False),
        sa.Column("ended_at", sa.String(32), nullable=False),
        sa.Column("warc_file_id", sa.Integer, sa.ForeignKey("warc_files.id"), nullable=False),
        sa.Column("revisit_of", sa.String(64)),
        sa.Column("source_id", sa.Integer, sa.ForeignKey("sources.id")),
        sa.Column("manifest", sa.Text, nullable=False),
        sa.Column("provenance", sa.Text, nullable=False),
    )
    op.create_table(
        "records",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("capture_pk", sa.Integer, sa.ForeignKey("captures.id"), nullable=False,
                  index=True),
        sa.Column("warc_file_id", sa.Integer, sa.ForeignKey("warc_files.id"), nullable=False),
        sa.Column("record_id", sa.Text, nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("target_uri", sa.Text),
        sa.Column("date", sa.String(32), nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("length", sa.BigInteger, nullable=False),
        sa.Column("block_digest", sa.String(64), nullable=False),
        sa.Column("payload_digest", sa.String(64)),
    )
    op.create_table(
        "events",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("type", sa.String(48), nullable=False),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("objects", sa.Text, nullable=False),
        sa.Column("agent", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_table(
        "event_objects",
        sa.Column("object_hash", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger, sa.ForeignKey("events.seq"), primary_key=True),
    )
    log_head = op.create_table(
        "log_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(log_head, [{"id": 1, "size": 0, "head_hash": ZERO}])


def downgrade() -> None:
    for name in ("log_head", "event_objects", "events", "records", "captures", "warc_files",
                 "sources"):
        op.drop_table(name)
