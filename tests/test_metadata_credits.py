"""Outlets credited as the source, in English, Swedish, German, French and Spanish."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive.metadata import credits
from archive.metadata.credits import credited


def _names(
    text: str, title: str | None = None, exclude: str | None = None
) -> tuple[str, ...] | None:
    value = credited([("text:line 2", text)], title, exclude=exclude).value
    assert value is None or isinstance(value, tuple)
    return value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "The deal was struck in secret, according to The New York Times.",
            ("The New York Times",),
        ),
        ("Reuters reported that talks had stalled.", ("Reuters",)),
        ("Det framgår av dokument som Dagens Nyheter tagit del av.", ("Dagens Nyheter",)),
        ("Enligt tidningen Expressen var beslutet redan fattat.", ("Expressen",)),
        ("Laut dem Spiegel wurde der Vertrag nicht unterschrieben.", ("Spiegel",)),
        (
            "Wie die Süddeutsche Zeitung berichtet, ist der Plan gescheitert.",
            ("Süddeutsche Zeitung",),
        ),
        ("Selon Le Monde, le projet a été abandonné.", ("Le Monde",)),
        ("Según El País, el acuerdo se firmó el lunes.", ("El País",)),
        ("El acuerdo fue confirmado, informó la agencia EFE.", ("EFE",)),
    ],
)
def test_credit_cues(text: str, expected: tuple[str, ...]) -> None:
    assert _names(text) == expected


def test_headline_credit() -> None:
    field = credited([], "Colluded in battle for Palmyra, says Sky News")
    assert field.value == ("Sky News",)
    assert field.evidence[0].source == "title"


def test_people_and_the_outlet_itself_are_not_credited() -> None:
    assert _names("The plan failed, according to John Smith, a local farmer.") is None
    assert _names("Rudaw reported the story first.", exclude="Rudaw") is None
    assert _names("Sky News reported it. Rudaw reported it too.", exclude="Rudaw") == ("Sky News",)


def test_sentence_boundaries_stop_a_name() -> None:
    assert _names("It ended in March. Sky News said the deal was done.") == ("Sky News",)


def test_confidence_grows_with_repeated_credits() -> None:
    once = credited([("p1", "According to Bloomberg, it fell.")], None)
    thrice = credited(
        [("p1", "According to Bloomberg, it fell. Bloomberg reported more. Bloomberg said so.")],
        None,
    )
    assert once.confidence < thrice.confidence <= 0.9


def test_repetition_never_makes_a_person_an_outlet() -> None:
    """Two separate cues credit the same name; it does not look like an outlet, so it is
    not one (no "credited twice" rule: the module docstring once promised one)."""
    text = "According to Maria Lopez, the count was close. Maria Lopez said it was over."
    found = credits.mentions(text, "text:line 2")
    assert [(m.name, m.media_like) for m in found] == [("Maria Lopez", False)] * 2
    assert _names(text) is None


def test_the_list_is_as_confident_as_its_least_credited_name() -> None:
    twice = "According to Bloomberg, it fell. Bloomberg reported more."
    both = credited([("p1", twice + " Reuters said so.")], None)
    assert both.value == ("Bloomberg", "Reuters")
    reuters_once = credited([("p1", "Reuters said so.")], None)
    assert both.confidence == reuters_once.confidence
    assert reuters_once.confidence < credited([("p1", twice)], None).confidence


# the cue lists as plain alternations: what _AFTER and _BEFORE must match exactly like
_ANY_CUE = re.compile("(?:" + "|".join(credits._AFTER_CUES) + ")", re.IGNORECASE)
_ANY_BEFORE_CUE = re.compile("(?:" + "|".join(credits._BEFORE_CUES) + ")", re.IGNORECASE)
_PLAIN_AFTER = re.compile(r"(?<![\w])" + _ANY_CUE.pattern + r"\s+", re.IGNORECASE)
_PLAIN_BEFORE = re.compile(r"\s\s*" + _ANY_BEFORE_CUE.pattern + r"(?![\w])", re.IGNORECASE)


@settings(max_examples=300, deadline=None)
@given(cue=st.from_regex(_ANY_CUE, fullmatch=True), before=st.sampled_from(["", "x ", ". "]))
def test_the_first_letter_lookahead_never_hides_a_cue(cue: str, before: str) -> None:
    """_AFTER skips positions whose letter no cue starts with; every cue must still match
    exactly where the plain alternation does."""
    text = f"{before}{cue} The Guardian"
    assert [m.span() for m in credits._AFTER.finditer(text)] == \
        [m.span() for m in _PLAIN_AFTER.finditer(text)]


_PIECES = st.one_of(
    st.from_regex(_ANY_CUE, fullmatch=True),
    st.from_regex(_ANY_BEFORE_CUE, fullmatch=True),
    st.sampled_from(["The Guardian", "Sky News", "Reuters", "John", "x", "för", "till", "à"]),
    st.text(alphabet=" \t\n\u00a0", min_size=1, max_size=12),
    st.sampled_from([".", ",", ":", "(", "'", "’", "-", "«"]),
    st.text(alphabet="abdeinorstuväéó'ÅÉ", max_size=8),
)


@settings(max_examples=400, deadline=None)
@given(pieces=st.lists(_PIECES, max_size=14))
def test_the_cue_tries_find_what_the_plain_alternations_find(pieces: list[str]) -> None:
    """_AFTER and _BEFORE (tries, a lookahead, a possessive run of spaces) match exactly
    where the cue lists as plain alternations do, in any mix of cues, names, runs of
    white space, punctuation and letters."""
    text = "".join(pieces)
    assert [m.span() for m in credits._AFTER.finditer(text)] == \
        [m.span() for m in _PLAIN_AFTER.finditer(text)]
    assert [m.span() for m in credits._BEFORE.finditer(text)] == \
        [m.span() for m in _PLAIN_BEFORE.finditer(text)]


@pytest.mark.parametrize(("cue", "phrases"), [
    ("told", ["told"]),
    ("(?:first )?reported by", ["first reported by", "reported by"]),
    ("reports?", ["reports", "report"]),
    ("d['’]après", ["d'après", "d’après"]),
    ("sagte (?:dem|der|den)", ["sagte dem", "sagte der", "sagte den"]),
    ("(?:a )?(?:déclaré|indiqué) à", ["a déclaré à", "a indiqué à", "déclaré à", "indiqué à"]),
    ("Nach (?:Angaben|Recherchen) (?:des|vom)",
     ["nach angaben des", "nach angaben vom", "nach recherchen des", "nach recherchen vom"]),
])
def test_a_cue_stands_for_its_phrases(cue: str, phrases: list[str]) -> None:
    assert credits._phrases(cue) == phrases


def test_an_unbalanced_cue_is_refused() -> None:
    with pytest.raises(ValueError, match="unbalanced"):
        credits._phrases("according to)")


@settings(max_examples=300, deadline=None)
@given(phrases=st.lists(st.text(alphabet="ab .", min_size=1, max_size=5), min_size=1,
                        max_size=8),
       probe=st.text(alphabet="ab .", max_size=6))
def test_a_trie_matches_exactly_its_phrases_longest_first(phrases: list[str],
                                                          probe: str) -> None:
    pattern = re.compile(credits._trie(phrases))
    assert (pattern.fullmatch(probe) is not None) == (probe in phrases)
    for phrase in phrases:
        assert pattern.fullmatch(phrase)
    longest = max((p for p in phrases if probe.startswith(p)), key=len, default=None)
    found = pattern.match(probe)
    assert (found.group(0) if found else None) == longest
