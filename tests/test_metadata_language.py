"""Language detection: scripts, stop words, declarations."""

from __future__ import annotations

import pytest

from archive.metadata.language import detect, overrules, parse_tag

SAMPLES = {
    "en": "The council said on Tuesday that the new rules would apply from January and that "
    "nobody had been consulted before the decision was taken by the committee.",
    "de": "Der Rat teilte am Dienstag mit, dass die neuen Regeln ab Januar gelten und dass "
    "niemand vor der Entscheidung des Ausschusses gefragt worden sei.",
    "sv": "Rådet meddelade på tisdagen att de nya reglerna ska gälla från januari och att ingen "
    "hade tillfrågats innan beslutet fattades av kommittén.",
    "fr": "Le conseil a indiqué mardi que les nouvelles règles s'appliqueraient à partir de "
    "janvier et que personne n'avait été consulté avant la décision du comité.",
    "es": "El consejo dijo el martes que las nuevas normas se aplicarán a partir de enero y que "
    "nadie había sido consultado antes de que el comité tomara la decisión.",
    "ru": "Совет заявил во вторник, что новые правила будут действовать с января и что никто не "
    "был опрошен до того, как комитет принял это решение.",
    "ja": "市議会は火曜日、新しい規則を一月から適用すると発表しました。委員会が決定する前に相談は"
    "ありませんでした。",
    "zh": "市议会周二表示，新规定将从一月开始实施，委员会作出决定之前没有征求任何人的意见。",
    "ko": "시의회는 화요일 새로운 규칙이 1월부터 적용된다고 밝혔으며 "
    "위원회가 결정하기 전에 누구와도 상의하지 않았다고 말했다.",
    "ar": "قال المجلس يوم الثلاثاء إن القواعد الجديدة ستطبق اعتبارا من يناير "
    "وإنه لم تتم استشارة أحد قبل أن تتخذ اللجنة قرارها.",
    "el": "Το συμβούλιο ανακοίνωσε την Τρίτη ότι οι νέοι κανόνες θα ισχύσουν από τον Ιανουάριο.",
    "gu": "પરિષદે મંગળવારે જણાવ્યું હતું કે નવા નિયમો જાન્યુઆરીથી લાગુ થશે.",
}


@pytest.mark.parametrize("code", sorted(SAMPLES))
def test_detects_the_language(code: str) -> None:
    found = detect(SAMPLES[code] * 2)
    assert found.code == code, found.detail
    assert found.confidence > 0.4


def test_too_little_text_is_unknown() -> None:
    assert detect("ok").code is None
    assert detect("12345 67890 !!!").code is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("en-US", ("en", "US")),
        ("en_gb", ("en", "GB")),
        ("zh-Hant-TW", ("zh", "TW")),
        ("DE", ("de", None)),
        ("fil", ("tl", None)),
        ("iw", ("he", None)),
        ("utf", None),
        ("lang=", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_tag(raw: str | None, expected: tuple[str, str | None] | None) -> None:
    assert parse_tag(raw) == expected


def test_a_declaration_is_overruled_only_by_clear_evidence() -> None:
    german = detect(SAMPLES["de"] * 3)
    assert overrules(german, "en")
    assert not overrules(german, "de")
    # close relatives never overrule each other on stop words alone
    swedish = detect(SAMPLES["sv"] * 3)
    assert not overrules(swedish, "no")
    # another script does
    assert overrules(detect(SAMPLES["gu"] * 3), "en")
