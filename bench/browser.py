"""``python -m bench.browser``: pages per minute of ``archive.browser`` on one Chromium,
against plain Playwright on the same Chromium and pages with no interception (issue 14:
overhead <= 1.5x).

The site (loopback, in this process): N articles sharing a stylesheet, a script and a
logo, each with its own three images, one of them lazy below the fold. Contenders, in
ABBA order each round, one browser each, a fresh context per page:

* ``ours``: ``Renderer.render`` (every request through a ``requests`` fetch: interception,
  limits, idle wait, scroll, scripts stopped, screenshot, DOM);
* ``plain``: ``goto`` (load) + full-page screenshot;
* ``plain+waits``: ``plain`` plus what ours waits for (network idle, the same scroll,
  ``page.content()``): the cost of interception alone.

Prints figures only; never asserts timings.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from archive.browser import Exchange, Limits, Renderer, Served, chromium_args, chromium_path

_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db40000000049454e44ae426082")


def _site(pages: int) -> dict[str, tuple[str, bytes]]:
    files: dict[str, tuple[str, bytes]] = {
        "/static/site.css": ("text/css", b"body{font:16px serif;margin:0 auto;max-width:50em}"
                             b"header{background:url(/static/logo.png)} img{width:320px}"),
        "/static/site.js": ("text/javascript",
                            b"document.addEventListener('DOMContentLoaded',()=>{"
                            b"document.querySelector('.byline').textContent='By A. Writer';});"),
        "/static/logo.png": ("image/png", _PNG),
    }
    para = "<p>" + "The harbour authority met again on Tuesday. " * 12 + "</p>"
    for i in range(pages):
        images = "".join(f"<img src=/img/{i}-{k}.png>{para}" for k in range(2))
        body = (f"<!doctype html><html><head><title>Article {i}</title>"
                f"<link rel=stylesheet href=/static/site.css><script src=/static/site.js>"
                f"</script></head><body><header>News</header><h1>Article {i}</h1>"
                f"<p class=byline></p>{images}{para * 6}"
                f"<img loading=lazy src=/img/{i}-lazy.png></body></html>")
        files[f"/a/{i}.html"] = ("text/html; charset=utf-8", body.encode())
        for k in ("0", "1", "lazy"):
            files[f"/img/{i}-{k}.png"] = ("image/png", _PNG)
    return files


def _serve(files: dict[str, tuple[str, bytes]]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            kind, body = files.get(self.path, ("text/plain", b"not found"))
            self.send_response(200 if self.path in files else 404)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _fetcher() -> Callable[[Exchange], Served]:
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=16))

    def fetch(ex: Exchange) -> Served:
        resp = session.request(ex.method, ex.url, data=ex.body, allow_redirects=False,
                               timeout=30)
        return Served(resp.status_code, tuple(resp.headers.items()), resp.content)
    return fetch


_STEPS = ("context", "load", "idle", "scroll", "record")


def _ours(urls: list[str], renderer: Renderer, limits: Limits,
          steps: dict[str, list[float]] | None = None) -> float:
    fetch = _fetcher()
    began = time.monotonic()
    for url in urls:
        out = renderer.render(url, fetch, limits=limits)
        assert out.dom and out.screenshot, out.notes  # a failed page would flatter us
        assert any(r.url.endswith("-lazy.png") and r.outcome == "served"
                   for r in out.requests), "the lazy image was not loaded"
        for name in _STEPS if steps is not None else ():
            steps.setdefault(name, []).append(getattr(out.timings, name))
    return time.monotonic() - began


def _plain(urls: list[str], browser: Any, waits: bool, limits: Limits) -> float:
    width, height = limits.viewport
    began = time.monotonic()
    for url in urls:
        context = browser.new_context(viewport={"width": width, "height": height},
                                      service_workers="block")
        page = context.new_page()
        page.goto(url, wait_until="load")
        if waits:
            page.wait_for_load_state("networkidle")
            total = page.evaluate("() => document.documentElement.scrollHeight")
            for y in range(0, int(total), height):
                page.evaluate("y => window.scrollTo(0, y)", y)
                page.wait_for_timeout(limits.scroll_step_pause * 1000)
            page.evaluate("() => window.scrollTo(0, 0)")
            page.wait_for_load_state("networkidle")
            page.content()
        page.screenshot(full_page=True)
        context.close()
    return time.monotonic() - began


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2, help="ABBA rounds")
    args = parser.parse_args(argv)
    server = _serve(_site(args.pages))
    base = f"http://127.0.0.1:{server.server_address[1]}"
    urls = [f"{base}/a/{i}.html" for i in range(args.pages)]
    limits = Limits()
    times: dict[str, list[float]] = {"ours": [], "plain": [], "plain+waits": []}
    steps: dict[str, list[float]] = {}
    with Renderer() as renderer:
        renderer.start()
        pw = renderer._pw  # one Playwright driver per thread: share the renderer's
        assert pw is not None
        plain = pw.chromium.launch(executable_path=str(chromium_path()), headless=True,
                                   args=[a for a in chromium_args()
                                         if not a.startswith("--host-resolver-rules")])
        _ours(urls[:2], renderer, limits)  # warm both up
        _plain(urls[:2], plain, True, limits)
        for _ in range(args.rounds):
            for name in ("ours", "plain", "plain+waits", "plain+waits", "plain", "ours"):
                if name == "ours":
                    times[name].append(_ours(urls, renderer, limits, steps))
                else:
                    times[name].append(_plain(urls, plain, name == "plain+waits", limits))
        plain.close()
    server.shutdown()
    ppm = {name: 60 * args.pages / statistics.median(values) for name, values in times.items()}
    print(f"browser mode, {args.pages} pages x {2 * args.rounds} runs each (ABBA), "
          f"Chromium {renderer.version or '?'}")
    for name, value in ppm.items():
        spread = [60 * args.pages / v for v in times[name]]
        print(f"  {name:12} {value:7.1f} pages/min  (runs {min(spread):.1f}-{max(spread):.1f})")
    print(f"  overhead vs plain:       {ppm['plain'] / ppm['ours']:.2f}x  (target <= 1.5x)")
    print(f"  overhead vs plain+waits: {ppm['plain+waits'] / ppm['ours']:.2f}x")
    ours, plain_s = times["ours"], times["plain"]
    rounds = [(ours[k] + ours[k + 1]) / (plain_s[k] + plain_s[k + 1])
              for k in range(0, len(ours), 2)]
    print(f"  overhead per round:      {', '.join(f'{r:.2f}' for r in rounds)}")
    print("  ours per page, ms (median): " + ", ".join(
        f"{name} {1000 * statistics.median(v):.0f}" for name, v in steps.items()))


if __name__ == "__main__":
    main()
