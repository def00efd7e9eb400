"""``archive serve``: the researchers' read-only web resolver and Memento replay.

``app.py`` builds two Starlette applications over one read-only :class:`archive.api.Archive`:
the resolver (search, capture pages, proof bundles, history, framing pages) and the
replay origin, served on its own port so an archived page's script never shares an
origin with the application. ``memento.py`` (RFC 7089 datetimes, selection, Link
headers) and ``rewrite.py`` (HTML attributes and CSS ``url()`` to replay URLs) are pure.
``run.py`` starts both under uvicorn.
"""
