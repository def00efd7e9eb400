"""Database faults: data that looks like SQL (FAULTS 31), a connection lost at commit (22)."""

from __future__ import annotations

from pathlib import Path

import pytest
from servers import article_html
from sqlalchemy import create_engine, event, text

from archive.capture.results import CaptureResult
from archive.errors import DatabaseError, NotFoundError

NASTY = "x' OR '1'='1'; DROP TABLE captures; -- %_\\"


def test_sql_fragments_and_like_wildcards_are_stored_and_searched_as_data(
        arc, http_server) -> None:
    """FAULTS 31: bound parameters only; % and _ never act as wildcards."""
    path = "/nasty/%27%20OR%201%3D1--%25_"
    http_server.add_page(path, article_html(NASTY))
    url = http_server.url(path) + "?q=%25%5F%27%22;--"
    (res,) = arc.capture([url])
    assert isinstance(res, CaptureResult)
    md = arc.extract_metadata(res.capture_id)
    assert md.record["title"]["value"] == NASTY
    (shown,) = arc.show(res.capture_id)
    assert shown.url == url
    with arc.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM captures")).scalar() == 1
    for probe in ("%", "_", "'", "' OR '1'='1", "sha256:%"):
        with pytest.raises(NotFoundError):
            arc.resolve(probe)
    assert arc.verify(deep=True).ok


def test_connection_lost_at_commit_leaves_an_orphan_that_is_adopted(
        archive_factory, pg_url: str, tmp_path: Path) -> None:
    """FAULTS 22 on PostgreSQL: the server drops our connection as we commit."""
    arc = archive_factory(db_url=pg_url)
    killer = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    armed = {"on": True}

    @event.listens_for(arc.engine, "commit")
    def _drop_connection(conn) -> None:  # runs just before the COMMIT is sent
        if armed["on"]:
            armed["on"] = False
            pid = conn.connection.dbapi_connection.info.backend_pid
            with killer.begin() as k:
                k.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})

    doc = tmp_path / "doc.txt"
    doc.write_text("A document whose commit is cut off.\n")
    with pytest.raises(DatabaseError, match="stored but not recorded"):
        arc.ingest([doc])
    killer.dispose()
    with arc.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM captures")).scalar() == 0
    assert [p.kind for p in arc.verify().problems] == ["untracked"]
    report = arc.reconcile()
    assert len(report.adopted) == 1 and len(report.adopted[0]["captures"]) == 1
    assert arc.verify(deep=True).ok
