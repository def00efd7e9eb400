"""``Archive``: the one entry point the CLI and the Dagster pipeline use."""

from __future__ import annotations

import functools
import json
import os
import queue
import stat
import threading
import time
from collections.abc import Callable, Iterable, Sequence, Sized
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archive.audit.importer import ImportResult
    from archive.audit.reconcile import ReconcileReport

from sqlalchemy import Engine, func, or_, select

from archive.audit.fixity import FixityReport, audit
from archive.audit.verify import Problem, VerifyReport, verify
from archive.capture.processes import capture_in_processes
from archive.capture.record import CaptureFailure, CaptureResult, Recorder, _Prepared, host_of
from archive.core.config import Settings
from archive.core.hashing import PREFIX, hex_part
from archive.core.timeutil import utc_now
from archive.errors import (
    AmbiguousHashError,
    ArchiveError,
    ConfigError,
    FetchError,
    NotFoundError,
    RefusedURLError,
)
from archive.http.fetch import Fetcher
from archive.http.models import FetchResult
from archive.http.robots import Robots
from archive.http.spool import sweep
from archive.ledger.custody import (
    DELETION,
    Agent,
    Event,
    NewEvent,
    Withdrawal,
    check_chain,
    events_for,
    row_to_event,
    withdrawal_of,
    withdrawals,
)
from archive.ledger.db import in_chunks, open_database, read, run_write
from archive.ledger.tables import captures, event_objects, events, records, warc_files
from archive.proof import logtree
from archive.proof.logtree import LogIdentity
from archive.proof.merkle import verify_consistency
from archive.warc.store import WarcStore
from archive.warc.writer import RecordIdFactory, new_record_id

Outcome = CaptureResult | CaptureFailure
_LULL = 0.5  # seconds without a finished fetch after which the pages ready are written


