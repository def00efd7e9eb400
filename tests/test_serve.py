"""``archive serve`` over HTTP: a real uvicorn server on loopback ports, a real archive
(SQLite here, PostgreSQL in the last tests), every path of the README's contract."""

from __future__ import annotations

import email.utils
import http.client
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from archfixtures import make_settings
from servekit import CHANGED, Running, Story, fill, serving
from servers import TestServer
from warcio.archiveiterator import ArchiveIterator

from archive.api import Archive
from archive.cli.parser import main
from archive.core.config import Settings
from archive.errors import DatabaseError
from archive.proof.bundle_verify import verify_bundle
from archive.serve.memento import http_date, timestamp


@dataclass(frozen=True)
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def get(origin: str, path: str, headers: dict[str, str] | None = None) -> Reply:
    """GET ``path`` exactly as written (no client-side normalisation of ``..``)."""
    parts = urlsplit(origin)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return Reply(r.status, r.headers, r.read())
    finally:
        conn.close()


@dataclass(frozen=True)
class World:
    story: Story
    run: Running
    settings: Settings
    arc: Archive  # the writer's handle (tests only read through it)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("serve") / "home"
    settings = make_settings(home).with_fetch(allow_private_networks=True, deadline=10.0)
    with TestServer() as site, Archive.open(settings) as arc:
        story = fill(arc, site)
        with serving(settings) as run:
            yield World(story, run, settings, arc)


def cap_ts(w: World, cid: str) -> str:
    """The memento timestamp of a capture's page: its response record's WARC-Date."""
    cap = w.arc.resolve(cid)[0]
    return timestamp(next(r.date for r in w.arc.records_for_uri(cap.url)
                          if r.capture_id == cid))


# --------------------------------------------------------------------------- search


def test_search_finds_captures_by_url_title_outlet_and_hash_newest_first(w: World) -> None:
    s = w.story
    by_title = get(w.run.app, "/search?q=" + quote("storm harbour"))
    assert by_title.status == 200
    ids = re.findall(r'href="/c/(sha256:[0-9a-f]{64})"', by_title.text)
    order = list(dict.fromkeys(ids))
    assert order[:2] == [s.second, s.first]  # newest first
    assert s.css not in order
    assert s.hostile not in order  # its title has no "storm"

    by_url = list(dict.fromkeys(re.findall(r'href="/c/(sha256:[0-9a-f]{64})"', get(
        w.run.app, "/search?q=" + quote("/static/site.css")).text)))
    assert by_url == [s.css]
    by_outlet = get(w.run.app, "/search?q=" + quote("Harbour Gazette")).text
    assert s.first in by_outlet and s.hostile in by_outlet
    by_hash = list(dict.fromkeys(re.findall(r'href="/c/(sha256:[0-9a-f]{64})"', get(
        w.run.app, "/search?q=" + s.first[:15]).text)))
    assert by_hash == [s.first]
    dated = get(w.run.app, "/search?q=" + quote("storm from:2026-11-21")).text
    assert s.first not in dated  # published 2026-11-20
    both = quote("storm from:2026-11-20 to:2026-11-20")
    assert s.first in get(w.run.app, "/search?q=" + both).text


def test_search_reads_candidates_newest_first_in_batches_by_an_escaped_query(
        w: World) -> None:
    from archive.ledger.queries import search_captures

    s = w.story
    batches = list(search_captures(w.arc.engine, ["storm"], batch=1))
    assert all(len(b) == 1 for b in batches)
    ids = [c.capture_id for b in batches for c in b]
    assert ids.index(s.second) < ids.index(s.first) and s.css not in ids
    css = [c.capture_id for b in search_captures(w.arc.engine, ["/static/site.css"])
           for c in b]
    assert css == [s.css]
    # LIKE wildcards are literal: "st%rm" and "st_rm" would match "storm" as patterns
    assert list(search_captures(w.arc.engine, ["st%rm"])) == []
    assert list(search_captures(w.arc.engine, ["st_rm"])) == []
    # a word SQLite cannot fold is left to the caller: every capture is a candidate
    everyone = [c for b in search_captures(w.arc.engine, ["stürm"]) for c in b]
    assert len(everyone) == 4
    assert "No capture matches" in get(w.run.app, "/search?q=st%25rm").text
    page = get(w.run.app, "/search?q=" + quote("STORM"))
    assert "Captures for “STORM”" in page.text and s.second in page.text


def test_home_lists_every_capture_and_pages_stay_in_range(w: World) -> None:
    home = get(w.run.app, "/")
    assert home.status == 200
    assert "Newest captures (4)" in home.text
    assert get(w.run.app, "/search?q=&page=2").status == 200
    assert "No capture matches" in get(w.run.app, "/search?q=&page=2").text
    assert get(w.run.app, "/search?q=&page=abc").status == 200


