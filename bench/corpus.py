# ruff: noqa: E501 - the page template holds long HTML lines on purpose
"""Deterministic, realistic news-article HTML pages of about 100 KB each.

``page(i)`` always returns the same bytes for the same ``i`` (no clock, no global
random state): a full article page as a newsroom CMS emits it, with a head full of
meta, Open Graph and JSON-LD, inline CSS and scripts, a long navigation, the article
(headline, byline, dateline, time element, some 40-60 paragraphs), related links and a
footer. Templates are built for ``i % TEMPLATES`` and made unique per page by writing
the page number into fixed-width slots, so 10,000 pages cost 1,000 page builds.
"""

from __future__ import annotations

import functools
import random

TEMPLATES = 1000
TARGET_BYTES = 100 * 1024
_SLOT = b"@@PAGE-SLOT-0000000@@"  # fixed width: replaced by the page number, same length

_WORDS = (  # noqa: SIM905 - a word list reads better as text
    "council harbour vote budget minister river bridge election court ruling police "
    "report village school hospital strike union workers farmers weather storm flood "
    "drought market prices inflation energy grid wind solar railway station airport ferry "
    "port museum festival library mayor committee hearing evidence witness statement "
    "official spokesperson residents protest agreement contract investment company shares "
    "profit losses jobs housing rent tenants landlords planning permission coast fishing "
    "quota season tourism visitors record decline growth survey research university "
    "students teachers parents children health clinic doctors nurses patients waiting "
    "times emergency services fire brigade road closure traffic accident investigation "
    "inquiry documents published leaked analysis data figures percent million thousand "
    "annual quarterly monthly weekly yesterday today tomorrow morning evening night "
    "northern southern eastern western regional national local federal district county "
    "province"
).split()
_NAMES = (
    "Anna Keller",
    "Jonas Berg",
    "Maria Lopez",
    "Tomás Novak",
    "Ingrid Dahl",
    "Samuel Okafor",
    "Lea Fischer",
    "Hiro Tanaka",
    "Élodie Martin",
    "Priya Raman",
)
_SECTIONS = (
    "News",
    "Local",
    "Politics",
    "Business",
    "Climate",
    "Science",
    "Culture",
    "Sport",
    "Opinion",
    "Health",
    "Education",
    "Transport",
    "World",
    "Europe",
)
_CITIES = ("Harbourton", "Riverside", "Northgate", "Eastfield", "Westmoor", "Southbay")

_CSS = "\n".join(
    f".c{i}{{margin:{i % 7}px {i % 5}px;padding:{i % 3}px;"
    f"color:#{(i * 2654435761) % 0xFFFFFF:06x};font:{12 + i % 6}px/1.{4 + i % 4} Georgia,serif}}"
    for i in range(160)
)
_SCRIPT = "\n".join(
    f"window.__cfg_{i}={{id:{i},slot:'ad-{i % 12}',lazy:{str(i % 2 == 0).lower()},"
    f"sizes:[[300,250],[728,90],[{i % 400},{i % 300}]],"
    f"targeting:{{section:'news',pos:{i}}}}};"
    for i in range(120)
)


@functools.lru_cache(maxsize=1)
def _sentences() -> tuple[str, ...]:
    rng = random.Random(20240304)
    out = []
    for _ in range(3000):
        n = rng.randint(9, 26)
        words = [rng.choice(_WORDS) for _ in range(n)]
        if rng.random() < 0.3:
            words.insert(rng.randrange(n), rng.choice(_CITIES))
        sentence = " ".join(words)
        out.append(sentence[0].upper() + sentence[1:] + rng.choice(".....?"))
    return tuple(out)


def _template(t: int) -> bytes:
    rng = random.Random(t * 7919 + 17)
    sents = _sentences()
    section = _SECTIONS[t % len(_SECTIONS)]
    author = _NAMES[t % len(_NAMES)]
    city = _CITIES[t % len(_CITIES)]
    year, month, day = 2024 + t % 3, 1 + t % 12, 1 + t % 28
    date = f"{year}-{month:02d}-{day:02d}"
    title = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 11))).capitalize()
    slot = _SLOT.decode()
    url = f"https://news.example.org/{section.lower()}/{date.replace('-', '/')}/story-{slot}.html"
    head = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} | The Example Courier</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="description" content="{sents[(t * 3) % len(sents)]}">