@dataclass(frozen=True)
class CaptureSession:
    """What successive captures of one run share: the fetcher (its kept connections) and
    the robots.txt answers. A capture worker process keeps one for every chunk of URLs
    it is sent, so a host's robots.txt is fetched once per run, not once per chunk."""

    fetcher: Fetcher
    robots: Robots

    def close(self) -> None:
        self.fetcher.close()

    def __enter__(self) -> CaptureSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
        tmp = self.settings.tmp_dir
        sweep(tmp)
        return CaptureSession(Fetcher(self.settings.fetch, ca_bundle=self.settings.ca_bundle,
                                      spool_dir=tmp),
                              Robots(self.settings.fetch, ca_bundle=self.settings.ca_bundle))

    def capture(self, urls: Sequence[str], *, agent: Agent | None = None,
                concurrency: int = 4, per_host: int = 1, batch_size: int = 32,
                processes: int = 1, ignore_robots: dict[str, str] | None = None,
                on_done: Callable[[Outcome], None] | None = None,
                session: CaptureSession | None = None) -> list[Outcome]:
        """Capture every URL; never raises for one URL's failure (it is reported).

        Fetches run on ``concurrency`` threads with at most ``per_host`` at a time per
        host (politeness); finished fetches are written in batches, one WARC file per
        batch, so a batch costs one fsync and one transaction. With ``processes`` > 1
        and enough URLs, that runs in several worker processes (see
        :mod:`archive.capture.processes`), ``per_host`` still holding across them. robots.txt is
        obeyed unless ``ignore_robots`` maps the URL (or ``"*"``) to the operator's
        reason, which is recorded in the capture's provenance. Calls that pass one
        ``session`` share its kept connections and robots.txt answers; without one, a
        session lives for this call.
        """
        if session is None:
            with self.capture_session() as session:
                return self.capture(urls, agent=agent, concurrency=concurrency,
                                    per_host=per_host, batch_size=batch_size,
                                    processes=processes, ignore_robots=ignore_robots,
                                    on_done=on_done, session=session)
        agent = agent or self.agent()
        fetcher, robots = session.fetcher, session.robots
        overrides = ignore_robots or {}
        host_slots: dict[str, threading.Semaphore] = {}
        slots_lock = threading.Lock()

        def slot(url: str) -> threading.Semaphore:
            with slots_lock:
                return host_slots.setdefault(host_of(url), threading.Semaphore(per_host))

        def fetch_one(url: str) -> tuple[str, FetchResult | FetchError, _Prepared | None]:
            with slot(url):
                try:
                    override = overrides.get(url, overrides.get("*"))
                    if override:
                        robots_note: dict[str, Any] = {"policy": "ignored", "reason": override}
                    else:
                        decision = robots.check(url)
                        if not decision.allowed:
                            raise RefusedURLError(
                                f"{url}: {decision.reason} ({decision.robots_url}); capture "
                                "it anyway with --ignore-robots REASON", url=url)
                        robots_note = {"policy": "obey", **decision.to_json()}
                    result = fetcher.fetch(url)
                except FetchError as exc:
                    return url, exc, None
            try:
                return url, result, self.recorder.prepare_fetch(result, agent,
                                                                robots=robots_note)
            except BaseException:
                result.close()
                raise

        outcomes: dict[int, Outcome] = {}
        if agent.run_id:
            # A retried step of the same run must not capture again what an earlier
            # attempt already committed (it may have crashed before reporting success).
            done_before = self.captures_in_run(agent.run_id, urls)
            for i, url in enumerate(urls):
                if url in done_before:
                    outcomes[i] = done_before[url]
                    if on_done:
                        on_done(outcomes[i])
        todo_pairs = [(i, u) for i, u in enumerate(urls) if i not in outcomes]
        if processes > 1 and len(todo_pairs) > 4 * batch_size:
            def chunk_done(positions: Sequence[int], results: Sequence[Outcome]) -> None:
                for idx, res in zip(positions, results, strict=True):
                    outcomes[idx] = res
                    if on_done:
                        on_done(res)

            capture_in_processes(self, todo_pairs, agent=agent, processes=processes,
                                 concurrency=concurrency, per_host=per_host,
                                 batch_size=batch_size, ignore_robots=ignore_robots,
                                 on_chunk=chunk_done)
            return [outcomes[i] for i in range(len(urls))]
        pending: list[tuple[int, FetchResult, _Prepared]] = []

        def flush() -> None:
            if not pending:
                return
            try:
                stored = self.recorder.record([p for _, _, p in pending], agent)
                for (idx, _, _), res in zip(pending, stored, strict=True):
                    outcomes[idx] = res
                    if on_done:
                        on_done(res)
            finally:
                for _, fr, _ in pending:
                    fr.close()
                pending.clear()

        def settle(idx: int, url: str, res: FetchResult | FetchError,
                   prepared: _Prepared | None) -> None:
            if isinstance(res, FetchError):
                outcomes[idx] = self.recorder.record_failure(url, res, agent)
                if on_done:
                    on_done(outcomes[idx])
            else:
                assert prepared is not None
                pending.append((idx, res, prepared))
                if len(pending) >= batch_size:
                    flush()

        if concurrency <= 1:
            # One fetch at a time runs on this thread: a pool's hand-offs between threads
            # cost more CPU than a fast server's page (worker processes, not threads,
            # make a loopback capture parallel).
            for idx, url in todo_pairs:
                started = time.monotonic()
                settle(idx, *fetch_one(url))
                if time.monotonic() - started >= _LULL:  # slow fetches: write what is
                    flush()                               # ready meanwhile
            flush()
        else:
            self._fetch_in_threads(todo_pairs, fetch_one, settle, flush, concurrency,
                                   batch_size, pending)
        return [outcomes[i] for i in range(len(urls))]

    @staticmethod
    def _fetch_in_threads(todo_pairs: Sequence[tuple[int, str]], fetch_one: Callable[..., Any],
                          settle: Callable[..., None], flush: Callable[[], None],
                          concurrency: int, batch_size: int, pending: Sized) -> None:
        """Fetch on ``concurrency`` threads; settle each result on this thread.

        A bounded window of fetches in flight keeps memory flat in the number of URLs:
        finished fetches hold spooled bodies until their batch is written (``pending``,
        which counts against the window). Finished
        fetches arrive on a queue (concurrent.futures.wait over the whole window took a
        lock on every future in flight per page).
        """
        window = 4 * concurrency + batch_size
        finished: queue.SimpleQueue[tuple[int, Future[Any]]] = queue.SimpleQueue()
        in_flight = 0
        todo = iter(todo_pairs)
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            def refill() -> None:
                nonlocal in_flight
                while in_flight + len(pending) < window:
                    nxt = next(todo, None)
                    if nxt is None:
                        return
                    future = pool.submit(fetch_one, nxt[1])
                    future.add_done_callback(functools.partial(_post, finished, nxt[0]))
                    in_flight += 1

            refill()
            while in_flight:
                try:
                    idx, fut = finished.get(timeout=_LULL)
                except queue.Empty:  # slow fetches: write what is ready meanwhile
                    flush()
                    continue
                in_flight -= 1
                settle(idx, *fut.result())
                if not in_flight:
                    flush()
                refill()
            flush()

    def captures_in_run(self, run_id: str, urls: Iterable[str]) -> dict[str, CaptureResult]:
        """The latest capture of each URL made by orchestrator run ``run_id``, leaving out
        transient answers (5xx, 429) that a retry is meant to fetch again."""
        found: dict[str, CaptureResult] = {}
        with read(self.engine) as conn:
            for chunk in in_chunks(urls):
                rows = conn.execute(
                    select(captures, warc_files.c.relpath, warc_files.c.sha256.label("wsha"))
                    .join(warc_files, warc_files.c.id == captures.c.warc_file_id)
                    .where(captures.c.run_id == run_id, captures.c.url.in_(chunk))
                    .order_by(captures.c.id)).all()
                for r in rows:
                    if r.http_status is not None and (r.http_status >= 500 or
                                                      r.http_status == 429):
                        found.pop(r.url, None)
                        continue
                    found[r.url] = CaptureResult(
                        capture_id=PREFIX + r.capture_id,
                        content_hash=PREFIX + r.content_hash if r.content_hash else None,
                        url=r.url, final_url=r.final_url, kind=r.kind, status=r.status,
                        http_status=r.http_status, content_type=r.content_type,
                        started_at=r.started_at, warc_path=str(self.store.root / r.relpath),
                        warc_sha256=PREFIX + r.wsha,
                        revisit_of=PREFIX + r.revisit_of if r.revisit_of else None,
                        problems=tuple(json.loads(r.provenance).get("capture", {})
                                       .get("problems", [])))
        return found

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
        with read(self.engine) as conn:
            q = select(captures, warc_files.c.relpath).join(
                warc_files, warc_files.c.id == captures.c.warc_file_id).order_by(
                captures.c.id.desc())
            if limit:
                q = q.limit(limit)
            found = [_capture_summary(r) for r in conn.execute(q).all()]
            gone = withdrawals(conn, [c["capture_id"] for c in found])
        return [_with_withdrawal(c, gone.get(c["capture_id"])) for c in found]

    def resolve(self, hash_or_prefix: str) -> list[dict[str, Any]]:
        """Captures whose capture id or content hash is ``hash_or_prefix`` (or starts with it).

        A prefix that matches more than one distinct hash raises ``AmbiguousHashError``.
        """
        try:
            h = hex_part(hash_or_prefix)
        except ValueError as exc:
            raise NotFoundError(str(exc)) from exc
        if len(h) < 4:
            raise NotFoundError(f"hash prefix {hash_or_prefix!r} is too short; give at least "
                                "4 hex digits")
        upper = h + "g"  # hex digits sort below "g": [h, h+"g") is exactly the prefix range
        with read(self.engine) as conn:
            q = select(captures, warc_files.c.relpath).join(
                warc_files, warc_files.c.id == captures.c.warc_file_id).where(or_(
                    (captures.c.capture_id >= h) & (captures.c.capture_id < upper),
                    (captures.c.content_hash >= h) & (captures.c.content_hash < upper),
                )).order_by(captures.c.id)
            rows = conn.execute(q).all()
        if not rows:
            raise NotFoundError(f"no capture has a capture id or content hash {hash_or_prefix}")
        ids = {r.capture_id for r in rows if r.capture_id.startswith(h)}
        contents = {r.content_hash for r in rows if (r.content_hash or "").startswith(h)}
        if len(ids) + len(contents) > 1 and not (len(ids) == 0 and len(contents) == 1):
            raise AmbiguousHashError(
                f"hash prefix {hash_or_prefix} matches {len(ids)} capture ids and "
                f"{len(contents)} content hashes; give more digits")
        return [_capture_summary(r) for r in rows]

    def show(self, hash_or_prefix: str) -> list[dict[str, Any]]:
        """Everything we know of the matching captures: rows, records, provenance, events."""
        out = []
        for cap in self.resolve(hash_or_prefix):
            with read(self.engine) as conn:
                row = conn.execute(select(captures).where(
                    captures.c.capture_id == hex_part(cap["capture_id"]))).one()
                recs = conn.execute(select(records).where(records.c.capture_pk == row.id)
                                    .order_by(records.c.offset)).all()
                evs: dict[int, Event] = {}
                for obj in filter(None, [cap["capture_id"], cap["content_hash"]]):
                    for e in events_for(conn, obj):
                        evs[e.seq] = e
            out.append(_shown(cap, row, recs, [evs[k] for k in sorted(evs)]))
        return out

    def show_many(self, capture_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """:meth:`show` for many exact capture ids at once (``sha256:<hex>``), keyed by
        capture id; ids not stored are left out. A few queries per 500 ids however many
        there are, for a pipeline step that checks a whole range of captures. ``events``
        are those naming the capture id itself (``show`` adds those naming its content
        hash, which grow with every revisit of an unchanged page)."""
        out: dict[str, dict[str, Any]] = {}
        with read(self.engine) as conn:
            for chunk in in_chunks(hex_part(c) for c in capture_ids):
                rows = conn.execute(
                    select(captures, warc_files.c.relpath)
                    .join(warc_files, warc_files.c.id == captures.c.warc_file_id)
                    .where(captures.c.capture_id.in_(chunk))).all()
                recs: dict[int, list[Any]] = {}
                for r in conn.execute(select(records)
                                      .where(records.c.capture_pk.in_([r.id for r in rows]))
                                      .order_by(records.c.capture_pk, records.c.offset)):
                    recs.setdefault(r.capture_pk, []).append(r)
                evs: dict[str, list[Event]] = {}
                for e in conn.execute(
                        select(events, event_objects.c.object_hash)
                        .join(event_objects, event_objects.c.seq == events.c.seq)
                        .where(event_objects.c.object_hash.in_(chunk))
                        .order_by(events.c.seq)):
                    evs.setdefault(e.object_hash, []).append(row_to_event(e))
                for row in rows:
                    cap = _capture_summary(row)
                    out[cap["capture_id"]] = _shown(cap, row, recs.get(row.id, []),
                                                    evs.get(row.capture_id, []))
        return out

    def withdrawn(self, capture_ids: Iterable[str]) -> dict[str, Withdrawal]:
        """The withdrawn captures among these exact capture ids, keyed by capture id,
        each with its deletion event's time, reason and person (from the custody log)."""
        with read(self.engine) as conn:
            return withdrawals(conn, capture_ids)

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
        return [_with_withdrawal(c, withdrawal_of(ev, c["capture_id"]))
                for c, ev in zip(found, stored, strict=True)]

    def verify(self, hash_or_prefix: str | Sequence[str] | None = None, *,
               deep: bool = False) -> VerifyReport:
        """Verify everything, or the captures matching one hash (prefix) or several."""
        ids = None
        if isinstance(hash_or_prefix, str):
            ids = [c["capture_id"] for c in self.resolve(hash_or_prefix)]
        elif hash_or_prefix is not None:
            ids = [c["capture_id"] for h in hash_or_prefix for c in self.resolve(h)]
        report = verify(self.engine, self.store, capture_ids=ids, deep=deep)
        if ids is None:
            try:
                ident = logtree.load_identity(self.settings.key_dir, need_private=False)
            except ConfigError:
                ident = None  # no key yet: nothing has been signed, nothing to check
            if ident is not None:
                report.problems += [Problem("checkpoint", msg) for msg in
                                    logtree.check_checkpoints(self.engine, ident,
                                                              self.settings.note_dirs)]
        return report

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
                   ) -> dict[str, Any]:
        """Sign the log's current head; returns size, root hash and the signed note."""
        ckpt = logtree.make_checkpoint(self.engine, self.identity(create=create_key),
                                       self.settings.note_dirs)
        return ckpt.to_json()

    def prove(self, hash_or_prefix: str, checkpoint: str = "latest") -> dict[str, Any]:
        """Inclusion proofs of every custody event of a capture against a checkpoint."""
        ckpt = logtree.get_checkpoint(self.engine, checkpoint)
        shown = self.show(hash_or_prefix)
        out = []
        for cap in shown:
            for ev in cap["events"]:
                if ev["seq"] >= ckpt.size:
                    continue
                proof = logtree.inclusion(self.engine, ev["seq"], ckpt)
                out.append({"seq": ev["seq"], "type": ev["type"], "event_hash": ev["hash"],
                            "proof": logtree.b64(proof)})
        return {"checkpoint": ckpt.to_json(), "capture_ids": [c["capture_id"] for c in shown],
                "inclusion": out,
                "not_yet_checkpointed": sum(1 for c in shown for e in c["events"]
                                            if e["seq"] >= ckpt.size)}

    def consistency(self, old: str, new: str = "latest") -> dict[str, Any]:
        a = logtree.get_checkpoint(self.engine, old)
        b = logtree.get_checkpoint(self.engine, new)
        proof = logtree.consistency(self.engine, a, b)
        ok = verify_consistency(a.size, b.size, bytes.fromhex(a.root_hash[7:]),
                                bytes.fromhex(b.root_hash[7:]), proof)
        return {"old": a.to_json(), "new": b.to_json(), "proof": logtree.b64(proof),
                "verified": ok}

    def import_warc(self, path: Path, *, accept_partial: bool = False,
                    agent: Agent | None = None) -> ImportResult:
        """Bring a foreign WARC under custody (idempotent by file hash)."""
        from archive.audit.importer import import_warc

        return import_warc(self.recorder, path, agent or self.agent(),
                           accept_partial=accept_partial)

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
            count, chain_problems = check_chain(conn)
        status = CustodyStatus(count, None, [p.message for p in chain_problems])
        latest = logtree.latest_checkpoint(self.engine)
        filed = any(d.is_dir() and any(d.glob("*.note")) for d in self.settings.note_dirs)
        if latest is not None or filed:
            status.checkpoint_size = latest.size if latest is not None else None
            try:
                ident = logtree.load_identity(self.settings.key_dir, need_private=False)
            except ArchiveError as exc:
                status.problems.append(f"checkpoints exist but cannot be checked: {exc}")
            else:
                status.problems += logtree.check_checkpoints(self.engine, ident,
                                                             self.settings.note_dirs)
        return status

    def stats(self) -> dict[str, int]:
        with read(self.engine) as conn:
            return {
                "captures": conn.execute(select(func.count()).select_from(captures)).scalar_one(),
                "warc_files": conn.execute(
                    select(func.count()).select_from(warc_files)).scalar_one(),
            }

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

    def bundle(self, hash_or_prefix: str, *, checkpoint: str | None = None,
               create_key: bool = True) -> bytes:
        """The self-contained proof bundle of one capture (see :mod:`archive.proof.bundle`);
        signs a new checkpoint first when the capture's newest event is not in one."""
        from archive.proof.bundle import make_bundle

        return make_bundle(self, hash_or_prefix, checkpoint=checkpoint, create_key=create_key)