@pytest.fixture
def w(world: World) -> World:
    return world


# --------------------------------------------------------------------------- capture page


def test_every_event_proof_of_a_capture_verifies_against_the_checkpoint(w: World) -> None:
    """``prove`` builds the checkpoint's tree once for all of a capture's events."""
    import base64

    from sqlalchemy import text

    from archive.proof.merkle import verify_inclusion

    proofs = w.arc.prove(w.story.second)
    root = bytes.fromhex(proofs.checkpoint.root_hash.split(":")[1])
    assert len(proofs.inclusion) >= 3  # capture, digest, metadata extraction
    with w.arc.engine.connect() as c:
        for p in proofs.inclusion:
            leaf = bytes.fromhex(c.execute(text("SELECT leaf_hash FROM events WHERE seq = :s"),
                                           {"s": p.seq}).scalar_one())
            path = [base64.b64decode(h) for h in p.proof]
            assert verify_inclusion(leaf, p.seq, proofs.checkpoint.size, path, root)
            assert not verify_inclusion(leaf, p.seq ^ 1, proofs.checkpoint.size, path, root)


def test_capture_page_shows_proven_values(w: World) -> None:
    s = w.story
    shown = w.arc.show(s.first)[0]
    r = get(w.run.app, f"/c/{s.first}")
    assert r.status == 200
    t = r.text
    assert "Storm closes the harbour for a second day" in t
    assert "Harbour Gazette" in t and "Anna Berg" in t
    assert "2026-11-20T08:30:00+01:00" in t and "evidence" in t
    for value in (s.first, shown.content_hash, shown.url, shown.captured_at,
                  shown.provenance["remote_ip"], shown.manifest["warc_file"]["name"]):
        assert value in t
    assert "Verified:" in t and "last checked" in t
    for ev in shown.events:
        assert ev.to_json()["hash"] in t
    latest = w.arc.prove(s.first).checkpoint
    assert latest.root_hash in t
    for fmt in ("text", "bibtex", "csl-json", "ris", "robust-link"):
        cited = w.arc.cite(s.first, fmt)
        assert f'id="cite-{fmt}"' in t
        assert _unescape(re.search(rf'id="cite-{fmt}">(.*?)</pre>', t, re.S).group(1)) \
            == cited  # type: ignore[union-attr]
    assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")
    by_prefix = get(w.run.app, f"/c/{s.first[:20]}")
    assert by_prefix.status == 200 and s.first in by_prefix.text


def _unescape(text: str) -> str:
    import html

    return html.unescape(text)


def test_hostile_title_is_shown_as_text_never_as_markup(w: World) -> None:
    for path in (f"/c/{w.story.hostile}", "/search?q=" + quote("owned"), "/"):
        t = get(w.run.app, path).text
        assert "<script>alert(" not in t and "<img src=x" not in t
    page = get(w.run.app, f"/c/{w.story.hostile}").text
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;&lt;img src=x" in page


def test_bundle_is_what_archive_bundle_writes_against_the_latest_checkpoint(w: World) -> None:
    r = get(w.run.app, f"/c/{w.story.first}/bundle")
    assert r.status == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.body == w.arc.bundle(w.story.first, checkpoint="latest")
    assert verify_bundle(r.body, trusted_key=w.arc.identity().fingerprint).ok


def test_warc_download_holds_exactly_the_capture_records(w: World) -> None:
    r = get(w.run.app, f"/c/{w.story.first}/warc")
    assert r.status == 200 and r.headers["Content-Type"] == "application/warc"
    ids = [rec.rec_headers.get_header("WARC-Record-ID")
           for rec in ArchiveIterator(io.BytesIO(r.body))]
    assert ids == [x.record_id for x in w.arc.show(w.story.first)[0].records]


# --------------------------------------------------------------------------- Memento


