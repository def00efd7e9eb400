"""Table definitions (SQLAlchemy Core). The schema itself is owned by the Alembic
migrations in ``archive/migrations``; these mirror them for queries, and a test
checks that the two agree.

SHA-256 digests are stored as bare lowercase hex (so a prefix search is a plain
range on an indexed column) and are ``sha256:<hex>`` everywhere in Python: every
digest column is a :class:`Sha256Hex`, which converts on the way in and out. Times
are ISO 8601 UTC strings, identical on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    literal_column,
    type_coerce,
)

from archive.core.hashing import PREFIX

_DIGEST_LEN = len(PREFIX) + 64
_PREFIX_SQL = literal_column(f"'{PREFIX}'", String)  # a constant: no bound parameter


class Sha256Hex(TypeDecorator[str]):
    """A SHA-256 digest column: ``sha256:<hex>`` in Python, its 64 bare hex digits in
    the database (the form every archive has stored since the first migration, so the
    schema and the data are unchanged).

    Values bound to such a column (inserts and updates, ``column == value``,
    ``column.in_(values)``) lose the prefix in Python; a value that is not a whole
    ``sha256:<hex>`` digest is refused (``ValueError``), so a bare hex or a partial
    hash never reaches a comparison by mistake. A prefix search compares the stored hex
    on purpose (:func:`archive.ledger.queries.digest_prefix`).

    Values read gain the prefix in SQL: where the column (or ``func.max`` of it) is a
    column of the outermost SELECT, SQLAlchemy selects ``'sha256:' || column`` instead
    (NULL stays NULL). Subqueries, ``WHERE``, ``ORDER BY`` and indexes see the stored
    hex. Doing it in SQL rather than per value in Python keeps the rows ``verify``
    streams cheap (a Python call per value cost it about 4 times as much CPU).
    Raw ``text()`` SQL bypasses the type both ways: the library has none over these
    columns."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if len(value) != _DIGEST_LEN or not value.startswith(PREFIX):
            raise ValueError(f"a digest column takes sha256:<64 hex>, got {value!r}")
        return value[len(PREFIX):]

    def column_expression(self, colexpr: ColumnElement[str]) -> ColumnElement[str]:
        return _PREFIX_SQL + type_coerce(colexpr, String)


metadata = MetaData()

sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("url", Text, nullable=False),
    Column("url_key", Sha256Hex(), nullable=False, unique=True),
    Column("label", Text),
    Column("outlet_hint", Text),
    Column("schedule_group", Text),
    Column("added_at", String(32), nullable=False),
)

warc_files = Table(
    "warc_files",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("relpath", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("sha256", Sha256Hex(), nullable=False, index=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", String(32), nullable=False),
)

captures = Table(
    "captures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("capture_id", Sha256Hex(), nullable=False, unique=True),
    Column("content_hash", Sha256Hex(), index=True),
    Column("payload_digest", Sha256Hex()),
    Column("kind", String(16), nullable=False),  # http | document | imported
    Column("status", String(16), nullable=False),  # complete | truncated | http-error | ...
    Column("http_status", Integer),
    Column("url", Text, nullable=False, index=True),
    Column("final_url", Text),
    Column("content_type", Text),
    Column("started_at", String(32), nullable=False),
    Column("ended_at", String(32), nullable=False),
    Column("warc_file_id", Integer, ForeignKey("warc_files.id"), nullable=False),
    Column("revisit_of", Sha256Hex()),
    Column("source_id", Integer, ForeignKey("sources.id")),
    Column("manifest", Text, nullable=False),  # canonical JSON; capture_id is its SHA-256
    Column("provenance", Text, nullable=False),  # JSON, as in the WARC metadata record
    Column("run_id", String(64)),  # the orchestrator run that made it (retries reuse it)
    Index("ix_captures_run_id_url", "run_id", "url"),
    Index("ix_captures_started_at_id", "started_at", "id"),  # lists, newest first
)

records = Table(
    "records",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("capture_pk", Integer, ForeignKey("captures.id"), nullable=False, index=True),
    Column("warc_file_id", Integer, ForeignKey("warc_files.id"), nullable=False),
    Column("record_id", Text, nullable=False),
    Column("type", String(16), nullable=False),
    Column("target_uri", Text),
    Column("date", String(32), nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("length", BigInteger, nullable=False),
    Column("block_digest", Sha256Hex(), nullable=False),
    Column("payload_digest", Sha256Hex()),
    Index("ix_records_payload_digest", "payload_digest"),  # requisites' revisits
)

events = Table(
    "events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("type", String(48), nullable=False),
    Column("time", String(32), nullable=False),
    Column("objects", Text, nullable=False),  # canonical JSON list of "sha256:..." ids
    Column("agent", Text, nullable=False),  # canonical JSON object
    Column("outcome", String(16), nullable=False),
    Column("detail", Text, nullable=False),  # canonical JSON object
    Column("prev_hash", Sha256Hex(), nullable=False),
    Column("entry_hash", Sha256Hex(), nullable=False, unique=True),
    Column("leaf_hash", Sha256Hex()),  # RFC 9162 leaf hash of the canonical entry
)

event_objects = Table(
    "event_objects",
    metadata,
    Column("object_hash", Sha256Hex(), primary_key=True),
    Column("seq", BigInteger, ForeignKey("events.seq"), primary_key=True),
)

log_head = Table(
    "log_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("head_hash", Sha256Hex(), nullable=False),
)

log_nodes = Table(
    # MTH of the events [idx * 2**height, (idx + 1) * 2**height): a cache of the log's
    # tree (archive.proof.lognodes), written by checkpoints, checked by verify.
    "log_nodes",
    metadata,
    Column("height", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", Sha256Hex(), nullable=False),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("root_hash", Sha256Hex(), nullable=False),
    Column("origin", Text, nullable=False),
    Column("key_fingerprint", Sha256Hex(), nullable=False),
    Column("note", Text, nullable=False),  # the signed checkpoint, exactly as issued
    Column("created_at", String(32), nullable=False),
)

checkpoint_timestamps = Table(
    "checkpoint_timestamps",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("checkpoint_id", Integer, ForeignKey("checkpoints.id"), nullable=False, index=True),
    Column("tsa_url", Text, nullable=False),
    Column("requested_at", String(32), nullable=False),
    Column("response", LargeBinary, nullable=True),  # DER TimeStampResp, exactly as received
    Column("gen_time", String(32), nullable=True),  # read from the token (cache, verified)
    Column("serial", Text, nullable=True),
    Column("error", Text, nullable=True),  # why there is no token (TSA down, garbage...)
)

metadata_versions = Table(
    "metadata_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("capture_pk", Integer, ForeignKey("captures.id"), nullable=False, index=True),
    Column("extractor", Text, nullable=False),
    Column("extractor_version", String(32), nullable=False),
    Column("record", Text, nullable=False),
    Column("record_sha256", Sha256Hex(), nullable=False),
    Column("warc_file_id", Integer, ForeignKey("warc_files.id"), nullable=False),
    Column("warc_record_id", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("capture_pk", "extractor", "extractor_version"),
)

imports = Table(
    "imports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("warc_file_id", Integer, ForeignKey("warc_files.id"), nullable=False),
    Column("file_sha256", Sha256Hex(), nullable=False, unique=True),
    Column("original_name", Text, nullable=False),
    Column("format", String(8), nullable=False),
    Column("compression", String(16), nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("record_counts", Text, nullable=False),
    Column("problems", Text, nullable=False),
    Column("imported_at", String(32), nullable=False),
)
