"""The custody database: engine set-up, transactions, migrations.

SQLite (the embedded default) runs in WAL mode with ``synchronous=FULL``; write
transactions start with ``BEGIN IMMEDIATE`` so two writers queue on the busy
timeout instead of failing on upgrade from a read lock. PostgreSQL is chosen by
URL. Transient conflicts (SQLite busy, PostgreSQL serialisation failures and
deadlocks) are retried a bounded number of times with jitter.
"""

from __future__ import annotations

import fcntl
import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from alembic.config import Config

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from archive.errors import ConfigError, DatabaseError

T = TypeVar("T")
MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration. Opening a database at this revision needs no alembic (whose
# import is a quarter of a second, paid by every command and worker process);
# tests/test_db.py checks that this is alembic's head.
SCHEMA_HEAD = "0008"
_SQLITE_BUSY_MS = 30_000
_PG_LOCK_KEY = 0x41524348  # "ARCH": advisory lock id for migrations


def make_engine(url: str) -> Engine:
    """Create an engine with the pragmas and transaction behaviour we rely on."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError(f"ARCHIVE_DATABASE_URL is not a database URL: {url!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": _SQLITE_BUSY_MS / 1000, "isolation_level": None}
        )
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True)
    raise ConfigError(f"unsupported database {parsed.get_backend_name()!r}: "
                      "use sqlite or postgresql")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def inserted_id(result: Any) -> int:
    """The primary key of a single-row INSERT."""
    key = result.inserted_primary_key
    if key is None:
        raise DatabaseError("the database returned no id for an inserted row")
    return int(key[0])


IN_CHUNK = 500
"""Values bound in one ``IN (...)`` query: well below SQLite's limit on parameters."""


def in_chunks(values: Iterable[T]) -> Iterator[list[T]]:
    """``values`` without repeats, in first-seen order, cut into lists of
    :data:`IN_CHUNK` for ``column.in_(...)`` lookups of any number of keys."""
    unique = list(dict.fromkeys(values))
    for i in range(0, len(unique), IN_CHUNK):
        yield unique[i:i + IN_CHUNK]


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError) and "database is locked" in str(exc):
        return True
    if isinstance(exc, DBAPIError):
        code = getattr(getattr(exc, "orig", None), "sqlstate", None)
        return code in {"40001", "40P01"}  # serialization_failure, deadlock_detected
    return False


def run_write(engine: Engine, work: Callable[[Connection], T], *, attempts: int = 8) -> T:
    """Run ``work`` in one write transaction, retrying transient conflicts.

    ``work`` must be safe to run again from the start (it is, if it only touches the
    database inside the transaction it is given).
    """
    for attempt in range(1, attempts + 1):
        try:
            with engine.connect().execution_options(immediate=True) as conn, conn.begin():
                return work(conn)
        except DBAPIError as exc:
            if attempt < attempts and _transient(exc):
                time.sleep(min(2.0, 0.02 * 2**attempt) * random.uniform(0.5, 1.5))
                continue
            raise DatabaseError(f"custody database write failed: {_short(exc)}") from exc
    raise AssertionError("unreachable")


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    try:
        with engine.connect() as conn, conn.begin():
            yield conn
    except DBAPIError as exc:
        raise DatabaseError(f"custody database read failed: {_short(exc)}") from exc


def _short(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc).splitlines()[0]


def _alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str | None:
    """The newest migration, as alembic reads the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision alembic recorded in the database (None: no schema yet)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(versions) > 1:
        raise DatabaseError(f"the custody database records several schema revisions "
                            f"({', '.join(versions)}); it was migrated by hand")
    return versions[0] if versions else None


def upgrade(engine: Engine) -> None:
    """Bring the schema to head; safe when many processes start at once."""
    try:
        if current_revision(engine) == SCHEMA_HEAD:
            return
        from alembic import command

        with _migration_lock(engine):
            if current_revision(engine) == head_revision():
                return
            with engine.connect() as conn:
                cfg = _alembic_config()
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                if conn.in_transaction():
                    conn.commit()
    except DBAPIError as exc:
        raise DatabaseError(f"cannot migrate the custody database: {_short(exc)}") from exc


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if is_sqlite(engine):
        db = engine.url.database
        if not db or db == ":memory:":
            yield
            return
        with Path(db + ".migrate-lock").open("a") as lockfile:
            fcntl.flock(lockfile, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lockfile, fcntl.LOCK_UN)
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()


def open_database(url: str) -> Engine:
    engine = make_engine(url)
    upgrade(engine)
    return engine


def open_read_only(url: str) -> Engine:
    """An engine that cannot write: every connection is ``PRAGMA query_only`` (SQLite) or
    ``default_transaction_read_only`` (PostgreSQL), and nothing is migrated. For readers
    that must never change the archive (``archive serve``); a schema older than this
    code is refused (a writer's command migrates it)."""
    engine = make_engine(url)
    sqlite = is_sqlite(engine)

    @event.listens_for(engine, "connect")
    def _read_only(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA query_only=ON" if sqlite else
                    "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        cur.close()
        if not sqlite:
            dbapi_conn.commit()

    if current_revision(engine) != head_revision():
        engine.dispose()
        raise DatabaseError("the database schema is not this version's; run any writing "
                            "command (e.g. `archive verify`) once to migrate it")
    return engine
