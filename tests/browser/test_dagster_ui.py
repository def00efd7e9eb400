"""The operator's view in a real browser: dagster-webserver on 127.0.0.1 over an instance
where the example sources were captured, opened in headless Chromium (Debian's chromium,
driven by Playwright with ``executable_path``). Screenshots go to test-output/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import DagsterInstance
from helpers import chromium_for_tests, free_port, wait_for_http
from pipelinekit import (
    definitions,
    deployment_env,
    example_sources,
    partition_meta,
    register_sources,
    run_archive_job,
)

from archive.cli.demo import serve_site
from archive.core.urls import partition_key
from pipelines.assets import capture

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTICLE = "/2024/03/04/harbour-lighthouse-vote.html"
ASSET_NAMES = ("sources", "capture", "article_metadata", "custody_checkpoint", "catalog",
               "fixity_audit")


@dataclass
class UI:
    url: str
    article_key: str
    content_hash: str
    capture_id: str


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    """The example sources captured by one archive_job run, then the webserver on it."""
    tmp = tmp_path_factory.mktemp("ui")
    dagster_home = tmp / "dagster"
    dagster_home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", dagster_home / "dagster.yaml")
    with serve_site(0) as site, pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(dagster_home))  # as scripts/ui sets it
        env = deployment_env(tmp / "home", example_sources(site, tmp / "sources.yaml"))
        with DagsterInstance.get() as instance:
            keys = register_sources(env, instance)
            assert run_archive_job(definitions(env), instance, keys).success
            key = partition_key(site + ARTICLE)
            cap = partition_meta(instance, capture.key, key)
    port = free_port()
    log = (tmp / "webserver.log").open("wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-webserver"), "-h", "127.0.0.1",
         "-p", str(port), "-w", "workspace.yaml"],
        cwd=ROOT, env={**os.environ, **env, "DAGSTER_HOME": str(dagster_home)},
        stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/server_info", proc, "dagster-webserver",
                      timeout=90)
        yield UI(f"http://127.0.0.1:{port}", key, cap["content_hash"], cap["capture_id"])
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_asset_catalogue_and_capture_partition_in_chromium(ui: UI) -> None:
    from playwright.sync_api import expect, sync_playwright

    executable = chromium_for_tests()
    OUTPUT.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(executable), headless=True,
                                     args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(45_000)
            # expect() has its own 5 s default, which a partition page of the UI outlasts
            # when the suite's other worker keeps the second core busy
            expect.set_options(timeout=45_000)

            page.goto(f"{ui.url}/assets")
            for name in ASSET_NAMES:
                expect(page.locator(f'a[href="/assets/{name}"]').first).to_be_visible()
            expect(page.get_by_text("Loading...")).to_have_count(0)  # statuses filled in
            page.screenshot(path=str(OUTPUT / "dagster-asset-catalog.png"), full_page=True)

            page.goto(f"{ui.url}/assets/capture?view=partitions&partition={ui.article_key}")
            expect(page.get_by_text(ui.article_key).first).to_be_visible()
            expect(page.get_by_text(ui.content_hash).first).to_be_visible()
            expect(page.get_by_text(ui.capture_id).first).to_be_visible()
            page.screenshot(path=str(OUTPUT / "dagster-capture-partition.png"), full_page=True)
        finally:
            browser.close()
