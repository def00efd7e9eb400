"""The browser capture mode: render a page in Debian's Chromium with no network of its
own, every request (redirect hops through a loopback proxy) answered by an injected
fetch, and keep the DOM and a screenshot. :class:`Renderer` is the entry point
(``renderer.py``); ``page.py`` drives one page, ``scrolling.py`` scrolls it,
``recording.py`` reads its DOM and screenshot, ``proxy.py`` answers redirect hops,
``procs.py`` keeps no Chromium process behind, ``models.py`` holds the values.
"""

from archive.browser.renderer import (
    DOM_CONTENT_TYPE,
    SCREENSHOT_CONTENT_TYPE,
    BrowserError,
    Exchange,
    Fetch,
    Limits,
    Refused,
    Renderer,
    Rendering,
    RequestRecord,
    Served,
    Timings,
    chromium_args,
    chromium_path,
    dom_uri,
    png_size,
    render,
    screenshot_uri,
)

__all__ = ["DOM_CONTENT_TYPE", "SCREENSHOT_CONTENT_TYPE", "BrowserError", "Exchange",
           "Fetch", "Limits", "Refused", "Renderer", "Rendering", "RequestRecord", "Served",
           "Timings", "chromium_args", "chromium_path", "dom_uri", "png_size", "render",
           "screenshot_uri"]