def test_memento_serves_the_response_as_captured_with_memento_headers(w: World) -> None:
    s = w.story
    ts = cap_ts(w, s.first)
    r = get(w.run.replay, f"/web/{ts}/{s.article_url}")
    assert r.status == 200
    date = next(m.date for m in w.arc.records_for_uri(s.article_url)
                if m.capture_id == s.first)
    assert r.headers["Memento-Datetime"] == http_date(date)
    link = r.headers["Link"]
    assert f'<{s.article_url}>; rel="original"' in link
    assert f'<{w.run.replay}/timegate/{s.article_url}>; rel="timegate"' in link
    assert f'<{w.run.replay}/timemap/link/{s.article_url}>; rel="timemap"' in link
    assert "Transfer-Encoding" not in r.headers
    assert r.headers.get_all("Date") == ["Sat, 21 Nov 2026 14:02:03 GMT"]  # as captured
    assert "Storm closes the harbour" in r.text and CHANGED not in r.text
    css_ts = cap_ts(w, s.css)
    assert f'href="/web/{ts}/{s.css_url}"' in r.text  # rewritten into the archive
    csp = r.headers["Content-Security-Policy"]
    assert csp.startswith("default-src 'self' 'unsafe-inline'") and "http" not in \
        csp.split(";")[0]
    # the stylesheet replays from the closest time it was captured (as the page's
    # requisite or on its own), its url() rewritten
    css = get(w.run.replay, f"/web/{ts}/{s.css_url}")
    css_stamps = {timestamp(r.date) for r in w.arc.records_for_uri(s.css_url)}
    if ts in css_stamps:
        assert css.status == 200
    else:
        def apart(stamp: str) -> float:
            at = (datetime.strptime(x, "%Y%m%d%H%M%S") for x in (stamp, ts))
            return abs((next(at) - next(at)).total_seconds())

        assert css.status == 302
        moved = css.headers["Location"].removeprefix("/web/").removesuffix(f"/{s.css_url}")
        assert moved in css_stamps and apart(moved) == min(map(apart, css_stamps))
    css = get(w.run.replay, f"/web/{css_ts}/{s.css_url}")
    assert css.status == 200 and "url(/web/" in css.text and "static/bg.png" in css.text


def test_memento_closest_in_time_and_the_later_version(w: World) -> None:
    s = w.story
    ts2 = cap_ts(w, s.second)
    later = get(w.run.replay, f"/web/{ts2}/{s.article_url}")
    assert later.status == 200 and CHANGED in later.text
    near = get(w.run.replay, f"/web/99991231235959/{s.article_url}")
    assert near.status == 302 and near.headers["Location"] == f"/web/{ts2}/{s.article_url}"


def test_timegate_honours_accept_datetime(w: World) -> None:
    s = w.story
    first = w.arc.records_for_uri(s.article_url)[0].date
    r = get(w.run.app, f"/timegate/{s.article_url}",
            {"Accept-Datetime": "Thu, 01 Jan 1970 00:00:00 GMT"})
    assert r.status == 302
    assert r.headers["Vary"] == "accept-datetime"
    assert r.headers["Location"] == f"{w.run.app}/web/{timestamp(first)}/{s.article_url}"
    now = get(w.run.app, f"/timegate/{s.article_url}")
    assert now.headers["Location"].endswith(f"/web/{cap_ts(w, s.second)}/{s.article_url}")
    assert email.utils.parsedate_to_datetime(http_date(first))


@pytest.mark.parametrize("value", ["yesterday", "Thu, 99 Foo 2020 00:00:00 GMT",
                                   "Thu, 01 Jan 1970 00:00:00 GMT" + " " * 200 + "x" * 5000])
def test_malformed_or_huge_accept_datetime_is_a_400_page(w: World, value: str) -> None:
    r = get(w.run.app, f"/timegate/{w.story.article_url}", {"Accept-Datetime": value})
    assert r.status == 400
    assert "Accept-Datetime" in r.text and "Traceback" not in r.text


def test_timemap_lists_every_memento_in_link_format(w: World) -> None:
    s = w.story
    r = get(w.run.app, f"/timemap/link/{s.article_url}")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("application/link-format")
    mementos = re.findall(r'<([^>]+)>; rel="[^"]*memento"; datetime="([^"]+)"', r.text)
    assert [m[0] for m in mementos] == [
        f"{w.run.app}/web/{cap_ts(w, c)}/{s.article_url}" for c in (s.first, s.second)]
    assert f'<{s.article_url}>; rel="original"' in r.text


def test_frame_page_names_the_capture_and_sandboxes_the_replay(w: World) -> None:
    s = w.story
    ts = cap_ts(w, s.first)
    r = get(w.run.app, f"/web/{ts}/{s.article_url}")
    assert r.status == 200
    assert f'href="/c/{s.first}"' in r.text
    assert 'sandbox="allow-scripts allow-forms allow-popups"' in r.text
    assert f'src="{w.run.replay}/web/{ts}/{s.article_url}"' in r.text
    assert r.headers["Memento-Datetime"]


def test_replay_origin_serves_no_application_page(w: World) -> None:
    for path in (f"/c/{w.story.first}", "/", "/search?q=storm", f"/c/{w.story.first}/bundle",
                 f"/history/{w.story.article_url}"):
        assert get(w.run.replay, path).status == 404, path


# --------------------------------------------------------------------------- history and diff