<meta name="author" content="{author}">
<meta property="og:type" content="article">
<meta property="og:title" content="{title}">
<meta property="og:site_name" content="The Example Courier">
<meta property="og:url" content="{url}">
<meta property="article:published_time" content="{date}T0{t % 10}:15:00+01:00">
<meta property="article:section" content="{section}">
<link rel="canonical" href="{url}">
<script type="application/ld+json">{{"@context":"https://schema.org","@type":"NewsArticle",
"headline":"{title}","datePublished":"{date}T0{t % 10}:15:00+01:00","dateModified":"{date}T1{t % 10}:40:00+01:00",
"author":[{{"@type":"Person","name":"{author}"}}],"publisher":{{"@type":"Organization","name":"The Example Courier"}},
"mainEntityOfPage":"{url}","articleSection":"{section}"}}</script>
<style>
{_CSS}
</style>
<script>
{_SCRIPT}
</script>
</head>
<body class="article {section.lower()}">
<!-- page {slot} -->
<header class="site-header"><a class="logo" href="/">The Example Courier</a>
<nav class="main-nav"><ul>
"""
    nav = "".join(
        f'<li class="c{i % 160}"><a href="/{s.lower()}/{i}/">{s} {i}</a></li>\n'
        for i, s in enumerate(_SECTIONS * 14)
    )
    parts = [
        head,
        nav,
        '</ul></nav></header>\n<main>\n<article class="story">\n',
        f'<h1 class="headline">{title}</h1>\n',
        f'<p class="byline">By <a rel="author" href="/authors/{author.lower().replace(" ", "-")}">'
        f"{author}</a></p>\n",
        f'<time datetime="{date}T0{t % 10}:15:00+01:00">{day} {month} {year}</time>\n',
        f'<p class="dateline"><strong>{city.upper()}</strong> — {sents[t % len(sents)]}</p>\n',
    ]
    size = sum(len(p) for p in parts)
    target = TARGET_BYTES - 10_000 + rng.randint(-8_000, 8_000)
    n = 0
    while size < target:
        para = " ".join(rng.choice(sents) for _ in range(rng.randint(3, 8)))
        block = f'<p class="c{n % 160}">{para}</p>\n'
        if n % 9 == 8:
            block += (
                f'<figure class="inline"><img src="/img/{t}-{n}.jpg" alt="{rng.choice(sents)}" '
                f'width="800" height="450" loading="lazy"><figcaption>{rng.choice(sents)}'
                "</figcaption></figure>\n"
            )
        if n % 13 == 12:
            block += f'<aside class="ad" id="ad-{n}"><div data-slot="ad-{n % 12}"></div></aside>\n'
        parts.append(block)
        size += len(block)
        n += 1
    parts.append('</article>\n<section class="related"><h2>Related</h2><ul>\n')
    for k in range(40):
        parts.append(
            f'<li><a href="/{_SECTIONS[k % 14].lower()}/{(t + k) % 997}/">'
            f"{rng.choice(sents)[:70]}</a></li>\n"
        )
    parts.append('</ul></section>\n</main>\n<footer class="site-footer"><ul>\n')
    for k in range(60):
        parts.append(f'<li><a href="/about/{k}">About us {k}</a></li>\n')
    parts.append(
        "</ul><p>© The Example Courier</p></footer>\n"
        "<script>document.querySelectorAll('[data-slot]').forEach(function(e){e.dataset.ok=1});"
        "</script>\n</body>\n</html>\n"
    )
    return "".join(parts).encode("utf-8")


@functools.lru_cache(maxsize=TEMPLATES)
def template(t: int) -> bytes:
    return _template(t % TEMPLATES)


def page(i: int) -> bytes:
    """The bytes of page ``i`` (unique per ``i``; ~100 KB)."""
    slot = f"@@PAGE-SLOT-{i:07d}@@".encode()
    assert len(slot) == len(_SLOT)
    return template(i % TEMPLATES).replace(_SLOT, slot)


def path(i: int) -> str:
    return f"/a/{i:07d}.html"
