"""From a fetched URL or a local document to a durable, recorded capture.

Order of effects, which the crash guarantees depend on:
1. fetch (spooled to temp files; nothing in the store yet);
2. write one WARC file under ``.open``, fsync, rename, fsync the directory;
3. one database transaction: file row, capture rows, record rows, custody events.
A crash between 2 and 3 leaves a complete file without rows; ``archive verify``'s
reconciler finds it. A row therefore never points at a missing file.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, insert

from archive.browser.models import (
    DOM_CONTENT_TYPE,
    SCREENSHOT_CONTENT_TYPE,
    dom_uri,
    screenshot_uri,
)
from archive.capture.commit import commit_file, insert_file_row
from archive.capture.manifest import build_manifest
from archive.capture.originals import find_requisite_revisits, find_revisits
from archive.capture.prepare import Content, Prepared, capture_facts, dump_provenance
from archive.capture.results import CaptureFailure, CaptureResult
from archive.capture.revalidate import resolve_not_modified
from archive.capture.revisit import Revisit, response_payload_digest
from archive.capture.subresources import PageRequisites
from archive.core.canonical import canonical_json
from archive.core.config import Settings
from archive.core.content import Decoded, decode_body, parse_codings, sniff_type
from archive.core.hashing import hex_part, sha256_bytes
from archive.core.timeutil import iso_utc, utc_now
from archive.core.urls import url_key
from archive.core.version import SOFTWARE, SOFTWARE_NAME, __version__
from archive.errors import FetchError
from archive.http.models import FetchResult
from archive.ledger.custody import (
    CAPTURE,
    INGESTION,
    MESSAGE_DIGEST_CALCULATION,
    Agent,
    CustodyLog,
    NewEvent,
)
from archive.ledger.db import run_write
from archive.ledger.queries import page_facts
from archive.ledger.tables import captures, records
from archive.warc.store import StoredFile, WarcStore
from archive.warc.stores import open_store
from archive.warc.writer import (
    HTTP_REQUEST_TYPE,
    HTTP_RESPONSE_TYPE,
    NOT_MODIFIED_PROFILE,
    PROVENANCE,
    REVISIT_PROFILE,
    Block,
    RecordIdFactory,
    WarcWriter,
    WrittenRecord,
    about_uri,
    new_record_id,
    warc_date,
    warc_fields,
)

WARC_1_1_SPEC = "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/"


class Recorder:
    """Writes prepared captures to one WARC file and the custody DB."""

    def __init__(self, settings: Settings, engine: Engine, *,
                 clock: Callable[[], datetime] = utc_now,
                 new_id: RecordIdFactory = new_record_id,
                 store: WarcStore | None = None,
                 log: CustodyLog | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.new_id = new_id
        self.store = store or open_store(settings)
        self.log = log or CustodyLog(clock=clock)

    # -- preparing -----------------------------------------------------------------

    def prepare_fetch(self, result: FetchResult, agent: Agent,
                      robots: dict[str, Any] | None = None, *, mode: str = "html",
                      requisites: PageRequisites | None = None) -> Prepared:
        """The capture of a fetched page; in ``page``/``browser`` mode with the
        ``requisites`` fetched for it (their records go in the same file, before the
        page's, and they are listed in the provenance)."""
        final = result.exchanges[-1]
        ctype = final.header("content-type")
        policy = result.policy
        if not parse_codings(final.content_encoding) and \
                final.body_length <= policy.max_decoded_bytes:
            # No content coding: the content is the body the fetcher already hashed.
            content = Content(final.body_sha256, final.body_length, (), None)
            prepared = self._prepare_decoded(result, agent, content, ctype)
        else:
            with final.open_body() as body, decode_body(
                    body, final.content_encoding, max_output=policy.max_decoded_bytes,
                    max_depth=policy.max_encoding_depth) as decoded:
                prepared = self._prepare_decoded(result, agent, decoded, ctype)
        prepared.provenance["robots"] = robots or {"policy": "not checked"}
        prepared.provenance["mode"] = mode
        prepared.requisites = requisites
        prepared.run_id = agent.run_id
        return prepared

    def _prepare_decoded(self, result: FetchResult, agent: Agent, decoded: Content | Decoded,
                         ctype: str | None) -> Prepared:
        final = result.exchanges[-1]
        problems: list[str] = []
        if decoded.error:
            problems.append(f"content not decodable: {decoded.error}")
        truncated = final.truncated
        if truncated:
            status = "truncated"
            why = f": {final.truncated_reason}" if final.truncated_reason else ""
            problems.append(f"response truncated ({truncated}) after {final.body_length} "
                            f"bytes{why}")
        elif final.status >= 400:
            status = "http-error"
            problems.append(f"HTTP {final.status} {final.reason}".rstrip())
        else:
            status = "complete"
        content_hash = decoded.sha256 if not decoded.error else None
        payload_digest = response_payload_digest(final)
        prov = self._fetch_provenance(result, agent, decoded, ctype)
        return Prepared(
            url=result.requested_url, kind="http", started_at=result.started_at,
            ended_at=result.ended_at, content_hash=content_hash, content_type=ctype,
            status=status, http_status=final.status, final_url=result.final_url,
            provenance=prov, problems=problems,
            write=lambda w, info_id, p: self._write_exchanges(
                w, info_id, result, p.provenance_json(), p.revisit, payload_digest,
                p.requisites),
            payload_digest=None if truncated else payload_digest,
        )

    def prepare_document(self, data: bytes, *, name: str, url: str | None,
                         content_type: str | None, agent: Agent) -> Prepared:
        now = self.clock()
        content_hash = sha256_bytes(data)
        ctype = content_type or mimetypes.guess_type(name)[0] or sniff_type(data[:4096], None)
        target = url or f"urn:sha256:{hex_part(content_hash)}"
        prov = {
            "type": "document-ingest", "software": SOFTWARE_NAME, "software_version": __version__,
            "original_url": url, "file_name": Path(name).name, "size": len(data),
            "content_type": ctype, "content_hash": content_hash, "ingested_at": iso_utc(now),
            "host": self.settings.hostname, "operator": self.settings.operator,
            "agent": agent.to_json(),
        }

        def write(w: WarcWriter, info_id: str, _p: Prepared) -> list[WrittenRecord]:
            res = w.write("resource", [("WARC-Target-URI", target), ("WARC-Warcinfo-ID", info_id)],
                          Block.of(data, payload_offset=0), record_id=self.new_id(),
                          date=warc_date(now), content_type=ctype)
            meta = self._metadata_record(w, target, res, _p.provenance_json(), now, info_id)
            return [res, meta]

        return Prepared(url=target, kind="document", started_at=now, ended_at=now,
                         content_hash=content_hash, content_type=ctype, status="complete",
                         http_status=None, final_url=url, provenance=prov, write=write,
                         run_id=agent.run_id)

    # -- writing --------------------------------------------------------------------

    def record(self, batch: Sequence[Prepared], agent: Agent) -> list[CaptureResult]:
        """Write ``batch`` to one durable WARC file, then commit its rows and events."""
        if not batch:
            return []
        stored, moment, written = self.write_file(batch, agent)
        return commit_file(self.engine, self.store, stored, lambda conn: self.commit_rows(
            conn, stored, moment, batch, written, agent))

    def write_file(self, batch: Sequence[Prepared], agent: Agent
                   ) -> tuple[StoredFile, datetime, list[list[WrittenRecord]]]:
        """Step 1 of :meth:`record`: the durable WARC file, before any row exists."""
        moment = self.clock()
        find_revisits(self.engine, batch)
        find_requisite_revisits(self.engine, batch, self.new_id)
        resolve_not_modified(batch)  # after: an original may be in this batch
        for p in batch:  # the metadata record carries what a reconciler needs to adopt
            if p.requisites is not None:
                p.provenance["requisites"] = p.requisites.to_json()
                target = p.final_url or p.url
                if p.requisites.rendered is not None:
                    p.provenance["browser"] = p.requisites.rendered.to_json(
                        dom_uri(target), screenshot_uri(target))
                if p.requisites.fallback:
                    p.provenance["mode"] = "page"
                    p.provenance["browser_fallback"] = p.requisites.fallback
            p.provenance["capture"] = capture_facts(p)
            p.provenance_text = dump_provenance(p.provenance)  # the record's and the row's
        written: list[list[WrittenRecord]] = []
        with self.store.new_file(moment, self.settings.hostname) as out:
            w = WarcWriter(out)
            info_id = self.new_id()
            info = w.write("warcinfo", [("WARC-Filename", out.name)],
                           Block.of(self._warcinfo(agent)), record_id=info_id,
                           date=warc_date(moment), content_type="application/warc-fields")
            for p in batch:
                written.append([info, *p.write(w, info_id, p)])
        assert out.stored is not None
        return out.stored, moment, written

    def commit_rows(self, conn: Connection, stored: StoredFile, moment: datetime,
                    batch: Sequence[Prepared], written: list[list[WrittenRecord]],
                    agent: Agent) -> list[CaptureResult]:
        """Step 2 of :meth:`record` (and of an import or an adoption): the file's row,
        its captures and records, and their custody events, in ``conn``'s transaction."""
        file_pk = insert_file_row(conn, stored, moment)
        results: list[CaptureResult] = []
        new_events: list[NewEvent] = []
        cap_rows: list[dict[str, Any]] = []
        for p, recs in zip(batch, written, strict=True):
            started = iso_utc(p.started_at)
            manifest = build_manifest(
                url=p.url, final_url=p.final_url, capture_time=started, kind=p.kind,
                status=p.status, http_status=p.http_status, content_hash=p.content_hash,
                stored=stored, records=recs,
                revisit_of=p.revisit_of)
            manifest_json = canonical_json(manifest)
            cid = sha256_bytes(manifest_json)  # = capture_id(manifest), serialised once
            final_payload = next((r.payload_digest for r in reversed(recs)
                                  if r.type in ("response", "resource", "revisit")), None)
            cap_rows.append({
                "capture_id": cid, "content_hash": p.content_hash,
                "payload_digest": final_payload,
                "kind": p.kind, "status": p.status, "http_status": p.http_status, "url": p.url,
                "final_url": p.final_url, "content_type": p.content_type, "started_at": started,
                "ended_at": iso_utc(p.ended_at), "warc_file_id": file_pk,
                "revisit_of": p.revisit_of,
                "manifest": manifest_json.decode(),
                "provenance": p.provenance_json(),
                "run_id": p.run_id,
            })
            objects = [cid, stored.sha256] + ([p.content_hash] if p.content_hash else [])
            objects.append(url_key(p.url))
            outcome = "success" if p.status in ("complete", "revisit") else "warning"
            detail: dict[str, Any] = {
                "url": p.url, "final_url": p.final_url, "status": p.status,
                "http_status": p.http_status, "warc_file": stored.relpath,
                "revisit_of": p.revisit_of, "problems": p.problems}
            detail.update(p.event_detail)
            etype = CAPTURE if p.kind == "http" else INGESTION
            if p.recovered_from:
                etype = INGESTION
                detail.update(recovered=True, recovered_from=p.recovered_from,
                              note="adopted by the reconciler: the file was complete and "
                                   "digest-valid but had no database row (interrupted run)")
            new_events.append(NewEvent(etype, objects, outcome, detail))
            new_events.append(NewEvent(
                MESSAGE_DIGEST_CALCULATION, [cid], "success",
                {"algorithm": "SHA-256", "warc_file": stored.sha256,
                 "content_hash": p.content_hash, "records": len(recs)}))
            results.append(CaptureResult(
                capture_id=cid, content_hash=p.content_hash, url=p.url, final_url=p.final_url,
                kind=p.kind, status=p.status, http_status=p.http_status,
                content_type=p.content_type, started_at=started,
                warc_path=self.store.locate(stored.relpath), warc_sha256=stored.sha256,
                revisit_of=p.revisit_of, problems=tuple(p.problems), **page_facts(p.provenance)))
        if not cap_rows:  # an imported file without a capturable record
            return results
        # One multi-row INSERT ... RETURNING for the captures, one for all their records.
        pks = conn.execute(insert(captures).returning(captures.c.id,
                                                      sort_by_parameter_order=True),
                           cap_rows).scalars().all()
        conn.execute(insert(records), [
            {"capture_pk": pk, "warc_file_id": file_pk, "record_id": r.record_id,
             "type": r.type, "target_uri": r.target_uri, "date": r.date,
             "offset": r.offset, "length": r.length,
             "block_digest": r.block_digest, "payload_digest": r.payload_digest}
            for pk, recs in zip(pks, written, strict=True) for r in recs])
        self.log.append(conn, new_events, agent)
        return results

    def record_failure(self, url: str, error: FetchError, agent: Agent) -> CaptureFailure:
        """A fetch that produced nothing to store still leaves a failure event."""
        event = NewEvent(CAPTURE, [url_key(url)], "failure",
                         {"url": url, "error": type(error).__name__, "message": error.message})
        run_write(self.engine, lambda conn: self.log.append(conn, [event], agent))
        return CaptureFailure(url, error)

    # -- helpers ------------------------------------------------------------------------

    def _write_exchanges(self, w: WarcWriter, info_id: str, result: FetchResult,
                         prov: str, revisit: Revisit | None, final_payload_digest: str,
                         requisites: PageRequisites | None = None) -> list[WrittenRecord]:
        """Response and request records of every hop, in file order (the requisites'
        first, so the page's response is the capture's last content record), then the
        provenance, about the page's final response."""
        out: list[WrittenRecord] = []
        for f in requisites.fetched if requisites else ():
            out += self._write_hops(w, info_id, f.result, f.revisit, f.payload_digest,
                                    f.response_id)
        shown = requisites.rendered if requisites else None
        if shown is not None:  # what the browser showed, under Browsertrix's urn: forms
            when = warc_date(result.ended_at)
            for target, data, ctype in (
                    (dom_uri(result.final_url), shown.dom, DOM_CONTENT_TYPE),
                    (screenshot_uri(result.final_url), shown.screenshot,
                     SCREENSHOT_CONTENT_TYPE)):
                if data is not None:
                    out.append(w.write(
                        "resource", [("WARC-Target-URI", target),
                                     ("WARC-Warcinfo-ID", info_id)],
                        Block.of(data, payload_offset=0), record_id=self.new_id(),
                        date=when, content_type=ctype))
        out += self._write_hops(w, info_id, result, revisit, final_payload_digest)
        out.append(self._metadata_record(w, result.final_url, out[-2], prov,
                                         result.ended_at, info_id))
        return out

    def _write_hops(self, w: WarcWriter, info_id: str, result: FetchResult,
                    revisit: Revisit | None, final_payload_digest: str,
                    final_response_id: str | None = None) -> list[WrittenRecord]:
        out: list[WrittenRecord] = []
        last = len(result.exchanges) - 1
        for i, ex in enumerate(result.exchanges):
            resp_id = (final_response_id if i == last and final_response_id
                       else self.new_id())
            req_id = self.new_id()
            date = warc_date(ex.started_at)
            common = [("WARC-Target-URI", ex.url), ("WARC-Warcinfo-ID", info_id)]
            ip = [("WARC-IP-Address", ex.remote_ip)] if ex.remote_ip else []
            if i == last and revisit is not None:
                # a 304's revisit has no block (capture.revalidate says why)
                not_modified, head = ex.status == 304, b""
                if not not_modified:
                    with ex.open_response() as raw:
                        head = raw.read(ex.header_length)
                resp = w.write("revisit", common + ip + [
                    ("WARC-Profile", NOT_MODIFIED_PROFILE if not_modified else REVISIT_PROFILE),
                    ("WARC-Refers-To", revisit.record_id),
                    ("WARC-Refers-To-Target-URI", revisit.target_uri),
                    ("WARC-Refers-To-Date", revisit.date)],
                    Block.of(head), record_id=resp_id, date=date,
                    content_type=None if not_modified else HTTP_RESPONSE_TYPE,
                    payload_digest=final_payload_digest)
            else:
                trunc: list[tuple[str, str]] = (
                    [("WARC-Truncated", str(ex.truncated))] if ex.truncated else [])
                with ex.open_response() as raw:  # digests known from the fetch
                    resp = w.write("response", common + ip + trunc,
                                   Block(raw, ex.response_length, ex.header_length),
                                   record_id=resp_id, date=date,
                                   content_type=HTTP_RESPONSE_TYPE,
                                   block_digest=ex.response_sha256,
                                   payload_digest=final_payload_digest if i == last
                                   else response_payload_digest(ex))
            req_body = ex.request_bytes.find(b"\r\n\r\n")
            req = w.write("request", [*common, ("WARC-Concurrent-To", resp_id)],
                          Block.of(ex.request_bytes,
                                   payload_offset=req_body + 4 if req_body >= 0 else None),
                          record_id=req_id, date=date, content_type=HTTP_REQUEST_TYPE)
            out += [resp, req]  # file order: an adopted file lists them the same way
        return out

    def _metadata_record(self, w: WarcWriter, target: str, refers: WrittenRecord,
                         prov: str, when: datetime, info_id: str) -> WrittenRecord:
        """The capture's provenance, about ``refers`` (its final response or resource);
        under its own URN so that replay tools never serve it for ``target``."""
        body = prov.encode("utf-8")
        return w.write("metadata", [("WARC-Target-URI", about_uri(PROVENANCE, target)),
                                    ("WARC-Refers-To", refers.record_id),
                                    ("WARC-Warcinfo-ID", info_id)],
                       Block.of(body), record_id=self.new_id(), date=warc_date(when),
                       content_type="application/json", compute_payload_digest=False)

    def _warcinfo(self, agent: Agent) -> bytes:
        return warc_fields([
            ("software", SOFTWARE),
            ("format", "WARC File Format 1.1"),
            ("conformsTo", WARC_1_1_SPEC),
            ("hostname", self.settings.hostname),
            ("operator", self.settings.operator),
            ("http-header-user-agent", self.settings.fetch.user_agent),
            ("robots", "obey"),  # overrides are per capture, with a reason, in provenance
            ("run-id", agent.run_id or ""),  # the orchestrator's run, whichever it is
        ])

    def _fetch_provenance(self, result: FetchResult, agent: Agent,
                          decoded: Content | Decoded,
                          ctype: str | None) -> dict[str, Any]:
        final = result.exchanges[-1]
        policy = result.policy
        hops = [{"url": ex.url, "status": ex.status, "location": ex.header("location"),
                 "remote_ip": ex.remote_ip, "started_at": iso_utc(ex.started_at),
                 "truncated": ex.truncated}
                for ex in result.exchanges]
        tls = None
        if final.tls is not None:
            tls = {"version": final.tls.version, "cipher": final.tls.cipher,
                   "peer_certificate_sha256": final.tls.cert_sha256,
                   "verified": final.tls.verified}
        with final.open_body() as body:
            head = body.read(4096)
        return {
            "type": "http-capture",
            "requested_url": result.requested_url,
            "final_url": result.final_url,
            "redirects": hops[:-1],
            "http_status": final.status,
            "http_reason": final.reason,
            "response_headers": [[k, v] for k, v in final.headers],
            "request_headers": [[k, v] for k, v in final.request_headers],
            "remote_ip": final.remote_ip,
            "remote_port": final.remote_port,
            "tls": tls,
            "tls_verified": result.tls_verified,
            "retries": [{"url": r.url, "status": r.status, "waited_seconds": r.waited,
                         "detail": r.detail} for r in result.retries],
            "started_at": iso_utc(result.started_at),
            "ended_at": iso_utc(result.ended_at),
            "attempts": result.attempts,
            "truncated": final.truncated,
            "body_bytes": final.body_length,
            "content": {
                "declared_type": ctype, "sniffed_type": sniff_type(head, ctype),
                "content_encoding": final.content_encoding,
                "decoded_with": list(decoded.codings),
                "content_hash": decoded.sha256 if not decoded.error else None,
                "decoded_bytes": decoded.size, "decode_error": decoded.error,
            },
            "software": SOFTWARE_NAME,
            "software_version": __version__,
            "host": self.settings.hostname,
            "operator": self.settings.operator,
            "run_id": agent.run_id,
            "partition_key": agent.partition_key,
            "policy": {
                "user_agent": policy.user_agent,
                "allow_private_networks": policy.allow_private_networks,
                "verify_tls": policy.verify_tls, "max_bytes": policy.max_bytes,
                "deadline_seconds": policy.deadline, "max_redirects": policy.max_redirects,
            },
        }