def test_history_marks_each_capture_and_shows_the_changed_sentence(w: World) -> None:
    s = w.story
    r = get(w.run.app, f"/history/{s.article_url}")
    assert r.status == 200
    verdicts = re.findall(r'<span class="verdict">(\w+)</span>', r.text)
    assert verdicts == ["changed", "new"]  # newest first
    assert re.search(r'<li class="added">.*?' + re.escape(CHANGED), r.text, re.S)
    assert f'compared with <a href="/c/{s.first}"' in r.text
    recorded = re.findall(r'custody log: <span class="recorded-verdict">(\w+)</span>', r.text)
    assert recorded == ["changed", "new"]  # the comparisons the custody log holds
    assert f'against <a href="/c/{s.first}"' in r.text


def test_archive_diff_prints_the_same_change(w: World, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHIVE_HOME", str(w.settings.home))
    monkeypatch.setenv("ARCHIVE_DATABASE_URL", w.settings.database_url)
    assert main(["diff", w.story.first, w.story.second]) == 0
    out = capsys.readouterr().out
    assert f"+ {CHANGED}" in out
    assert not [line for line in out.splitlines() if line.startswith("- ")]
    assert f"custody log: changed against {w.story.first}" in out
    assert main(["diff", w.story.first, w.story.first]) == 0
    assert "the article text is the same" in capsys.readouterr().out
    assert main(["diff", w.story.first, "sha256:" + "0" * 64]) == 6


# --------------------------------------------------------------------------- errors, escapes


@pytest.mark.parametrize("path", [
    "/c/sha256:" + "0" * 64, "/c/zz", "/c/..%2f..%2fetc%2fpasswd", "/c/sha256:",
    "/c/%00", "/web/2024/http://127.0.0.1/", "/web/20241301000000/http://x.invalid/",
    "/web/20240101000000/file:///etc/passwd", "/web/20240101000000/file:/etc/passwd",
    "/web/20240101000000/../../../../etc/passwd",
    "/web/20240101000000/http:%2f%2f127.0.0.1%2f..%2f..%2fetc%2fpasswd",
    "/web/20240101000000/http://never.invalid/", "/timegate/file:///etc/passwd",
    "/timemap/link/http://never.invalid/", "/history/file:///etc/passwd",
    "/history/http://never.invalid/", "/static/../app.py", "/static/%2e%2e/app.py",
    "/static/..%2fapp.py", "/c/x/bundle", "/nothing",
])
def test_bad_hashes_urls_and_path_escapes_are_404_pages(w: World, path: str) -> None:
    for origin in (w.run.app, w.run.replay):
        r = get(origin, path)
        assert r.status == 404, (origin, path, r.status)
        assert "Traceback" not in r.text and "root:" not in r.text
        assert "create_apps" not in r.text and "import" not in r.text
    assert "Not found" in get(w.run.app, path).text


# --------------------------------------------------------------------------- read-only, PostgreSQL


def test_the_server_opens_the_archive_read_only(w: World) -> None:
    with Archive.open_read_only(w.settings) as ro, pytest.raises(DatabaseError):
        ro.delete(w.story.first, reason="must not be written")
    assert not w.arc.withdrawn([w.story.first])


def test_withdrawn_capture_on_postgresql_says_so_and_its_bundle_uses_the_latest_checkpoint(
        pg_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home", pg_url).with_fetch(
        allow_private_networks=True, deadline=10.0)
    with TestServer() as site, Archive.open(settings) as arc:
        story = fill(arc, site)
        arc.delete(story.first, reason="court order to withdraw")  # after the checkpoint
        arc.capture([story.css_url])  # unchanged: a revisit naming the same content hash
        with serving(settings) as run:
            page = get(run.app, f"/c/{story.first}")
            assert page.status == 200
            assert re.search(r'class="withdrawn-banner".*court order to withdraw', page.text,
                             re.S)
            assert page.text.index("withdrawn-banner") < page.text.index("<h1>")
            assert "withdrawn after the latest signed checkpoint" in page.text
            refused = get(run.app, f"/c/{story.first}/bundle")
            assert refused.status == 409 and "withdrawn" in refused.text
            # the stylesheet captured again (a revisit naming the same content hash): the
            # new capture's events are listed on the first one's page, marked as another
            # capture's, and do not make its own (all checkpointed) look unproven
            css_page = get(run.app, f"/c/{story.css}").text
            assert "does not hold this capture&#39;s newest custody event" not in css_page
            assert "of this capture are newer than it" not in css_page
            assert css_page.count("of another capture of the same content") == len(
                [e for e in arc.show(story.css)[0].events if story.css not in e.objects]) > 0
            assert arc.prove(story.css).not_yet_checkpointed == 0
            bundle = get(run.app, f"/c/{story.css}/bundle")
            assert bundle.status == 200
            assert bundle.body == arc.bundle(story.css, checkpoint="latest")
            ts = timestamp(arc.records_for_uri(story.article_url)[0].date)
            assert get(run.replay, f"/web/{ts}/{story.article_url}").status == 200
