"""``Archive``: the one entry point the CLI and the Dagster pipeline use."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import replace
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
from archive.capture import dispatch, readback
from archive.capture.ingest import ingest
from archive.capture.record import Recorder
from archive.capture.results import CaptureResult, Outcome
from archive.capture.runs import captures_in_run
from archive.capture.scheduler import CaptureSession, open_session
from archive.catalog import CatalogRow, catalog_rows, metadata_sources, titles_of
from archive.core.config import DEFAULT_MODE, Settings
from archive.core.timeutil import utc_now
from archive.ledger import queries
from archive.ledger.custody import Agent, Withdrawal
from archive.ledger.db import open_database, open_read_only, read
from archive.ledger.queries import (
    CaptureSummary,
    Counts,
    ListedCapture,
    ShownCapture,
)
from archive.ledger.replayed import ReplayRecord, records_for_uri
from archive.ledger.withdraw import withdraw
from archive.metadata.store import (
    CaptureMetadata,
    ExtractedMetadata,
    MetadataVersion,
    RecordedComparison,
)
from archive.page.fetching import fetch_requisites
from archive.proof import logtree, status
from archive.proof.bundle_build import make_bundle
from archive.proof.identity import LogIdentity, ensure_identity, init_identity, load_identity
from archive.proof.logtree import (
    ConsistencyProof,
    InclusionProofs,
    StoredCheckpoint,
)
from archive.proof.status import CustodyStatus
from archive.proof.tsa import Stamper, stamper, tsa_policy
from archive.proof.wacz_build import select_captures
from archive.warc.reader import StoredRecord
from archive.warc.stores import open_store
from archive.warc.writer import RecordIdFactory, new_record_id


class Archive:
    """An archive: a WARC store plus a custody database, opened from ``Settings``."""

    def __init__(self, settings: Settings, engine: Engine, *,
                 clock: Callable[[], datetime] = utc_now,
                 new_id: RecordIdFactory = new_record_id,
                 namer: Callable[[datetime, str], str] | None = None) -> None:
        self.engine = engine
        self.store = open_store(settings, namer=namer)
        self.recorder = Recorder(settings, engine, clock=clock, new_id=new_id, store=self.store)
        self.clock = clock

    @property
    def settings(self) -> Settings:
        """The archive's settings: the recorder's, so that the façade and the capture
        engine below it never disagree (setting them sets the recorder's)."""
        return self.recorder.settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        self.recorder.settings = value

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
        return dispatch.capture(self.recorder, urls, agent=agent or self.agent(),
                                page_requisites=fetch_requisites, concurrency=concurrency,
                                per_host=per_host, batch_size=batch_size, processes=processes,
                                ignore_robots=ignore_robots, on_done=on_done,
                                session=session, mode=mode)

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
        return ingest(self.recorder, paths, agent=agent or self.agent(), url=url,
                      content_type=content_type)

    # -- lookup -----------------------------------------------------------------------

    def list_captures(self, *, limit: int | None = None) -> list[ListedCapture]:
        return queries.list_captures(self.engine, limit=limit)

    def count_captures(self) -> int:
        return queries.count_captures(self.engine)

    def search_captures(self, words: Sequence[str]) -> Iterator[list[ListedCapture]]:
        """Captures newest first, in batches, whose URL, final URL or a metadata record
        holds every (lower-case) word: candidates for a search to filter exactly
        (:func:`archive.ledger.queries.search_captures`)."""
        return queries.search_captures(self.engine, words)

    def resolve(self, hash_or_prefix: str) -> list[CaptureSummary]:
        """Captures whose capture id or content hash is ``hash_or_prefix`` (or starts with it).

        A prefix that matches more than one distinct hash raises ``AmbiguousHashError``.
        """
        return queries.resolve(self.engine, hash_or_prefix)

    def show(self, hash_or_prefix: str) -> list[ShownCapture]:
        """Everything we know of the matching captures: rows, records, provenance, events."""
        return queries.show(self.engine, hash_or_prefix)

    def screenshot(self, hash_or_prefix: str) -> tuple[str, bytes]:
        """The full-page screenshot of a ``browser`` capture (the newest matching one
        that has one): its ``sha256:`` and PNG bytes, read from its WARC record and
        checked against the digest the capture's manifest commits to."""
        return readback.screenshot(self.engine, self.store, hash_or_prefix)

    def show_many(self, capture_ids: Sequence[str]) -> dict[str, ShownCapture]:
        """:meth:`show` for many exact capture ids at once (``sha256:<hex>``), keyed by
        capture id; ids not stored are left out. A few queries per 500 ids however many
        there are, for a pipeline step that checks a whole range of captures. ``events``
        are those naming the capture id itself (``show`` adds those naming its content
        hash, which grow with every revisit of an unchanged page)."""
        return queries.show_many(self.engine, capture_ids)

    def captures_of_url(self, url: str) -> list[ListedCapture]:
        """Every capture requested as (or redirected to) ``url``, oldest first."""
        return queries.captures_of_url(self.engine, url)

    def records_for_uri(self, target_uri: str) -> list[ReplayRecord]:
        """Every replayable WARC record of ``target_uri`` (pages and requisites alike),
        oldest first (see :func:`archive.ledger.replayed.records_for_uri`)."""
        return records_for_uri(self.engine, target_uri)

    def read_stored_record(self, found: ReplayRecord) -> StoredRecord:
        """The record one :meth:`records_for_uri` entry locates, read from the store."""
        return readback.replay_record(self.store, found)

    def record_members(self, shown: ShownCapture) -> bytes:
        """The WARC records of one :meth:`show` entry exactly as stored (each its own
        gzip member), in file order: a valid WARC file of that capture alone."""
        return readback.record_members(self.store, shown)

    def sentences(self, hash_or_prefix: str) -> list[str]:
        """The article text of one capture, sentence by sentence
        (:mod:`archive.metadata.textdiff`)."""
        from archive.metadata.inputs import read_payload
        from archive.metadata.textdiff import article_sentences

        data, ctype = read_payload(self.recorder, self.resolve(hash_or_prefix)[0].capture_id)
        return article_sentences(data, ctype)

    def diff(self, old: str, new: str) -> list[Change]:
        """The sentence-level diff of two captures' article text, older first."""
        from archive.metadata.textdiff import diff_sentences

        return diff_sentences(self.sentences(old), self.sentences(new))

    def comparisons(self, capture_ids: Sequence[str]) -> dict[str, RecordedComparison]:
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
               ) -> list[ListedCapture]:
        """Withdraw captures with a tombstone: a ``deletion`` event naming who and why.

        The bytes stay where they are (never removed silently) and keep verifying; the
        capture is shown as withdrawn from then on.
        """
        return withdraw(self.engine, self.recorder.log, hash_or_prefix, reason=reason,
                        agent=self.agent(person=person or self.settings.operator))

    def verify(self, hash_or_prefix: str | Sequence[str] | None = None, *,
               deep: bool = False) -> VerifyReport:
        """Verify everything, or the captures matching one hash (prefix) or several."""
        refs = [hash_or_prefix] if isinstance(hash_or_prefix, str) else hash_or_prefix
        ids = None if refs is None else [c.capture_id for h in refs for c in self.resolve(h)]
        return verify(self.engine, self.store, capture_ids=ids, deep=deep,
                      checkpoints=None if ids is not None else
                      status.checkpoint_check(self.settings))

    def verify_captures(self, capture_ids: Sequence[str], *, deep: bool = False
                        ) -> VerifyReport:
        """Verify exactly these stored capture ids (``sha256:<hex>``; no prefix
        resolution, no checkpoint checks): a pipeline step checking a range of captures
        it already knows."""
        return verify(self.engine, self.store, capture_ids=list(capture_ids), deep=deep)

    # -- metadata ----------------------------------------------------------------------------

    def extract_metadata_many(self, capture_ids: Sequence[str], *, agent: Agent | None = None,
                              force: bool = False, processes: int = 1
                              ) -> list[ExtractedMetadata]:
        """Extract and store metadata for captures (a new version only when the extractor
        version is new); returns each capture's current record. ``processes`` > 1 spreads
        the extraction of many captures over that many worker processes."""
        from archive.metadata.extraction import extract

        return extract(self.recorder, capture_ids, agent or self.agent(), force=force,
                       processes=processes)

    def extract_metadata_isolated(self, capture_ids: list[str], agent: Agent, processes: int,
                                  ) -> tuple[dict[str, str], dict[str, str]]:
        """Extract and store the metadata of every capture (exact capture ids, as a
        pipeline step has them) in one pass; when one capture cannot be extracted, only
        that capture fails. Returns (capture id -> "new" or
        "existing", capture id -> error); see
        :func:`archive.metadata.extraction.extract_isolated`."""
        from archive.metadata.extraction import extract_isolated

        return extract_isolated(self.recorder, capture_ids, agent, processes)

    def extract_metadata(self, capture_id: str, *, agent: Agent | None = None
                         ) -> ExtractedMetadata:
        return self.extract_metadata_many([capture_id], agent=agent)[0]

    def metadata(self, hash_or_prefix: str, *, all_versions: bool = False
                 ) -> list[CaptureMetadata]:
        """Stored metadata versions of the matching capture(s), newest last."""
        from archive.metadata.extraction import capture_metadata

        return capture_metadata(self.recorder, hash_or_prefix, all_versions=all_versions)

    def latest_metadata(self, capture_ids: Sequence[str], *,
                        fields: Collection[str] | None = None) -> dict[str, MetadataVersion]:
        """The newest stored metadata version of each of these exact capture ids, keyed by
        capture id; captures without one are left out. A few queries for any number of
        ids (a pipeline step over a range). ``fields``: keep only these fields' values
        (no evidence), for listings of many captures."""
        from archive.metadata.store import latest_versions

        return latest_versions(self.recorder, capture_ids, fields=fields)

    # -- the transparency log -------------------------------------------------------------

    @property
    def origin(self) -> str:
        return self.settings.log_origin

    def init(self) -> LogIdentity:
        """Create the signing key (once); later calls refuse to replace it."""
        return init_identity(self.settings.key_dir, self.origin)

    def identity(self, *, create: bool = False) -> LogIdentity:
        if create:
            return ensure_identity(self.settings.key_dir, self.origin)
        return load_identity(self.settings.key_dir)

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
        return logtree.prove(self.engine, self.show(hash_or_prefix), checkpoint)

    def consistency(self, old: str, new: str = "latest") -> ConsistencyProof:
        """The consistency proof between two stored checkpoints, verified."""
        return logtree.prove_consistency(self.engine, old, new)

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
        from archive.audit.importer import import_files
        from archive.proof.wacz_verify import checked_warcs

        return import_files(self.recorder, checked_warcs(path), agent or self.agent(),
                            accept_partial=accept_partial)

    def select_captures(self, hashes: Sequence[str] = (), *, url: str | None = None,
                        since: datetime | None = None, until: datetime | None = None,
                        everything: bool = False) -> list[str]:
        """The capture ids a selection names, sorted: capture ids or content hashes (a
        prefix will do; each must match), every capture of ``url``, or all; narrowed to
        captures made in ``[since, until)`` when given."""
        return select_captures(self.engine, hashes, url=url, since=since, until=until,
                               everything=everything)

    def export_wacz(self, capture_ids: Sequence[str], *, create_key: bool = False) -> bytes:
        """These captures as one signed WACZ (see :mod:`archive.proof.wacz_build`), with
        each capture's title from its newest stored metadata version."""
        from archive.proof.wacz_build import export_wacz

        shown = list(self.show_many(capture_ids).values())
        versions = self.latest_metadata(sorted({c.revisit_of or c.capture_id for c in shown}),
                                        fields=("title",))
        titles = titles_of(shown, versions)
        return export_wacz(self.engine, self.store, capture_ids, titles=titles,
                           identity=lambda: self.identity(create=create_key),
                           note_dirs=self.settings.note_dirs)

    # -- crash recovery and audits ----------------------------------------------------------

    def reconcile(self, agent: Agent | None = None) -> ReconcileReport:
        """Adopt complete orphaned WARC files, quarantine the rest (never deletes); file
        the notes of signed checkpoints that a crash left recorded but not written out."""
        from archive.audit.reconcile import reconcile

        report = reconcile(self.recorder, agent or self.agent())
        report.notes_filed += [str(p) for p in status.file_pending_notes(self.engine,
                                                                         self.settings)]
        return report

    def fixity(self, agent: Agent | None = None) -> FixityReport:
        """Re-hash every stored file; one fixity-check event per file."""
        return audit(self.engine, self.store, self.recorder.log, agent or self.agent())

    def check_custody(self, *, since_checkpoint: bool = False) -> CustodyStatus:
        """The chain re-hashed and every signed checkpoint re-checked against it. With
        ``since_checkpoint``, what a run checks for each capture in time that does not
        grow with the log: the events since the latest signed checkpoint re-hashed and
        linked to it, and the stored tree consistent with its signed root (what the
        signer checks before signing); ``events`` then counts the events re-hashed."""
        return status.custody_status(self.engine, self.settings,
                                     since_checkpoint=since_checkpoint)

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
            items = [load_citation_data(conn, c.capture_id,
                                        archive=self.settings.archive_name,
                                        public_url=self.settings.public_url)
                     for c in found]
        return render(items, fmt)

    def catalog_rows(self) -> list[CatalogRow]:
        """The researchers' catalogue, one row per capture (see :mod:`archive.catalog`),
        oldest first, in a list: :meth:`catalog_batches` whole."""
        return [row for batch in self.catalog_batches() for row in batch]

    def catalog_batches(self, *, batch: int = 2000) -> Iterator[list[CatalogRow]]:
        """The catalogue's rows, oldest first, a batch of about ``batch`` captures at a
        time, all read in one read transaction: memory holds one batch, however large
        the archive (whole, the rows of a year of daily runs took gigabytes). Each
        metadata record is read and parsed once, for the columns and the citation."""
        from archive.cite import CITED_FIELDS, text_citations
        from archive.metadata.store import latest_versions_in

        with read(self.engine) as conn:
            for caps in queries.oldest_first(conn, batch=batch):
                # The catalogue's columns (title, outlet, published) are cited fields.
                versions = latest_versions_in(conn, metadata_sources(caps),
                                              fields=CITED_FIELDS)
                yield catalog_rows(caps, versions, text_citations(
                    caps, versions, archive=self.settings.archive_name,
                    public_url=self.settings.public_url))

    def bundle(self, hash_or_prefix: str, *, checkpoint: str | None = None,
               create_key: bool = True, sign: bool = True) -> bytes:
        """The self-contained proof bundle of one capture (see :mod:`archive.proof.bundle_build`);
        signs a new checkpoint first when the capture's newest event is not in one.
        ``sign=False`` never reads the private key: the bundle is made against a stored
        checkpoint (``checkpoint``, by default the latest), checked with the public key."""
        if not sign:
            return make_bundle(self.engine, self.store, hash_or_prefix,
                               identity=lambda: load_identity(
                                   self.settings.key_dir, need_private=False),
                               note_dirs=self.settings.note_dirs,
                               checkpoint=checkpoint or "latest")
        return make_bundle(self.engine, self.store, hash_or_prefix,
                           identity=lambda: self.identity(create=create_key),
                           note_dirs=self.settings.note_dirs, checkpoint=checkpoint,
                           stamper=self._stamper())

