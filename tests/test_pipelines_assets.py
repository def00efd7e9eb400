"""Assets and checks materialised for real: a loopback site, an archive in tmp_path, an
ephemeral Dagster instance, ``materialize`` / ``execute_in_process`` runs."""

from __future__ import annotations

import csv
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from dagster import (
    AssetCheckSeverity,
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    ExecuteInProcessResult,
    materialize,
)
from helpers import chromium_for_tests
from pipelinekit import (
    ASSETS,
    EXAMPLE_PATHS,
    asset_meta,
    check_evaluations,
    definitions,
    deployment_env,
    example_sources,
    partition_meta,
    register_sources,
    run_archive_job,
    step_keys,
    write_sources,
)
from servers import TestServer, article_html, minimal_png
from sqlalchemy import text

from archive.api import Archive
from archive.cli.demo import serve_site
from archive.core.config import Settings
from archive.core.urls import partition_key
from archive.ledger.custody import check_chain
from archive.ledger.db import read
from pipelines.assets import article_metadata, capture, catalog, custody_checkpoint
from pipelines.checks import (
    ALL_CHECKS,
    CAPTURE_COMPLETE,
    CUSTODY_CONSISTENT,
    HASHES_MATCH_DB,
    METADATA_SCHEMA_VALID,
    WARC_VALID,
)
from pipelines.partitioned import latest_materializations, range_tags
from pipelines.resources import resources_from_env

ARTICLE = "/2024/03/04/harbour-lighthouse-vote.html"


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with serve_site(0) as base:
        yield base


@pytest.fixture
def env(tmp_path: Path, site: str) -> dict[str, str]:
    return deployment_env(tmp_path / "home", example_sources(site, tmp_path / "sources.yaml"))


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as inst:
        yield inst


def _materialize(env: dict[str, str], instance: DagsterInstance, key: str,
                 selection: AssetSelection | None = None, **kwargs: Any) -> ExecuteInProcessResult:
    return materialize([*ASSETS, *ALL_CHECKS], instance=instance, partition_key=key,
                       resources=resources_from_env(env),
                       selection=selection or AssetSelection.assets(capture, article_metadata),
                       **kwargs)


def test_one_partition_capture_and_metadata(env: dict[str, str], instance: DagsterInstance,
                                            site: str) -> None:
    keys = register_sources(env, instance)
    key = partition_key(site + ARTICLE)
    assert key in keys and len(keys) == 4

    result = _materialize(env, instance, key)
    assert result.success

    cap = partition_meta(instance, capture.key, key)
    assert cap["url"] == site + ARTICLE
    assert cap["status"] == "complete" and cap["http_status"] == 200
    assert cap["content_hash"].startswith("sha256:") and cap["capture_id"].startswith("sha256:")
    assert Path(cap["warc_path"]).is_file()
    assert cap["change"] == "new"
    assert cap["content_hash"] in cap["summary"]
    # page mode (the default): the stylesheet, the masthead it names and the photo
    assert cap["mode"] == "page"
    assert (cap["requisites_captured"], cap["requisites_failed"]) == (3, 0)
    assert "requisites: 3 captured, 0 failed" in cap["summary"]
    assert "capture_page" not in cap  # no ARCHIVE_PUBLIC_URL: nothing to link to
    mat = result.asset_materializations_for_node("capture")[0]
    assert mat.tags["dagster/data_version"] == cap["content_hash"]

    meta = partition_meta(instance, article_metadata.key, key)
    assert meta["title"] == "Harbour town votes to restore its lighthouse"
    assert meta["outlet"] == "The Northern Ledger"
    assert meta["published"] == "2024-03-04T08:15:00+00:00"  # the instant the page states
    assert meta["published_evidence"] == "json-ld:datePublished"
    assert meta["capture_id"] == cap["capture_id"]

    evaluations = check_evaluations(result)
    for name in (WARC_VALID, HASHES_MATCH_DB, CUSTODY_CONSISTENT, CAPTURE_COMPLETE,
                 METADATA_SCHEMA_VALID):
        assert evaluations[(name, key)].passed, evaluations[(name, key)].description

    # The same page again: a revisit, the same data version, nothing downstream changes.
    again = _materialize(env, instance, key)
    cap2 = partition_meta(instance, capture.key, key)
    assert cap2["status"] == "revisit" and cap2["change"] == "unchanged"
    assert again.asset_materializations_for_node("capture")[0].tags[
        "dagster/data_version"] == cap["content_hash"]
    meta2 = partition_meta(instance, article_metadata.key, key)
    assert meta2["stored"] == "existing" and meta2["extracted_from"] == cap["capture_id"]
    assert again.asset_materializations_for_node("article_metadata")[0].tags[
        "dagster/data_version"] == meta["metadata_sha256"]


