"""What-if runs: our capture with a proposed change to a file this bench may not edit,
applied as a patch in this process only, so the gain of each proposal is measured.

``python -m bench.whatif PATCHES --urls F --home DIR [--concurrency C]`` where PATCHES is
a comma-separated list of:

- ``none``: no patch (the baseline, same process layout);
- ``noindent``: capture.Recorder._metadata_record serialises provenance with the C JSON
  encoder (``json.dumps`` without ``indent=1``, which forces the pure-Python encoder);
- ``fastcanon``: canonical.canonical_json takes a fast path through the C JSON encoder
  when RFC 8785 and ``json.dumps(sort_keys=True, separators=(",", ":"),
  ensure_ascii=False)`` provably agree (only str/int/bool/None/list/dict, integers
  within 2**53, no key outside the BMP), else rfc8785 as now;
- ``window``: api.Archive.capture keeps at most ``4 × concurrency + batch_size`` fetches
  in flight and drops each future once handled (memory flat in N; today every
  future, holding its FetchResult and prepared capture, lives until the end).

Prints one JSON line like ``bench.child ours``.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import rfc8785

_MAX_INT = 2**53 - 1


def _plain(value: Any) -> bool:
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is str or v is None or t is bool:
            continue
        if t is int:
            if -_MAX_INT <= v <= _MAX_INT:
                continue
            return False
        if t is dict:
            for k, item in v.items():
                if type(k) is not str or (k and max(k) > "\uffff"):
                    return False
                stack.append(item)
            continue
        if t is list or t is tuple:
            stack.extend(v)
            continue
        return False
    return True


def fast_canonical_json(value: Any) -> bytes:
    if _plain(value):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8"
        )
    return rfc8785.dumps(value)


def patch_fastcanon() -> None:
    import archive.canonical
    import archive.capture
    import archive.custody

    archive.canonical.canonical_json = fast_canonical_json  # type: ignore[assignment]
    archive.capture.canonical_json = fast_canonical_json  # type: ignore[attr-defined]
    archive.custody.canonical_json = fast_canonical_json  # type: ignore[attr-defined]


def patch_noindent() -> None:
    from archive import capture as cap
    from archive.warc import Block, warc_date

    def _metadata_record(
        self: Any, w: Any, target: str, refers: Any, prov: dict[str, Any], when: Any, info_id: str
    ) -> Any:
        body = json.dumps(prov, sort_keys=True, ensure_ascii=False).encode("utf-8")
        return w.write(
            "metadata",
            [
                ("WARC-Target-URI", target),
                ("WARC-Refers-To", refers.record_id),
                ("WARC-Warcinfo-ID", info_id),
            ],
            Block.of(body),
            record_id=self.new_id(),
            date=warc_date(when),
            content_type="application/json",
            compute_payload_digest=False,
        )

    cap.Recorder._metadata_record = _metadata_record  # type: ignore[method-assign]


def patch_window() -> None:
    from archive import api
    from archive.capture import host_of
    from archive.errors import FetchError
    from archive.fetch import Fetcher

    def capture(
        self: Any,
        urls: Sequence[str],
        *,
        agent: Any = None,
        concurrency: int = 4,
        per_host: int = 1,
        batch_size: int = 32,
        on_done: Callable[[Any], None] | None = None,
    ) -> list[Any]:
        agent = agent or self.agent()
        fetcher = Fetcher(self.settings.fetch, ca_bundle=self.settings.ca_bundle)
        host_slots: dict[str, threading.Semaphore] = {}
        slots_lock = threading.Lock()

        def slot(url: str) -> threading.Semaphore:
            with slots_lock:
                return host_slots.setdefault(host_of(url), threading.Semaphore(per_host))

        def fetch_one(url: str) -> Any:
            with slot(url):
                try:
                    result = fetcher.fetch(url)
                except FetchError as exc:
                    return url, exc, None
            try:
                return url, result, self.recorder.prepare_fetch(result, agent)
            except BaseException:
                result.close()
                raise

        outcomes: dict[int, Any] = {}
        pending: list[tuple[int, Any, Any]] = []

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

        window = 4 * max(1, concurrency) + batch_size
        index_of: dict[Future[Any], int] = {}
        todo = iter(enumerate(urls))
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:

            def top_up() -> None:
                while len(index_of) < window:
                    nxt = next(todo, None)
                    if nxt is None:
                        return
                    index_of[pool.submit(fetch_one, nxt[1])] = nxt[0]

            top_up()
            while index_of:
                done, _ = wait(set(index_of), timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in done:
                    idx = index_of.pop(fut)
                    url, res, prepared = fut.result()
                    if isinstance(res, FetchError):
                        outcomes[idx] = self.recorder.record_failure(url, res, agent)
                        if on_done:
                            on_done(outcomes[idx])
                    else:
                        pending.append((idx, res, prepared))
                top_up()
                if len(pending) >= batch_size or (not done and pending) or not index_of:
                    flush()
        return [outcomes[i] for i in range(len(urls))]

    api.Archive.capture = capture  # type: ignore[method-assign]


PATCHES = {
    "none": lambda: None,
    "noindent": patch_noindent,
    "fastcanon": patch_fastcanon,
    "window": patch_window,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("patches")
    parser.add_argument("--urls", required=True)
    parser.add_argument("--home", required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    for name in args.patches.split(","):
        PATCHES[name]()
    from bench import child

    out = child.ours(
        argparse.Namespace(
            urls=args.urls, home=args.home, db=None, concurrency=args.concurrency, batch=args.batch
        )
    )
    out["patches"] = args.patches
    print(json.dumps(out))


if __name__ == "__main__":
    main()
