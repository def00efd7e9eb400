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


_ANY_CUE = re.compile("(?:" + "|".join(credits._AFTER_CUES) + ")", re.IGNORECASE)


@settings(max_examples=300, deadline=None)
@given(cue=st.from_regex(_ANY_CUE, fullmatch=True), before=st.sampled_from(["", "x ", ". "]))
def test_the_first_letter_lookahead_never_hides_a_cue(cue: str, before: str) -> None:
    """_AFTER skips positions whose letter no cue starts with; every cue must still match
    exactly where the plain alternation does."""
    text = f"{before}{cue} The Guardian"
    plain = re.compile(r"(?<![\w])" + _ANY_CUE.pattern + r"\s+", re.IGNORECASE)
    assert [m.span() for m in credits._AFTER.finditer(text)] == \
        [m.span() for m in plain.finditer(text)]