def test_the_capture_mode_comes_from_the_run_config(env: dict[str, str],
                                                   instance: DagsterInstance, site: str) -> None:
    """The fetcher resource's ``mode`` (ARCHIVE_CAPTURE_MODE, or the run config's
    resources.fetcher.config.mode) is the mode of sources without their own."""
    register_sources(env, instance)
    key = partition_key(site + ARTICLE)
    resources = resources_from_env({**env, "ARCHIVE_CAPTURE_MODE": "html"})
    assert resources["fetcher"].mode == "html"
    result = materialize([*ASSETS, *ALL_CHECKS], instance=instance, partition_key=key,
                         resources=resources, selection=AssetSelection.assets(capture))
    assert result.success
    cap = partition_meta(instance, capture.key, key)
    assert cap["mode"] == "html" and cap.get("requisites_captured") is None


def test_a_source_in_browser_mode_is_rendered_by_the_dagster_job(
        tmp_path: Path, instance: DagsterInstance) -> None:
    """``mode: browser`` in sources.yaml, materialized: the capture is Chromium's, its
    metadata shows the mode, its requisites and the screenshot's hash, the extractor
    reads the byline a script inserted, and every check passes on it."""
    chromium_for_tests()
    byline = (b"var p = document.createElement('p'); p.className = 'byline';"
              b"p.textContent = 'By Ada Scriptwright';"
              b"document.querySelector('article').prepend(p);")
    with TestServer(routes={}) as site:
        site.add_page("/app.js", byline, content_type="text/javascript")
        site.add_page("/logo.png", minimal_png(6, 6), content_type="image/png")
        page = site.add_page("/story", (
            b"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Storm closes the "
            b"harbour</title></head><body><article><h1>Storm closes the harbour</h1><p>"
            b"Ferries stayed in port for a second day.</p></article><img src=/logo.png>"
            b"<script src=/app.js></script></body></html>"))
        sources = write_sources(tmp_path / "sources.yaml", [page], mode="browser")
        env = deployment_env(tmp_path / "home", sources)
        (key,) = register_sources(env, instance)
        result = _materialize(env, instance, key)
    assert result.success
    cap = partition_meta(instance, capture.key, key)
    assert cap["status"] == "complete" and cap["mode"] == "browser"
    assert (cap["requisites_captured"], cap["requisites_failed"]) == (2, 0)
    with Archive.open(Settings.from_env(env)) as arc:
        digest, png = arc.screenshot(cap["capture_id"])
    assert png.startswith(b"\x89PNG") and cap["screenshot"] == digest
    assert f"screenshot: `{digest}`" in cap["summary"]
    meta = partition_meta(instance, article_metadata.key, key)
    assert meta["authors"] == "Ada Scriptwright"  # the served HTML names no one
    evaluations = check_evaluations(result)
    for name in (WARC_VALID, HASHES_MATCH_DB, CUSTODY_CONSISTENT, CAPTURE_COMPLETE,
                 METADATA_SCHEMA_VALID):
        assert evaluations[(name, key)].passed, evaluations[(name, key)].description


def test_capture_metadata_links_to_the_published_capture_page(
        tmp_path: Path, site: str, instance: DagsterInstance) -> None:
    env = deployment_env(tmp_path / "home", example_sources(site, tmp_path / "sources.yaml"),
                         ARCHIVE_PUBLIC_URL="https://archive.example.org/")
    key = register_sources(env, instance)[0]
    assert _materialize(env, instance, key, AssetSelection.assets(capture)).success
    cap = partition_meta(instance, capture.key, key)
    page = f"https://archive.example.org/c/{cap['capture_id']}"
    assert cap["capture_page"] == page
    assert f"[{page}]({page})" in cap["summary"]


