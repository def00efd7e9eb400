"""``Archive``: the one entry point the CLI and the Dagster pipeline use."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archive.audit.importer import ImportResult
    from archive.audit.reconcile import ReconcileReport
    from archive.metadata.textdiff import Change

from sqlalchemy import Engine

from archive.audit.fixity import FixityReport, audit
from archive.audit.verify import VerifyReport, verify
from archive.browser.models import screenshot_uri
from archive.capture.processes import capture_in_processes
from archive.capture.record import Recorder
from archive.capture.rendered import BrowserMode, fell_back
from archive.capture.results import CaptureResult, Outcome
from archive.capture.runs import captures_in_run, done_in_run
from archive.capture.scheduler import (
    CaptureSession,
    RequisiteFinder,
    capture_urls,
    open_session,
)
from archive.catalog import catalog_rows, metadata_sources
from archive.core.config import DEFAULT_MODE, Settings, check_mode
from archive.core.hashing import PREFIX, hex_part, sha256_bytes
from archive.core.timeutil import utc_now
from archive.errors import (
    BrowserError,
    ConfigError,
    IntegrityError,
    MetadataError,
    NotFoundError,
)
from archive.ledger import queries
from archive.ledger.custody import (
    DELETION,
    Agent,
    NewEvent,
    Withdrawal,
    withdrawal_of,
)
from archive.ledger.db import open_database, open_read_only, read, run_write
from archive.ledger.queries import Counts
from archive.page.fetching import fetch_requisites
from archive.proof import logtree
from archive.proof.bundle_build import make_bundle
from archive.proof.logtree import (
    ConsistencyProof,
    EventProof,
    InclusionProofs,
    LogIdentity,
    StoredCheckpoint,
)
from archive.proof.merkle import verify_consistency
from archive.proof.tsa import Stamper, stamper, tsa_policy
from archive.warc.reader import StoredRecord, read_record, record_block
from archive.warc.store import WarcStore
from archive.warc.writer import RecordIdFactory, new_record_id

_log = logging.getLogger("archive")


@dataclass
class CustodyStatus:
    """Result of :meth:`Archive.check_custody`."""

    events: int = 0
    checkpoint_size: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class Archive:
    """An archive: a WARC store plus a custody database, opened from ``Settings``."""

    def __init__(self, settings: Settings, engine: Engine, *,
                 clock: Callable[[], datetime] = utc_now,
                 new_id: RecordIdFactory = new_record_id,
                 namer: Callable[[datetime, str], str] | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.store = WarcStore(settings.warc_dir) if namer is None else \
            WarcStore(settings.warc_dir, namer=namer)
        self.recorder = Recorder(settings, engine, clock=clock, new_id=new_id, store=self.store)
        self.clock = clock

    @classmethod
    def open(cls, settings: Settings | None = None, **kwargs: Any) -> Archive:
        settings = settings or Settings.from_env()
        settings.home.mkdir(parents=True, exist_ok=True)
        return cls(settings, open_database(settings.database_url), **kwargs)

    @classmethod
    def open_read_only(cls, settings: Settings | None = None) -> Archive:
        """The archive for readers that must never change it (``archive serve``): the
        database opened read-only and not migrated; no folder is created."""
        settings = settings or Settings.from_env()
        return cls(settings, open_read_only(settings.database_url))

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def agent(self, **extra: Any) -> Agent:
        return replace(Agent(host=self.settings.hostname), **extra)

    # -- capture and ingest -------------------------------------------------------------

    def capture_session(self) -> CaptureSession:
        """A fetcher and robots.txt cache for several :meth:`capture` calls of one run.

        Large bodies spool under the archive's ``tmp`` folder; what a killed run left
        there is swept first (live runs' spools are locked and kept)."""
        return open_session(self.settings)

    def capture(self, urls: Sequence[str], *, agent: Agent | None = None,
                concurrency: int = 4, per_host: int = 1, batch_size: int = 32,
                processes: int = 1, ignore_robots: dict[str, str] | None = None,
                on_done: Callable[[Outcome], None] | None = None,
                session: CaptureSession | None = None,
                mode: str = DEFAULT_MODE) -> list[Outcome]:
        """Capture every URL; never raises for one URL's failure (it is reported).

        Fetches run on ``concurrency`` threads with at most ``per_host`` at a time per
        host (politeness); finished fetches are written in batches, one WARC file per
        batch, so a batch costs one fsync and one transaction
        (:mod:`archive.capture.scheduler`). With ``processes`` > 1 and enough URLs, that
        runs in several worker processes (see :mod:`archive.capture.processes`),
        ``per_host`` still holding across them. robots.txt is obeyed unless
        ``ignore_robots`` maps the URL (or ``"*"``) to the operator's reason, which is
        recorded in the capture's provenance. Calls that pass one ``session`` share its
        kept connections and robots.txt answers; without one, a session lives for this
        call. A retried step of the same run (``agent.run_id``) does not capture again
        what an earlier attempt committed, nor fetch again what failed for good
        (:func:`archive.capture.runs.done_in_run`).

        ``mode``: ``html`` the document alone; ``page`` (the default) the document and
        its requisites (:mod:`archive.page.fetching`), all in one capture; ``browser``
        the document rendered in Chromium, every request it makes answered by the same
        guarded fetcher, plus the rendered DOM and a screenshot
        (:mod:`archive.capture.rendered`; one page at a time, in this process).
        """
        check_mode(mode)
        with contextlib.ExitStack() as browser:
            requisites: RequisiteFinder | None = fetch_requisites if mode == "page" else None
            if mode == "browser":
                requisites = self._browser_step(browser)
                concurrency, processes = 1, 1  # one Chromium, bound to this thread
            return self._capture(urls, agent=agent, concurrency=concurrency,
                                 per_host=per_host, batch_size=batch_size,
                                 processes=processes, ignore_robots=ignore_robots,
                                 on_done=on_done, session=session, mode=mode,
                                 requisites=requisites)

    def _browser_step(self, stack: contextlib.ExitStack) -> RequisiteFinder:
        """Browser mode's requisite step, its Chromium started now: a missing or broken
        one raises BrowserError (one line, exit 3) before anything is fetched, or, if the
        operator set ARCHIVE_BROWSER_FALLBACK=page, says so in one line and captures in
        page mode (each capture's provenance says why)."""
        fallback = fetch_requisites if self.settings.browser_fallback == "page" else None
        step = BrowserMode(fallback=fallback)
        stack.callback(step.close)
        try:
            step.start()
        except BrowserError as exc:
            if fallback is None:
                raise
            _log.warning("%s; capturing in page mode (ARCHIVE_BROWSER_FALLBACK=page)",
                         exc.message)
            return functools.partial(fell_back, exc.message, fallback)
        return step

    def _capture(self, urls: Sequence[str], *, agent: Agent | None, concurrency: int,
                 per_host: int, batch_size: int, processes: int,
                 ignore_robots: dict[str, str] | None,
                 on_done: Callable[[Outcome], None] | None, session: CaptureSession | None,
                 mode: str, requisites: RequisiteFinder | None) -> list[Outcome]:
        agent = agent or self.agent()
        outcomes: dict[int, Outcome] = {}

        def done(idx: int, res: Outcome) -> None:
            outcomes[idx] = res
            if on_done:
                on_done(res)

        if agent.run_id:
            # A retried step of the same run must not capture again what an earlier
            # attempt already committed (it may have crashed before reporting success).
            done_before = done_in_run(self.engine, self.store, agent.run_id, urls)
            for i, url in enumerate(urls):
                if url in done_before:
                    done(i, done_before[url])
        todo = [(i, u) for i, u in enumerate(urls) if i not in outcomes]
        if processes > 1 and len(todo) > 4 * batch_size:
            def chunk_done(positions: Sequence[int], results: Sequence[Outcome]) -> None:
                for idx, res in zip(positions, results, strict=True):
                    done(idx, res)

            capture_in_processes(self.recorder, todo, agent=agent, processes=processes,
                                 concurrency=concurrency, per_host=per_host,
                                 batch_size=batch_size, ignore_robots=ignore_robots,
                                 on_chunk=chunk_done, mode=mode, requisites=requisites)
        elif todo:
            with contextlib.ExitStack() as stack:
                if session is None:
                    session = stack.enter_context(self.capture_session())
                capture_urls(self.recorder, session, todo, agent=agent,
                             concurrency=concurrency, per_host=per_host,
                             batch_size=batch_size, ignore_robots=ignore_robots,
                             on_done=done, mode=mode, requisites=requisites)
        return [outcomes[i] for i in range(len(urls))]

    def captures_in_run(self, run_id: str, urls: Iterable[str]) -> dict[str, CaptureResult]:
        """The latest capture of each URL made by orchestrator run ``run_id``, leaving out
        transient answers (5xx) that a retry is meant to fetch again."""
        return captures_in_run(self.engine, self.store, run_id, urls)

    def ingest(self, paths: Iterable[Path], *, url: str | None = None,
               content_type: str | None = None, agent: Agent | None = None) -> list[CaptureResult]:
        """Store local documents as resource records. Every path must be a non-empty
        regular file (checked before anything is stored); anything else is a
        :class:`ConfigError`: a FIFO or a device would block or never end, and an empty
        file is not a document."""
        agent = agent or self.agent()
        prepared = [self.recorder.prepare_document(
            _read_document(p), name=p.name, url=url, content_type=content_type, agent=agent)
            for p in paths]
        return self.recorder.record(prepared, agent)

    # -- lookup -----------------------------------------------------------------------

    def list_captures(self, *, limit: int | None = None) -> list[dict[str, Any]]:
        return queries.list_captures(self.engine, limit=limit)

    def count_captures(self) -> int:
        return queries.count_captures(self.engine)

    def search_captures(self, words: Sequence[str]) -> Iterator[list[dict[str, Any]]]:
        """Captures newest first, in batches, whose URL, final URL or a metadata record
        holds every (lower-case) word: candidates for a search to filter exactly
        (:func:`archive.ledger.queries.search_captures`)."""
        return queries.search_captures(self.engine, words)

    def resolve(self, hash_or_prefix: str) -> list[dict[str, Any]]:
        """Captures whose capture id or content hash is ``hash_or_prefix`` (or starts with it).

        A prefix that matches more than one distinct hash raises ``AmbiguousHashError``.
        """
        return queries.resolve(self.engine, hash_or_prefix)

    def show(self, hash_or_prefix: str) -> list[dict[str, Any]]:
        """Everything we know of the matching captures: rows, records, provenance, events."""
        return queries.show(self.engine, hash_or_prefix)

    def screenshot(self, hash_or_prefix: str) -> tuple[str, bytes]:
        """The full-page screenshot of a ``browser`` capture (the newest matching one
        that has one): its ``sha256:`` and PNG bytes, read from its WARC record and
        checked against the digest the capture's manifest commits to."""
        found = [c for c in self.show(hash_or_prefix) for r in c["records"]
                 if r["type"] == "resource" and (r["target_uri"] or "").startswith(
                     screenshot_uri(""))]
        if not found:
            raise NotFoundError(f"no browser capture with a screenshot matches "
                                f"{hash_or_prefix}")
        cap = found[-1]
        rec = next(r for r in cap["records"] if r["type"] == "resource"
                   and (r["target_uri"] or "").startswith(screenshot_uri("")))
        path = self.store.root / cap["warc_file"]
        try:
            with path.open("rb") as f:
                f.seek(rec["offset"])
                png = record_block(f.read(rec["length"]))
        except OSError as exc:
            raise IntegrityError(f"{cap['warc_file']}: cannot read the screenshot record: "
                                 f"{exc.strerror}", path=str(path)) from exc
        if sha256_bytes(png) != rec["block_digest"]:
            raise IntegrityError(f"{cap['warc_file']}: the screenshot record at offset "
                                 f"{rec['offset']} does not hash to {rec['block_digest']}",
                                 path=str(path))
        return rec["block_digest"], png

    def show_many(self, capture_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """:meth:`show` for many exact capture ids at once (``sha256:<hex>``), keyed by
        capture id; ids not stored are left out. A few queries per 500 ids however many
        there are, for a pipeline step that checks a whole range of captures. ``events``
        are those naming the capture id itself (``show`` adds those naming its content
        hash, which grow with every revisit of an unchanged page)."""
        return queries.show_many(self.engine, capture_ids)

    def captures_of_url(self, url: str) -> list[dict[str, Any]]:
        """Every capture requested as (or redirected to) ``url``, oldest first."""
        return queries.captures_of_url(self.engine, url)

    def records_for_uri(self, target_uri: str) -> list[dict[str, Any]]:
        """Every replayable WARC record of ``target_uri`` (pages and requisites alike),
        oldest first (see :func:`archive.ledger.queries.records_for_uri`)."""
        return queries.records_for_uri(self.engine, target_uri)

    def read_stored_record(self, found: dict[str, Any]) -> StoredRecord:
        """The record one :meth:`records_for_uri` entry locates, read from the store."""
        return read_record(self.store.root / found["warc_file"], found["offset"],
                           found["length"])

    def record_members(self, shown: dict[str, Any]) -> bytes:
        """The WARC records of one :meth:`show` entry exactly as stored (each its own
        gzip member), in file order: a valid WARC file of that capture alone."""
        path = self.store.root / shown["warc_file"]
        out = []
        with path.open("rb") as f:
            for r in sorted(shown["records"], key=lambda r: r["offset"]):
                f.seek(r["offset"])
                out.append(f.read(r["length"]))
        return b"".join(out)

    def sentences(self, hash_or_prefix: str) -> list[str]:
        """The article text of one capture, sentence by sentence
        (:mod:`archive.metadata.textdiff`)."""
        from archive.metadata.store import read_payload
        from archive.metadata.textdiff import article_sentences

        data, ctype = read_payload(self.recorder, self.resolve(hash_or_prefix)[0]["capture_id"])
        return article_sentences(data, ctype)

    def diff(self, old: str, new: str) -> list[Change]:
        """The sentence-level diff of two captures' article text, older first."""
        from archive.metadata.textdiff import diff_sentences

        return diff_sentences(self.sentences(old), self.sentences(new))

    def comparisons(self, capture_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """What the custody log recorded of each capture against the capture of its URL
        before it (verdict new/unchanged/changed, the previous capture and its content
        hash, sentences removed/added, the diff's hash, the event's ``seq``), keyed by
        capture id; written by metadata extraction, checked by ``verify``."""
        from archive.metadata.store import recorded_comparisons

        return recorded_comparisons(self.recorder, capture_ids)

    def withdrawn(self, capture_ids: Iterable[str]) -> dict[str, Withdrawal]:
        """The withdrawn captures among these exact capture ids, keyed by capture id,
        each with its deletion event's time, reason and person (from the custody log)."""
        return queries.withdrawn(self.engine, capture_ids)

    def delete(self, hash_or_prefix: str, *, reason: str, person: str | None = None
               ) -> list[dict[str, Any]]:
        """Withdraw captures with a tombstone: a ``deletion`` event naming who and why.

        The bytes stay where they are (never removed silently) and keep verifying; the
        capture is shown as withdrawn from then on.
        """
        if len(reason.strip()) < 3:
            raise ConfigError("a deletion needs a reason (at least a few words)")
        found = self.resolve(hash_or_prefix)
        agent = self.agent(person=person or self.settings.operator)
        new = [NewEvent(DELETION, [c["capture_id"]] + ([c["content_hash"]]
                                                        if c["content_hash"] else []),
                        "success", {"reason": reason, "url": c["url"], "tombstone": True,
                                    "bytes_kept": True}) for c in found]
        stored = run_write(self.engine,
                           lambda conn: self.recorder.log.append(conn, new, agent))
        return [queries.with_withdrawal(c, withdrawal_of(ev, c["capture_id"]))
                for c, ev in zip(found, stored, strict=True)]

    def verify(self, hash_or_prefix: str | Sequence[str] | None = None, *,
               deep: bool = False) -> VerifyReport:
        """Verify everything, or the captures matching one hash (prefix) or several."""
        ids = None
        if isinstance(hash_or_prefix, str):
            ids = [c["capture_id"] for c in self.resolve(hash_or_prefix)]
        elif hash_or_prefix is not None:
            ids = [c["capture_id"] for h in hash_or_prefix for c in self.resolve(h)]
        ident = None
        if ids is None:
            try:
                ident = logtree.load_identity(self.settings.key_dir, need_private=False)
            except ConfigError:
                ident = None  # no key yet: nothing has been signed, nothing to check
        dirs = self.settings.note_dirs
        return verify(self.engine, self.store, capture_ids=ids, deep=deep, checkpoints=None
                      if ident is None else functools.partial(
                          logtree.check_checkpoints_against, ident=ident, note_dirs=dirs))

    def verify_captures(self, capture_ids: Sequence[str], *, deep: bool = False
                        ) -> VerifyReport:
        """Verify exactly these stored capture ids (``sha256:<hex>``; no prefix
        resolution, no checkpoint checks): a pipeline step checking a range of captures
        it already knows."""
        return verify(self.engine, self.store, capture_ids=list(capture_ids), deep=deep)

    # -- metadata ----------------------------------------------------------------------------

    def extract_metadata_many(self, capture_ids: Sequence[str], *, agent: Agent | None = None,
                              force: bool = False, processes: int = 1) -> list[dict[str, Any]]:
        """Extract and store metadata for captures (a new version only when the extractor
        version is new); returns each capture's current record. ``processes`` > 1 spreads
        the extraction of many captures over that many worker processes."""
        from archive.metadata.store import extract_and_store

        ids = [c["capture_id"] for cid in capture_ids for c in self.resolve(cid)[:1]]
        return extract_and_store(self.recorder, ids, agent or self.agent(), force=force,
                                 processes=processes)

    def extract_metadata_isolated(self, capture_ids: list[str], agent: Agent, processes: int,
                                  ) -> tuple[dict[str, str | None], dict[str, str]]:
        """Extract and store the metadata of every capture in one pass (one WARC file, one
        transaction, ``processes`` worker processes). Returns (capture id -> "new" or
        "existing", capture id -> error). When one capture cannot be extracted, the rest
        are done in batches of 32 and the batch that fails capture by capture, so only
        that capture fails. Database or disk failures are not caught: the caller's retry
        runs it again."""
        try:
            results = self.extract_metadata_many(capture_ids, agent=agent, processes=processes)
        except (MetadataError, NotFoundError):
            pass
        else:
            return {c: r.get("stored") for c, r in zip(capture_ids, results, strict=True)}, {}
        stored: dict[str, str | None] = {}
        errors: dict[str, str] = {}
        for i in range(0, len(capture_ids), 32):
            part = capture_ids[i:i + 32]
            try:
                results = self.extract_metadata_many(part, agent=agent)
            except (MetadataError, NotFoundError):
                for cid in part:
                    try:
                        stored[cid] = self.extract_metadata(cid, agent=agent).get("stored")
                    except (MetadataError, NotFoundError) as exc:
                        errors[cid] = str(exc)
            else:
                stored.update((c, r.get("stored")) for c, r in zip(part, results, strict=True))
        return stored, errors

    def extract_metadata(self, capture_id: str, *, agent: Agent | None = None
                         ) -> dict[str, Any]:
        return self.extract_metadata_many([capture_id], agent=agent)[0]

    def metadata(self, hash_or_prefix: str, *, all_versions: bool = False
                 ) -> list[dict[str, Any]]:
        """Stored metadata versions of the matching capture(s), newest last."""
        from archive.metadata.store import stored_versions

        out = []
        for cap in self.resolve(hash_or_prefix):
            versions = stored_versions(self.recorder, cap["capture_id"])
            out.append({"capture_id": cap["capture_id"], "url": cap["url"],
                        "versions": versions if all_versions else versions[-1:]})
        return out

    def latest_metadata(self, capture_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The newest stored metadata version of each of these exact capture ids, keyed by
        capture id, in the form of :meth:`metadata`'s versions; captures without one are
        left out. A few queries for any number of ids (a pipeline step over a range)."""
        from archive.metadata.store import latest_versions

        return latest_versions(self.recorder, capture_ids)

    # -- the transparency log -------------------------------------------------------------

    @property
    def origin(self) -> str:
        return self.settings.log_origin

    def init(self) -> LogIdentity:
        """Create the signing key (once); later calls refuse to replace it."""
        return logtree.init_identity(self.settings.key_dir, self.origin)

    def identity(self, *, create: bool = False) -> LogIdentity:
        if create:
            return logtree.ensure_identity(self.settings.key_dir, self.origin)
        return logtree.load_identity(self.settings.key_dir)

    def checkpoint(self, agent: Agent | None = None, *, create_key: bool = True
                   ) -> StoredCheckpoint:
        """Sign the log's current head; returns it stored: size, root hash, signed note."""
        return logtree.make_checkpoint(self.engine, self.identity(create=create_key),
                                       self.settings.note_dirs, self._stamper())

    def _stamper(self) -> Stamper | None:
        """Asks every TSA of ``ARCHIVE_TSA_URLS`` (none: no timestamps)."""
        s = self.settings
        return stamper(s.tsa_urls, tsa_policy(s.fetch, s.tsa_deadline), ca_bundle=s.ca_bundle)

    def prove(self, hash_or_prefix: str, checkpoint: str = "latest") -> InclusionProofs:
        """Inclusion proofs of every custody event of a capture against a checkpoint."""
        ckpt = logtree.get_checkpoint(self.engine, checkpoint)
        shown = self.show(hash_or_prefix)
        held = [ev for cap in shown for ev in cap["events"] if ev["seq"] < ckpt.size]
        paths = logtree.inclusions(self.engine, [ev["seq"] for ev in held], ckpt)
        out = [EventProof(ev["seq"], ev["type"], ev["hash"], tuple(logtree.b64(path)))
               for ev, path in zip(held, paths, strict=True)]
        return InclusionProofs(ckpt, tuple(c["capture_id"] for c in shown), tuple(out),
                               sum(1 for c in shown for e in c["events"]
                                   if e["seq"] >= ckpt.size))

    def consistency(self, old: str, new: str = "latest") -> ConsistencyProof:
        """The consistency proof between two stored checkpoints, verified."""
        a = logtree.get_checkpoint(self.engine, old)
        b = logtree.get_checkpoint(self.engine, new)
        proof = logtree.consistency(self.engine, a, b)
        ok = verify_consistency(a.size, b.size, bytes.fromhex(hex_part(a.root_hash)),
                                bytes.fromhex(hex_part(b.root_hash)), proof)
        return ConsistencyProof(a, b, tuple(logtree.b64(proof)), ok)

    def import_warc(self, path: Path, *, accept_partial: bool = False,
                    agent: Agent | None = None) -> ImportResult:
        """Bring a foreign WARC under custody (idempotent by file hash)."""
        from archive.audit.importer import import_warc

        return import_warc(self.recorder, path, agent or self.agent(),
                           accept_partial=accept_partial)

    def import_wacz(self, path: Path, *, accept_partial: bool = False,
                    agent: Agent | None = None) -> list[ImportResult]:
        """Bring the WARCs of a WACZ under custody, each through :meth:`import_warc`, once
        every file matches its ``sha256`` in ``datapackage.json`` and the package
        signature (when there is one) verifies; otherwise :class:`IntegrityError` naming
        the file, and nothing is stored."""
        from archive.http.spool import IMPORT_PREFIX, owned_tempdir
        from archive.proof.wacz_verify import first_problem, read_entries

        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}", path=path) from exc
        files = read_entries(data, str(path))
        problem = first_problem(files)
        if problem is not None:
            raise IntegrityError(f"{path}: refused: {problem}", path=path)
        warcs = sorted(p for p in files if p.startswith("archive/")
                       and p.endswith((".warc", ".warc.gz")))
        if not warcs:
            raise IntegrityError(f"{path}: refused: no WARC file under archive/", path=path)
        # locked while in use: an import killed midway leaves a folder `verify` sweeps
        with owned_tempdir(self.settings.tmp_dir, IMPORT_PREFIX) as tmp:
            out = []
            for name in warcs:
                target = tmp / name.rsplit("/", 1)[-1]
                target.write_bytes(files[name])
                out.append(self.import_warc(target, accept_partial=accept_partial,
                                            agent=agent))
        return out

    def select_captures(self, hashes: Sequence[str] = (), *, url: str | None = None,
                        since: datetime | None = None, until: datetime | None = None,
                        everything: bool = False) -> list[str]:
        """The capture ids a selection names, sorted: capture ids or content hashes (a
        prefix will do; each must match), every capture of ``url``, or all; narrowed to
        captures made in ``[since, until)`` when given."""
        from archive.core.timeutil import parse_iso

        caps = self.list_captures()
        chosen: set[str] = set()
        if everything:
            chosen = {c["capture_id"] for c in caps}
        for h in hashes:
            chosen |= {c["capture_id"] for c in self.resolve(h)}
        if url is not None:
            chosen |= {c["capture_id"] for c in caps if url in (c["url"], c.get("final_url"))}
        if not (everything or hashes or url):
            chosen = {c["capture_id"] for c in caps}
            if since is None and until is None:
                raise ConfigError("say what to export: capture ids or hashes, --url, "
                                  "--since/--until or --all")
        when = {c["capture_id"]: parse_iso(c["captured_at"]) for c in caps}
        return sorted(c for c in chosen
                      if (since is None or when[c] >= since)
                      and (until is None or when[c] < until))

    def export_wacz(self, capture_ids: Sequence[str], *, create_key: bool = False) -> bytes:
        """These captures as one signed WACZ (see :mod:`archive.proof.wacz_build`), with
        each capture's title from its newest stored metadata version."""
        from archive.catalog import field_value
        from archive.proof.wacz_build import export_wacz

        shown = self.show_many(capture_ids)
        source = {cid: shown[cid].get("revisit_of") or cid for cid in shown}
        versions = self.latest_metadata(sorted({PREFIX + hex_part(s)
                                                for s in source.values()}))
        titles = {}
        for cid, src in source.items():
            v = versions.get(PREFIX + hex_part(src))
            title = field_value(v["record"], "title") if v else None
            if isinstance(title, str) and title:
                titles[cid] = title
        return export_wacz(self.engine, self.store, capture_ids, titles=titles,
                           identity=lambda: self.identity(create=create_key),
                           note_dirs=self.settings.note_dirs)

    # -- crash recovery and audits ----------------------------------------------------------

    def reconcile(self, agent: Agent | None = None) -> ReconcileReport:
        """Adopt complete orphaned WARC files, quarantine the rest (never deletes); file
        the notes of signed checkpoints that a crash left recorded but not written out."""
        from archive.audit.reconcile import reconcile

        report = reconcile(self.recorder, agent or self.agent())
        try:
            ident = logtree.load_identity(self.settings.key_dir, need_private=False)
        except ConfigError:
            return report  # no key: nothing was ever signed
        # checkpoint notes a crash left unfiled (recorded, signed, not yet written out)
        report.notes_filed += [str(p) for p in logtree.write_pending_notes(
            self.engine, ident, self.settings.note_dirs)]
        return report

    def fixity(self, agent: Agent | None = None) -> FixityReport:
        """Re-hash every stored file; one fixity-check event per file."""
        return audit(self.engine, self.store, self.recorder.log, agent or self.agent())

    def check_custody(self) -> CustodyStatus:
        """The chain re-hashed and every signed checkpoint re-checked against it."""
        with read(self.engine) as conn:
            count, size, problems = logtree.check_log(conn, self.settings.key_dir,
                                                      self.settings.note_dirs)
        return CustodyStatus(count, size, problems)

    def stats(self) -> Counts:
        return queries.stats(self.engine)

    # -- citations and proof bundles ------------------------------------------------------

    def cite(self, hash_or_prefix: str, fmt: str = "text") -> str:
        """Citations of the matching captures in ``fmt`` (``text``, ``bibtex``,
        ``csl-json``, ``ris``, ``robust-link``); deterministic for a given capture and
        its latest stored metadata version (see :mod:`archive.cite`)."""
        from archive.cite import load_citation_data, render

        found = self.resolve(hash_or_prefix)
        with read(self.engine) as conn:
            items = [load_citation_data(conn, c["capture_id"],
                                        archive=self.settings.archive_name,
                                        public_url=self.settings.public_url)
                     for c in found]
        return render(items, fmt)

    def cite_many(self, capture_ids: Sequence[str], fmt: str = "text") -> dict[str, str]:
        """Each capture's citation on its own (what :meth:`cite` gives for its id), for
        many exact capture ids at once, keyed by capture id; ids not stored are left
        out. A few queries per 500 ids (the catalogue cites every capture)."""
        from archive.cite import load_citation_data_many, render

        with read(self.engine) as conn:
            items = load_citation_data_many(conn, capture_ids,
                                            archive=self.settings.archive_name,
                                            public_url=self.settings.public_url)
        return {cid: render([item], fmt) for cid, item in items.items()}

    def catalog_rows(self) -> list[dict[str, Any]]:
        """The researchers' catalogue, one row per capture (see :mod:`archive.catalog`):
        a few queries however many captures there are."""
        caps = self.list_captures()
        return catalog_rows(caps, self.latest_metadata(metadata_sources(caps)),
                            self.cite_many([c["capture_id"] for c in caps]))

    def bundle(self, hash_or_prefix: str, *, checkpoint: str | None = None,
               create_key: bool = True, sign: bool = True) -> bytes:
        """The self-contained proof bundle of one capture (see :mod:`archive.proof.bundle_build`);
        signs a new checkpoint first when the capture's newest event is not in one.
        ``sign=False`` never reads the private key: the bundle is made against a stored
        checkpoint (``checkpoint``, by default the latest), checked with the public key."""
        if not sign:
            return make_bundle(self.engine, self.store, hash_or_prefix,
                               identity=lambda: logtree.load_identity(
                                   self.settings.key_dir, need_private=False),
                               note_dirs=self.settings.note_dirs,
                               checkpoint=checkpoint or "latest")
        return make_bundle(self.engine, self.store, hash_or_prefix,
                           identity=lambda: self.identity(create=create_key),
                           note_dirs=self.settings.note_dirs, checkpoint=checkpoint,
                           stamper=self._stamper())


def _read_document(path: Path) -> bytes:
    """The bytes of a document to ingest: a regular, non-empty file (see ingest)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # judged before opening: a FIFO blocks
            raise ConfigError(f"cannot ingest {path}: not a regular file", path=path)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # swapped for a FIFO meanwhile
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise ConfigError(f"cannot ingest {path}: not a regular file", path=path)
            data = f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}", path=path) from exc
    if not data:
        raise ConfigError(f"cannot ingest {path}: the file is empty (0 bytes)", path=path)
    return data