def _capture_summary(r: Any) -> dict[str, Any]:
    return {
        "capture_id": PREFIX + r.capture_id,
        "content_hash": PREFIX + r.content_hash if r.content_hash else None,
        "url": r.url, "final_url": r.final_url, "kind": r.kind, "status": r.status,
        "http_status": r.http_status, "content_type": r.content_type,
        "captured_at": r.started_at, "warc_file": r.relpath,
        "revisit_of": PREFIX + r.revisit_of if r.revisit_of else None,
    }


def _with_withdrawal(cap: dict[str, Any], gone: Withdrawal | None) -> dict[str, Any]:
    """``cap`` with ``withdrawn`` (whether a deletion event names it) and ``withdrawal``
    (that event's time, reason, person and seq, or ``None``)."""
    return {**cap, "withdrawn": gone is not None,
            "withdrawal": gone.to_json() if gone is not None else None}


def _shown(cap: dict[str, Any], row: Any, recs: Sequence[Any], evs: Sequence[Event],
           ) -> dict[str, Any]:
    """What :meth:`Archive.show` says of one capture: its summary, the stored manifest
    and provenance, its WARC records and the custody events given (in log order)."""
    gone = next(filter(None, (withdrawal_of(e, cap["capture_id"]) for e in evs)), None)
    return {
        **_with_withdrawal(cap, gone),
        "manifest": json.loads(row.manifest),
        "provenance": json.loads(row.provenance),
        "records": [_record_json(r) for r in recs],
        "events": [e.to_json() for e in evs],
    }


def _record_json(r: Any) -> dict[str, Any]:
    return {"record_id": r.record_id, "type": r.type, "target_uri": r.target_uri,
            "date": r.date, "offset": r.offset, "length": r.length,
            "block_digest": PREFIX + r.block_digest,
            "payload_digest": PREFIX + r.payload_digest if r.payload_digest else None}


def _post(finished: queue.SimpleQueue[tuple[int, Future[Any]]], index: int,
          future: Future[Any]) -> None:
    finished.put((index, future))


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
