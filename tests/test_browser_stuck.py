"""A page script that loops while we wait on the page is ended, in real Chromium
(``archive.browser.stuck``): the call that waited answers, instead of hanging until the
watchdog kills the browser."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import chromium_for_tests

from archive.browser.renderer import chromium_args, chromium_path
from archive.browser.stuck import ScriptBreaker

# the page's script starts looping 300 ms after it runs, and never stops by itself
LOOPING = ("<p id=t>before</p><script>setTimeout(() => { "
           "document.getElementById('t').textContent = 'looping'; while (true) {} }, 300);"
           "</script>")


@pytest.fixture
def page() -> Iterator[Any]:
    chromium_for_tests()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium_path()),
                                     args=chromium_args(), headless=True)
        try:
            context = browser.new_context()
            yield context.new_page()
        finally:
            browser.close()


def test_an_evaluation_held_by_a_looping_script_answers_once_the_script_is_ended(
        page: Any) -> None:
    breaker = ScriptBreaker(page.context.new_cdp_session(page))
    page.set_content(LOOPING)
    page.wait_for_timeout(600)  # the loop has begun: the page's main thread is held
    began = time.monotonic()
    with breaker.patience(0.5):
        text = page.evaluate("() => document.getElementById('t').textContent")
    assert text == "looping"  # the script ran until it was ended, and is ended
    assert breaker.breaks >= 1
    assert time.monotonic() - began < 5  # ended after 0.5 s, not left to hang


def test_a_call_that_answers_in_time_ends_no_script(page: Any) -> None:
    breaker = ScriptBreaker(page.context.new_cdp_session(page))
    page.set_content("<p id=t>calm</p><script>window.ticks = 0;"
                     "setInterval(() => window.ticks++, 10);</script>")
    with breaker.patience(2.0):
        assert page.evaluate("() => document.getElementById('t').textContent") == "calm"
    page.wait_for_timeout(2500)  # past the patience: the timer was cancelled
    assert breaker.breaks == 0
    assert page.evaluate("() => window.ticks") > 50  # the page's own timers still run
