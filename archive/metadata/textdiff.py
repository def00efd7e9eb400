"""What changed in an article between two captures, sentence by sentence (pure).

``article_sentences`` takes a stored payload to the article's sentences: the text of
its paragraphs (``<p>`` of 20 characters or more, as the extractor reads them; the
visible body text only when a page has none, so that one edit never switches how a
version is read), or the plain text of a non-HTML document,
split into sentences. ``diff_sentences`` compares two such lists with
:class:`difflib.SequenceMatcher`, so an edit shows as the sentences removed and the
sentences added, the rest kept. ``history`` and ``archive diff`` read the same diff.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from archive.core.canonical import canonical_json
from archive.core.hashing import sha256_bytes
from archive.metadata.markup import body_text, paragraphs, parse
from archive.metadata.payload import decode

Op = Literal["same", "removed", "added"]

# A sentence ends at . ! ? (or an ellipsis) with optional closing quotes/brackets,
# followed by white space and something that can start a sentence.
_BOUNDARY = re.compile(r"([.!?…][\"'”’)\]]?)\s+(?=[\"'“‘(\[]?[0-9A-ZÀ-ÖØ-ÞА-Я])")


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, white space collapsed; joining them with spaces gives
    back the text's words in order (nothing is dropped or reordered)."""
    out: list[str] = []
    for para in text.split("\n"):
        words = " ".join(para.split())
        if not words:
            continue
        start = 0
        for m in _BOUNDARY.finditer(words):
            out.append(words[start:m.end(1)])
            start = m.end()
        out.append(words[start:])
    return [s for s in out if s]


def article_text(data: bytes, content_type: str | None) -> str:
    """The article's text: paragraphs one a line (HTML), or the document's text."""
    media = (content_type or "").split(";")[0].strip().lower()
    html = media in ("text/html", "application/xhtml+xml") or (
        not media and data.lstrip()[:1] == b"<")
    text, _ = decode(data, content_type, html=html)
    if not html:
        return text
    tree = parse(text)
    if tree is None:
        return ""
    paras = paragraphs(tree)
    return "\n".join(t for _, t in paras) if paras else body_text(tree, [])


def article_sentences(data: bytes, content_type: str | None) -> list[str]:
    return split_sentences(article_text(data, content_type))


@dataclass(frozen=True)
class Change:
    """One sentence of a diff: kept (``same``), only in the older (``removed``) or only
    in the newer version (``added``)."""

    op: Op
    text: str

    def to_json(self) -> dict[str, str]:
        return {"op": self.op, "text": self.text}


def diff_sentences(old: Sequence[str], new: Sequence[str]) -> list[Change]:
    """Every sentence of both versions in reading order, each marked same, removed or
    added; the removed sentences of a replaced run come before the added ones."""
    out: list[Change] = []
    matcher = difflib.SequenceMatcher(a=list(old), b=list(new), autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out += [Change("same", s) for s in old[i1:i2]]
            continue
        out += [Change("removed", s) for s in old[i1:i2]]
        out += [Change("added", s) for s in new[j1:j2]]
    return out


def changed(changes: Sequence[Change]) -> bool:
    return any(c.op != "same" for c in changes)


def format_diff(changes: Sequence[Change], *, context: int = 1) -> str:
    """The diff as text lines: ``- `` removed, ``+ `` added, ``  `` kept (only the
    ``context`` sentences around a change; ``…`` marks what is left out)."""
    keep = {i for i, c in enumerate(changes) if c.op != "same"}
    near = {j for i in keep for j in range(i - context, i + context + 1)}
    lines: list[str] = []
    skipped = False
    for i, c in enumerate(changes):
        if c.op == "same" and i not in near:
            skipped = True
            continue
        if skipped and lines:
            lines.append("  …")
        skipped = False
        lines.append({"same": "  ", "removed": "- ", "added": "+ "}[c.op] + c.text)
    return "\n".join(lines)


Verdict = Literal["new", "unchanged", "changed"]
VERDICTS: tuple[Verdict, ...] = ("new", "unchanged", "changed")


def diff_hash(changes: Sequence[Change]) -> str:
    """``sha256:`` of the RFC 8785 canonical JSON of the whole diff (every sentence with
    its op, as ``archive diff --json`` prints ``changes``): what a comparison commits to."""
    return sha256_bytes(canonical_json([c.to_json() for c in changes]))


def comparison(previous: tuple[str, str | None, Sequence[str]] | None,
               sentences: Sequence[str]) -> dict[str, Any]:
    """The record of what changed in a capture against the capture of its URL before it.

    ``previous`` is (capture id, content hash, sentences) of that capture, or ``None``
    for the first capture of a URL (verdict ``new``). The record names the previous
    capture and its content hash, the verdict, the counts of sentences removed and added
    and the :func:`diff_hash` of the diff, so a reader can recompute it with
    ``archive diff``."""
    if previous is None:
        return {"verdict": "new"}
    cid, content_hash, before = previous
    changes = diff_sentences(before, sentences)
    return {"verdict": "changed" if changed(changes) else "unchanged",
            "previous": cid, "previous_content_hash": content_hash,
            "removed": sum(c.op == "removed" for c in changes),
            "added": sum(c.op == "added" for c in changes),
            "diff_sha256": diff_hash(changes)}


def comparison_problems(rec: Any, content_hash: str | None,
                        previous_content_hash: str | None) -> list[str]:
    """What is inconsistent in a recorded comparison (empty when nothing is), given the
    compared capture's content hash and the stored content hash of the previous capture
    it names (``None`` when no such capture is stored). Pure checks, no payload read:
    the verdict is one of :data:`VERDICTS`; ``new`` names no previous capture; otherwise
    the previous capture exists with the recorded content hash, the counts agree with the
    verdict, and the same content cannot be ``changed``."""
    if not isinstance(rec, dict) or rec.get("verdict") not in VERDICTS:
        return [f"the verdict {rec.get('verdict') if isinstance(rec, dict) else rec!r} "
                "is not new, unchanged or changed"]
    if rec["verdict"] == "new":
        return ["a 'new' comparison names a previous capture"] if "previous" in rec else []
    out = []
    if previous_content_hash is None:
        out.append(f"the previous capture {rec.get('previous')} is not in the database")
    elif rec.get("previous_content_hash") != previous_content_hash:
        out.append(f"the previous capture's content hash is {previous_content_hash}, not "
                   f"{rec.get('previous_content_hash')} as recorded")
    removed, added = rec.get("removed"), rec.get("added")
    if not isinstance(removed, int) or not isinstance(added, int) or removed < 0 or added < 0:
        out.append("the counts of sentences removed and added are not counts")
    elif (removed + added > 0) != (rec["verdict"] == "changed"):
        out.append(f"verdict {rec['verdict']} with {removed} sentences removed and "
                   f"{added} added")
    if rec["verdict"] == "changed" and content_hash is not None and \
            content_hash == rec.get("previous_content_hash"):
        out.append("verdict changed, but the content is the same as the previous capture's")
    return out