def test_scheduled_range_runs_in_one_step(env: dict[str, str], instance: DagsterInstance,
                                          ) -> None:
    keys = register_sources(env, instance)
    defs = definitions(env)
    result = run_archive_job(defs, instance, keys)
    assert result.success
    # One capture step (one process) for the whole range, not one per source: one share
    # (ARCHIVE_CAPTURE_SHARES defaults to 1), between the plan and the report.
    assert [k for k in step_keys(result, DagsterEventType.STEP_START)
            if k.startswith("capture.")] == [
        "capture.capture_plan", "capture.capture_share[0]", "capture.capture_report"]

    caps = {k: partition_meta(instance, capture.key, k) for k in keys}
    assert {c["status"] for c in caps.values()} == {"complete"}
    assert len({c["url"] for c in caps.values()}) == 4  # each partition its own metadata
    evaluations = check_evaluations(result)
    for key in keys:
        for name in (WARC_VALID, HASHES_MATCH_DB, CUSTODY_CONSISTENT, CAPTURE_COMPLETE,
                     METADATA_SCHEMA_VALID):
            assert evaluations[(name, key)].passed, (name, evaluations[(name, key)].description)
    assert evaluations[("custody_log_consistent", None)].passed

    checkpoint = asset_meta(instance, custody_checkpoint.key)
    assert checkpoint["size"] > 0 and checkpoint["root_hash"].startswith("sha256:")
    home = Path(env["ARCHIVE_HOME"])
    # the signed note is also filed outside the database (issue 12.3)
    filed = [p.read_text() for p in (home / "checkpoints").glob("*.note")]
    assert any(note in str(checkpoint["note"]) for note in filed), (filed, checkpoint["note"])

    with (home / "catalog" / "catalog.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    jsonl = [json.loads(line) for line in
             (home / "catalog" / "catalog.jsonl").read_text("utf-8").splitlines()]
    assert len(rows) == len(jsonl) == 4
    by_url = {r["url"]: r for r in jsonl}
    harbour = next(r for u, r in by_url.items() if u.endswith(ARTICLE))
    assert harbour["title"] == "Harbour town votes to restore its lighthouse"
    assert harbour["outlet"] == "The Northern Ledger"
    assert harbour["published"] == "2024-03-04T08:15:00+00:00"
    assert harbour["content_hash"] in harbour["citation"]
    assert harbour["capture_id"] in harbour["citation"]
    assert asset_meta(instance, catalog.key)["rows"] == 4

    # The daily recapture: unchanged pages become revisits; the chain stays intact.
    again = run_archive_job(defs, instance, keys)
    assert again.success
    assert {partition_meta(instance, capture.key, k)["change"] for k in keys} == {"unchanged"}
    # Each partition's newest materialization, and the newest one made by another run.
    newest = latest_materializations(instance, capture.key, keys)
    before = latest_materializations(instance, capture.key, keys, before_run=again.run_id)
    assert {r.run_id for r in newest.values()} == {again.run_id}
    assert {r.run_id for r in before.values()} == {result.run_id}
    assert list(newest) == list(before) == keys
    with Archive.open(Settings.from_env(env)) as arc, read(arc.engine) as conn:
        count, problems = check_chain(conn)
    assert count > 0 and problems == []


def test_http_errors_recorded_and_flagged_permanent_failures_not_retried(
        tmp_path: Path, instance: DagsterInstance, http_server: TestServer, site: str) -> None:
    urls = [site + ARTICLE, http_server.url("/status/404"), http_server.url("/loop/a")]
    env = deployment_env(tmp_path / "home", write_sources(tmp_path / "s.yaml", urls))
    keys = register_sources(env, instance)
    article, missing, loop = (partition_key(u) for u in urls)

    # A 404 is a capture (evidence of what the server said), flagged by a warning.
    result = _materialize(env, instance, missing)
    assert result.success
    assert not step_keys(result, DagsterEventType.STEP_UP_FOR_RETRY)
    meta = partition_meta(instance, capture.key, missing)
    assert meta["status"] == "http-error" and meta["http_status"] == 404
    flag = check_evaluations(result)[(CAPTURE_COMPLETE, missing)]
    assert not flag.passed and flag.severity == AssetCheckSeverity.WARN
    assert partition_meta(instance, article_metadata.key, missing)["status"] == "skipped"

    # A redirect loop cannot get better by retrying: the partition fails at once.
    failed = _materialize(env, instance, loop, raise_on_error=False)
    assert not failed.success
    assert not step_keys(failed, DagsterEventType.STEP_UP_FOR_RETRY)
    failure = next(e for e in failed.all_events if e.event_type == DagsterEventType.STEP_FAILURE)
    assert "redirect loop" in str(failure.event_specific_data.error)

    # In a range run the same failures do not hold back the good source.
    ranged = run_archive_job(definitions(env), instance, keys)
    assert ranged.success
    evaluations = check_evaluations(ranged)
    assert evaluations[(CAPTURE_COMPLETE, article)].passed
    assert evaluations[(CAPTURE_COMPLETE, missing)].severity == AssetCheckSeverity.WARN
    loop_eval = evaluations[(CAPTURE_COMPLETE, loop)]
    assert not loop_eval.passed and loop_eval.severity == AssetCheckSeverity.ERROR
    assert partition_meta(instance, capture.key, loop)["status"] == "failed"
    assert partition_meta(instance, article_metadata.key, article)["status"] == "extracted"


