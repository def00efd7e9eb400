"""Metadata versions, signed checkpoints, and each event's Merkle leaf hash.

The leaf hash (RFC 9162: SHA-256(0x00 || canonical entry bytes)) is stored so a tree
over a million events is built from 32-byte column values, not by re-serialising
every event; existing events get theirs computed here.

Revision ID: 0002
Revises: 0001
"""

import hashlib
import json

import rfc8785
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("leaf_hash", sa.String(64), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT seq, event_id, type, time, objects, agent, outcome, detail, prev_hash "
        "FROM events ORDER BY seq")).all()
    for r in rows:
        entry = {"seq": r.seq, "event_id": r.event_id, "type": r.type, "time": r.time,
                 "objects": json.loads(r.objects), "agent": json.loads(r.agent),
                 "outcome": r.outcome, "detail": json.loads(r.detail),
                 "prev": "sha256:" + r.prev_hash}
        leaf = hashlib.sha256(b"\x00" + rfc8785.dumps(entry)).hexdigest()
        conn.execute(sa.text("UPDATE events SET leaf_hash = :h WHERE seq = :s"),
                     {"h": leaf, "s": r.seq})
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root_hash", sa.String(64), nullable=False),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column("key_fingerprint", sa.String(64), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "metadata_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("capture_pk", sa.Integer, sa.ForeignKey("captures.id"), nullable=False,
                  index=True),
        sa.Column("extractor", sa.Text, nullable=False),
        sa.Column("extractor_version", sa.String(32), nullable=False),
        sa.Column("record", sa.Text, nullable=False),  # canonical JSON
        sa.Column("record_sha256", sa.String(64), nullable=False),
        sa.Column("warc_file_id", sa.Integer, sa.ForeignKey("warc_files.id"), nullable=False),
        sa.Column("warc_record_id", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.UniqueConstraint("capture_pk", "extractor", "extractor_version"),
    )


def downgrade() -> None:
    op.drop_table("metadata_versions")
    op.drop_table("checkpoints")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("leaf_hash")
