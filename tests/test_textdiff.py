"""The pure sentence diff behind /history and ``archive diff``."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from archive.metadata.textdiff import (
    Change,
    article_sentences,
    changed,
    diff_sentences,
    format_diff,
    split_sentences,
)

PAGE = """<html><head><title>T</title></head><body><nav>Home | News</nav>
<p>Ferries stayed in port on Friday. The coast guard said so.</p>
<p>Shops were quiet; the storm eases by Sunday, forecasters said.</p></body></html>"""


def test_sentences_of_an_article_come_from_its_paragraphs() -> None:
    assert article_sentences(PAGE.encode(), "text/html; charset=utf-8") == [
        "Ferries stayed in port on Friday.", "The coast guard said so.",
        "Shops were quiet; the storm eases by Sunday, forecasters said."]


def test_plain_text_documents_are_split_too() -> None:
    assert article_sentences(b"One line. Two here!\nThird?", "text/plain") == [
        "One line.", "Two here!", "Third?"]


def test_an_inserted_sentence_is_the_only_change() -> None:
    old = split_sentences("A first thing. A second thing. A third thing.")
    new = split_sentences("A first thing. An inserted claim. A second thing. A third thing.")
    changes = diff_sentences(old, new)
    assert [c for c in changes if c.op != "same"] == [Change("added", "An inserted claim.")]
    assert format_diff(changes) == "  A first thing.\n+ An inserted claim.\n  A second thing."


def test_a_reworded_sentence_is_removed_then_added() -> None:
    changes = diff_sentences(["Ten died.", "Rain fell."], ["Twelve died.", "Rain fell."])
    assert [c.to_json() for c in changes] == [
        {"op": "removed", "text": "Ten died."}, {"op": "added", "text": "Twelve died."},
        {"op": "same", "text": "Rain fell."}]


words = st.text(alphabet=st.sampled_from("abcXY .!?\n\"'"), max_size=80)
sentence_lists = st.lists(st.text(alphabet="abcdef .", min_size=1, max_size=12), max_size=12)


@given(words)
def test_splitting_keeps_every_word_in_order(text: str) -> None:
    assert " ".join(split_sentences(text)).split() == text.split()


@given(sentence_lists, sentence_lists)
def test_the_diff_rebuilds_both_versions(old: list[str], new: list[str]) -> None:
    changes = diff_sentences(old, new)
    assert [c.text for c in changes if c.op != "added"] == old
    assert [c.text for c in changes if c.op != "removed"] == new
    assert changed(changes) == (old != new)