def test_transient_failures_are_retried_with_backoff(tmp_path: Path, instance: DagsterInstance,
                                                     http_server: TestServer) -> None:
    flaky_key = uuid.uuid4().hex
    # 503 three times: the fetcher's own two retries give up, the step is retried once.
    url = http_server.url(f"/flaky?key={flaky_key}&fail=3&status=503")
    env = deployment_env(tmp_path / "home", write_sources(tmp_path / "s.yaml", [url]))
    (key,) = register_sources(env, instance)
    result = _materialize(env, instance, key)
    assert result.success
    assert step_keys(result, DagsterEventType.STEP_UP_FOR_RETRY) == ["capture.capture_share[0]"]
    meta = partition_meta(instance, capture.key, key)
    assert meta["status"] == "complete" and meta["http_status"] == 200
    assert http_server.counters[f"flaky:{flaky_key}"] == 4
    assert not list((tmp_path / "home" / "dagster-attempts").glob("*.json"))


def _tamper(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_tampered_warc_turns_checks_red_and_blocks_downstream(
        env: dict[str, str], instance: DagsterInstance, site: str) -> None:
    register_sources(env, instance)
    key = partition_key(site + ARTICLE)
    assert _materialize(env, instance, key).success
    _tamper(Path(partition_meta(instance, capture.key, key)["warc_path"]))

    result = _materialize(env, instance, key, raise_on_error=False,
                          selection=AssetSelection.checks_for_assets(capture)
                          | AssetSelection.assets(article_metadata))
    evaluations = check_evaluations(result)
    assert not evaluations[(WARC_VALID, key)].passed
    assert not evaluations[(HASHES_MATCH_DB, key)].passed
    assert "file hash is" in evaluations[(HASHES_MATCH_DB, key)].description
    assert not result.success
    assert "article_metadata" not in step_keys(result, DagsterEventType.STEP_SUCCESS)

    audit = definitions(env).resolve_job_def("fixity_audit_job").execute_in_process(
        instance=instance, raise_on_error=False)
    fixity = check_evaluations(audit)[("fixity_clean", None)]
    assert not fixity.passed and "changed" in (fixity.description or "")


def test_edited_custody_event_turns_custody_checks_red(env: dict[str, str],
                                                       instance: DagsterInstance,
                                                       site: str) -> None:
    """Each capture's check re-hashes the events since the latest signed checkpoint
    (its time does not grow with the log); the run's check of the log after signing
    re-hashes every event."""
    keys = register_sources(env, instance)
    assert run_archive_job(definitions(env), instance, keys).success  # signs a checkpoint
    key = partition_key(site + ARTICLE)
    assert _materialize(env, instance, key).success  # events after the checkpoint
    with Archive.open(Settings.from_env(env)) as arc, arc.engine.begin() as conn:
        signed = conn.execute(text("SELECT max(size) FROM checkpoints")).scalar_one()
        newest = conn.execute(text("SELECT max(seq) FROM events")).scalar_one()
        assert newest >= signed
        for seq in (0, newest):
            conn.execute(text("UPDATE events SET detail = '{\"status\":\"forged\"}' "
                              "WHERE seq = :seq"), {"seq": seq})

    per_partition = _materialize(env, instance, key, raise_on_error=False,
                                 selection=AssetSelection.checks_for_assets(capture)
                                 | AssetSelection.assets(article_metadata))
    custody = check_evaluations(per_partition)[(CUSTODY_CONSISTENT, key)]
    assert not custody.passed and f"event seq {newest}" in (custody.description or "")
    assert check_evaluations(per_partition)[(WARC_VALID, key)].passed  # the bytes are fine
    assert "article_metadata" not in step_keys(per_partition, DagsterEventType.STEP_SUCCESS)

    log = materialize([*ASSETS, *ALL_CHECKS], instance=instance,
                      resources=resources_from_env(env), raise_on_error=False,
                      selection=AssetSelection.checks_for_assets(custody_checkpoint))
    consistent = check_evaluations(log)[("custody_log_consistent", None)]
    assert not consistent.passed and "event seq 0" in (consistent.description or "")
    assert "no longer hash to its signed root" in (consistent.description or "")


def test_a_run_starts_by_adopting_what_a_crash_left(env: dict[str, str],
                                                    instance: DagsterInstance,
                                                    site: str) -> None:
    """Issue 3: the reconciler runs at the start of every pipeline run."""
    from archive.api import Archive
    from archive.core.config import Settings

    register_sources(env, instance)
    key = partition_key(site + ARTICLE)
    with Archive.open(Settings.from_env(env)) as arc:
        doc = arc.settings.home / "orphan.txt"
        doc.write_text("left behind by a crash\n")
        prepared = arc.recorder.prepare_document(doc.read_bytes(), name="orphan.txt",
                                                 url=None, content_type=None,
                                                 agent=arc.agent())
        stored, _, _ = arc.recorder.write_file([prepared], arc.agent())
        arc.store.release(stored.relpath)  # the writer died before its commit
    assert _materialize(env, instance, key).success
    with Archive.open(Settings.from_env(env)) as arc:
        kinds = {c.kind for c in arc.list_captures()}
        report = arc.verify()
    assert kinds == {"document", "http"}
    assert report.ok, [p.message for p in report.problems]


def test_one_capture_that_cannot_be_extracted_fails_alone_in_a_range(
        env: dict[str, str], instance: DagsterInstance, site: str) -> None:
    """Metadata of a range is extracted in one pass; a capture that cannot be extracted
    fails its own partition, the others are still extracted."""
    keys = register_sources(env, instance)
    resources = resources_from_env(env)
    captured = materialize([*ASSETS, *ALL_CHECKS], instance=instance, resources=resources,
                           selection=AssetSelection.assets(capture), tags=range_tags(keys))
    assert captured.success
    broken = partition_key(site + ARTICLE)
    cid = partition_meta(instance, capture.key, broken)["capture_id"]
    with Archive.open(Settings.from_env(env)) as arc, arc.engine.begin() as conn:
        conn.execute(text("DELETE FROM records WHERE type = 'response' AND capture_pk = "
                          "(SELECT id FROM captures WHERE capture_id = :c)"), {"c": cid[7:]})

    result = materialize([*ASSETS, *ALL_CHECKS], instance=instance, resources=resources,
                         selection=AssetSelection.assets(article_metadata)
                         | AssetSelection.checks_for_assets(article_metadata),
                         tags=range_tags(keys), raise_on_error=False)
    failed = partition_meta(instance, article_metadata.key, broken)
    assert failed["status"] == "failed" and "no response or resource record" in failed["error"]
    ok = [k for k in keys if partition_meta(instance, capture.key, k)["status"] == "complete"
          and k != broken]
    assert ok and all(partition_meta(instance, article_metadata.key, k)["status"] == "extracted"
                      for k in ok)
    evaluations = check_evaluations(result)
    assert not evaluations[(METADATA_SCHEMA_VALID, broken)].passed
    assert all(evaluations[(METADATA_SCHEMA_VALID, k)].passed for k in ok)


def test_a_withdrawn_capture_is_flagged_in_capture_metadata_and_the_catalog(
        env: dict[str, str], instance: DagsterInstance, site: str) -> None:
    register_sources(env, instance)
    key = partition_key(site + ARTICLE)
    assert _materialize(env, instance, key).success
    first = partition_meta(instance, capture.key, key)
    assert "withdrawn" not in first and "original_withdrawn" not in first
    with Archive.open(Settings.from_env(env)) as arc:
        arc.delete(first["capture_id"], reason="court order 2026-12-01",
                   person="editor@example.org")
    # The page again: stored as a revisit of the withdrawn capture, and it says so.
    assert _materialize(env, instance, key,
                        selection=AssetSelection.assets(capture)).success
    again = partition_meta(instance, capture.key, key)
    assert again["status"] == "revisit" and again["revisit_of"] == first["capture_id"]
    assert "withdrawn" not in again  # the new capture itself stands
    assert again["original_withdrawn"].startswith("withdrawn ")
    assert again["original_withdrawn"].endswith("by editor@example.org: court order 2026-12-01")
    assert "which was withdrawn" in again["summary"]

    assert materialize([*ASSETS, *ALL_CHECKS], instance=instance,
                       resources=resources_from_env(env),
                       selection=AssetSelection.assets(catalog)).success
    home = Path(env["ARCHIVE_HOME"])
    with (home / "catalog" / "catalog.csv").open(encoding="utf-8") as f:
        rows = {r["capture_id"]: r for r in csv.DictReader(f)}
    jsonl = {r["capture_id"]: r for r in map(json.loads, (
        home / "catalog" / "catalog.jsonl").read_text("utf-8").splitlines())}
    gone, kept = first["capture_id"], again["capture_id"]
    assert rows[gone]["withdrawn"].endswith(": court order 2026-12-01")
    assert jsonl[gone]["withdrawn"] == rows[gone]["withdrawn"]
    assert "withdrawn" in jsonl[gone]["citation"]
    assert rows[kept]["withdrawn"] == "" and jsonl[kept]["withdrawn"] is None


def test_a_range_fans_out_in_shares_one_host_each(tmp_path: Path, site: str,
                                                  instance: DagsterInstance) -> None:
    """ARCHIVE_CAPTURE_SHARES=2 over two hosts: two capture steps, each with one host's
    sources (politeness holds per step), every source in exactly one."""
    with serve_site(0, host="127.0.0.2") as other:
        urls = [f"{base}{path}" for base in (site, other) for path in EXAMPLE_PATHS]
        env = deployment_env(tmp_path / "home", write_sources(tmp_path / "s.yaml", urls,
                                                              allow_private_networks=True),
                             ARCHIVE_CAPTURE_SHARES="2")
        keys = register_sources(env, instance)
        result = run_archive_job(definitions(env), instance, keys)
    assert result.success
    started = step_keys(result, DagsterEventType.STEP_START)
    assert sorted(k for k in started if k.startswith("capture.capture_share")) == [
        "capture.capture_share[0]", "capture.capture_share[1]"]
    shares = result.output_for_node("capture.capture_share")
    hosts = [{urlsplit(o["url"]).hostname for o in share.values()} for share in shares.values()]
    assert sorted(map(sorted, hosts)) == [["127.0.0.1"], ["127.0.0.2"]]
    assert sorted(k for share in shares.values() for k in share) == sorted(keys)
    caps = {k: partition_meta(instance, capture.key, k) for k in keys}
    assert {c["status"] for c in caps.values()} == {"complete"}
    assert len({c["url"] for c in caps.values()}) == len(urls)


@pytest.mark.slow
def test_a_large_share_captures_on_worker_processes_within_the_host_limit(
        tmp_path: Path, instance: DagsterInstance) -> None:
    """ARCHIVE_PROCESSES=2 with one fetch per process and two per host: a share of 130
    sources (over the 128 a share captures in-process) is fetched by two processes at
    once, so the server sees two requests overlap and never three."""
    lock = threading.Lock()
    active, peak = [0], [0]

    def article(_request: Any, conn: Any) -> None:
        # counted only while the request is surely in flight at the client: from its
        # arrival until before the reply is written (a reply already read lets the client
        # send its next request while this thread has yet to count this one out)
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            conn.sleep(0.02)
        finally:
            with lock:
                active[0] -= 1
        conn.respond(200, article_html().encode())

    with TestServer(routes={"/a": article}) as server:
        urls = [server.url(f"/a?n={i}") for i in range(130)]
        env = deployment_env(tmp_path / "home", write_sources(tmp_path / "s.yaml", urls,
                                                              allow_private_networks=True),
                             ARCHIVE_PROCESSES="2", ARCHIVE_CAPTURE_CONCURRENCY="1",
                             ARCHIVE_PER_HOST="2", ARCHIVE_CAPTURE_MODE="html")
        keys = register_sources(env, instance)
        result = materialize([*ASSETS, *ALL_CHECKS], instance=instance,
                             resources=resources_from_env(env), tags=range_tags(keys),
                             selection=AssetSelection.assets(capture))
    assert result.success
    caps = [partition_meta(instance, capture.key, k) for k in keys]
    assert len(caps) == 130 and {c["status"] for c in caps} == {"complete"}
    assert peak[0] == 2  # two worker processes at once, the per-host limit held
