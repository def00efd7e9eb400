"""Language: what the page declares, checked against what its text is written in.

Detection is cheap and offline: the writing system decides most non-Latin
languages (Japanese has kana, Korean hangul, Gujarati its own script ...); within
Latin, Cyrillic, Arabic and Devanagari script the text is scored against the
stop-word lists that ship with jusText (a trafilatura dependency), each word
weighted by how few languages share it. A declaration wins unless the text
clearly says otherwise (another script, or a large margin over the declared
language outside its close relatives).

A language none of the lists knows (isiZulu, isiXhosa: jusText has no list for
them, and their function words are mostly prefixes, not words) matches few of
their words: when the stop words of every known language cover under
``_MIN_COVERAGE`` of a long enough text, the detector says it does not recognise
the language instead of naming the nearest list, and a declaration it cannot
confirm keeps a lower confidence (``fields.language_field``).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from functools import cache

# fmt: off
ISO_639_1 = frozenset((
    "aa", "ab", "ae", "af", "ak", "am", "an", "ar", "as", "av", "ay", "az", "ba", "be", "bg",
    "bh", "bi", "bm", "bn", "bo", "br", "bs", "ca", "ce", "ch", "co", "cr", "cs", "cu", "cv",
    "cy", "da", "de", "dv", "dz", "ee", "el", "en", "eo", "es", "et", "eu", "fa", "ff", "fi",
    "fj", "fo", "fr", "fy", "ga", "gd", "gl", "gn", "gu", "gv", "ha", "he", "hi", "ho", "hr",
    "ht", "hu", "hy", "hz", "ia", "id", "ie", "ig", "ii", "ik", "io", "is", "it", "iu", "ja",
    "jv", "ka", "kg", "ki", "kj", "kk", "kl", "km", "kn", "ko", "kr", "ks", "ku", "kv", "kw",
    "ky", "la", "lb", "lg", "li", "ln", "lo", "lt", "lu", "lv", "mg", "mh", "mi", "mk", "ml",
    "mn", "mr", "ms", "mt", "my", "na", "nb", "nd", "ne", "ng", "nl", "nn", "no", "nr", "nv",
    "ny", "oc", "oj", "om", "or", "os", "pa", "pi", "pl", "ps", "pt", "qu", "rm", "rn", "ro",
    "ru", "rw", "sa", "sc", "sd", "se", "sg", "si", "sk", "sl", "sm", "sn", "so", "sq", "sr",
    "ss", "st", "su", "sv", "sw", "ta", "te", "tg", "th", "ti", "tk", "tl", "tn", "to", "tr",
    "ts", "tt", "tw", "ty", "ug", "uk", "ur", "uz", "ve", "vi", "vo", "wa", "wo", "xh", "yi",
    "yo", "za", "zh", "zu",
))
# fmt: on
_OLD_CODES = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv"}
# fmt: off
_THREE = {
    "fil": "tl", "ger": "de", "deu": "de", "eng": "en", "fra": "fr", "fre": "fr", "spa": "es",
    "swe": "sv", "ita": "it", "por": "pt", "rus": "ru", "zho": "zh", "chi": "zh", "jpn": "ja",
    "ara": "ar", "nld": "nl", "dut": "nl", "pol": "pl", "tur": "tr",
}
# fmt: on

# fmt: off
_STOPLISTS = {
    "Latin": {
        "Afrikaans": "af", "Albanian": "sq", "Azerbaijani": "az", "Basque": "eu", "Bosnian": "bs",
        "Catalan": "ca", "Croatian": "hr", "Czech": "cs", "Danish": "da", "Dutch": "nl",
        "English": "en", "Estonian": "et", "Finnish": "fi", "French": "fr", "Galician": "gl",
        "German": "de", "Hungarian": "hu", "Icelandic": "is", "Indonesian": "id", "Irish": "ga",
        "Italian": "it", "Kurdish": "ku", "Latvian": "lv", "Lithuanian": "lt",
        "Luxembourgish": "lb", "Malay": "ms", "Maltese": "mt", "Norwegian_Bokmal": "no",
        "Norwegian_Nynorsk": "nn", "Polish": "pl", "Portuguese": "pt", "Romanian": "ro",
        "Slovak": "sk", "Slovenian": "sl", "Spanish": "es", "Swahili": "sw", "Swedish": "sv",
        "Tagalog": "tl", "Turkish": "tr", "Uzbek": "uz", "Vietnamese": "vi", "Welsh": "cy",
        "West_Frisian": "fy", "Yoruba": "yo", "Javanese": "jv", "Sundanese": "su",
    },
    "Cyrillic": {
        "Russian": "ru", "Ukrainian": "uk", "Bulgarian": "bg", "Serbian": "sr",
        "Macedonian": "mk", "Belarusian": "be", "Kazakh": "kk", "Kyrgyz": "ky",
    },
    "Arabic": {
        "Arabic": "ar", "Persian": "fa", "Urdu": "ur",
    },
    "Devanagari": {
        "Hindi": "hi", "Marathi": "mr", "Nepali": "ne",
    },
}
# fmt: on
# Languages so close that stop words cannot overrule a declaration between them.
# fmt: off
_RELATIVES = [
    {"nb", "nn", "no", "sv", "da"}, {"sr", "sl", "bs", "hr"}, {"su", "id", "ms", "jv"},
    {"gl", "pt", "ca", "es"}, {"cs", "sk"}, {"uk", "mk", "be", "bg", "ru"}, {"ur", "fa", "ar"},
    {"ne", "mr", "hi"}, {"nl", "af", "fy"}, {"lb", "de"}, {"tr", "ku", "az"},
]
# fmt: on
# fmt: off
_SINGLE_SCRIPT = {
    "Greek": "el", "Armenian": "hy", "Hebrew": "he", "Bengali": "bn", "Gurmukhi": "pa",
    "Gujarati": "gu", "Oriya": "or", "Tamil": "ta", "Telugu": "te", "Kannada": "kn",
    "Malayalam": "ml", "Sinhala": "si", "Thai": "th", "Lao": "lo", "Tibetan": "bo",
    "Myanmar": "my", "Georgian": "ka", "Hangul": "ko", "Ethiopic": "am", "Khmer": "km",
}
# fmt: on
_SCRIPT_OF_LANGUAGE = {code: script for script, code in _SINGLE_SCRIPT.items()} | {
    code: script
    for script, codes in (
        ("Kana", "ja"),
        ("Han", "zh"),
        ("Cyrillic", "ru uk bg mk be kk ky mn sr"),
        ("Arabic", "ar fa ur ps"),
        ("Devanagari", "hi mr ne"),
        ("Hebrew", "yi"),
    )
    for code in codes.split(" ")
}
# fmt: off
_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0041, 0x024F, "Latin"), (0x1E00, 0x1EFF, "Latin"), (0x0370, 0x03FF, "Greek"),
    (0x0400, 0x052F, "Cyrillic"), (0x0530, 0x058F, "Armenian"), (0x0590, 0x05FF, "Hebrew"),
    (0x0600, 0x06FF, "Arabic"), (0x0750, 0x077F, "Arabic"), (0x0900, 0x097F, "Devanagari"),
    (0x0980, 0x09FF, "Bengali"), (0x0A00, 0x0A7F, "Gurmukhi"), (0x0A80, 0x0AFF, "Gujarati"),
    (0x0B00, 0x0B7F, "Oriya"), (0x0B80, 0x0BFF, "Tamil"), (0x0C00, 0x0C7F, "Telugu"),
    (0x0C80, 0x0CFF, "Kannada"), (0x0D00, 0x0D7F, "Malayalam"), (0x0D80, 0x0DFF, "Sinhala"),
    (0x0E00, 0x0E7F, "Thai"), (0x0E80, 0x0EFF, "Lao"), (0x0F00, 0x0FFF, "Tibetan"),
    (0x1000, 0x109F, "Myanmar"), (0x10A0, 0x10FF, "Georgian"), (0x1100, 0x11FF, "Hangul"),
    (0x1200, 0x137F, "Ethiopic"), (0x1780, 0x17FF, "Khmer"), (0x3040, 0x30FF, "Kana"),
    (0x3130, 0x318F, "Hangul"), (0x31F0, 0x31FF, "Kana"), (0x3400, 0x4DBF, "Han"),
    (0x4E00, 0x9FFF, "Han"), (0xAC00, 0xD7AF, "Hangul"), (0xF900, 0xFAFF, "Han"),
    (0xFB50, 0xFDFF, "Arabic"), (0xFE70, 0xFEFF, "Arabic"), (0xFF66, 0xFF9F, "Kana"),
)
# fmt: on
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_SAMPLE = 12000
_MAX_TOKENS = 2000
# Share of a text's words that a known language's stop words cover: 30 % and more on
# every page of the development corpus in a listed language, under 20 % on pages in
# languages without a list. Below this (in at least _COVERAGE_WORDS words), the
# language is one the detector does not know.
_MIN_COVERAGE = 0.24
_COVERAGE_WORDS = 100


@dataclass(frozen=True, slots=True)
class Declared:
    code: str  # ISO 639-1
    region: str | None
    source: str
    raw: str


@dataclass(frozen=True, slots=True)
class Detection:
    code: str | None
    script: str | None
    confidence: float  # how sure the detector is, 0..1
    detail: str  # human summary: script shares, top scores
    scores: dict[str, float]
    unrecognised: bool = False  # enough text, in a language none of the lists knows


def parse_tag(raw: str | None) -> tuple[str, str | None] | None:
    """``en-US``/``en_us``/``zh-Hant-TW``/``fil`` -> (ISO 639-1, region); None if not a language."""
    if not raw:
        return None
    parts = re.split(r"[-_]", raw.strip().split(",")[0].split(";")[0].strip())
    primary = parts[0].lower()
    primary = _OLD_CODES.get(primary, _THREE.get(primary, primary))
    if primary not in ISO_639_1:
        return None
    region = next((p.upper() for p in parts[1:] if len(p) == 2 and p.isalpha()), None)
    return primary, region


_STARTS = [lo for lo, _, _ in sorted(_RANGES)]
_SORTED = sorted(_RANGES)


def script_of(char: str) -> str | None:
    cp = ord(char)
    at = bisect_right(_STARTS, cp) - 1
    if at >= 0:
        lo, hi, name = _SORTED[at]
        if lo <= cp <= hi:
            return name
    return None


_BULK = (  # the common scripts are counted by the regex engine, the rest char by char
    ("Latin", re.compile(r"[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]+")),
    ("Cyrillic", re.compile(r"[\u0400-\u052f]+")),
    ("Arabic", re.compile(r"[\u0600-\u06ff\u0750-\u077f]+")),
    ("Han", re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]+")),
    ("Kana", re.compile(r"[\u3040-\u30ff]+")),
    ("Hangul", re.compile(r"[\uac00-\ud7af]+")),
)
_REST = re.compile(
    r"[^\x00-\u024f\u0400-\u052f\u0600-\u06ff\u0750-\u077f\u1e00-\u1eff\u3040-\u30ff"
    r"\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+"
)


# Everything outside ASCII, Latin-1 and the Latin extensions: the only place letters of
# the other scripts can be.
_BEYOND_LATIN = re.compile(r"[^\x00-\u024f\u1e00-\u1eff]+")


def script_counts(text: str) -> dict[str, int]:
    """Letters per writing system.

    Latin letters are counted over the whole text; the other scripts only over its
    characters beyond the Latin ranges, joined (the same letters in the same order):
    on a Latin page that is a few quotation marks, not six more scans of the text."""
    counts: dict[str, int] = {}
    beyond = "".join(_BEYOND_LATIN.findall(text))
    for name, pattern in _BULK:
        # runs, not single letters: a tenth of the matches for the same count
        n = sum(map(len, pattern.findall(text if name == "Latin" else beyond)))
        if n:
            counts[name] = n
    for chunk in _REST.findall(beyond):
        for ch in chunk:
            if ch.isalpha():
                found = script_of(ch)
                if found is not None:
                    counts[found] = counts.get(found, 0) + 1
    return counts


@cache
def _script_words(script: str) -> re.Pattern[str]:
    """Words that start with a letter of ``script``."""
    ranges = "".join(f"\\u{lo:04x}-\\u{hi:04x}" for lo, hi, name in _RANGES if name == script)
    if script == "Latin":
        ranges = "a-zA-Z\\u00c0-\\u00d6\\u00d8-\\u00f6\\u00f8-\\u024f\\u1e00-\\u1eff"
    return re.compile(rf"(?<![^\W\d_])[{ranges}][^\W\d_]*(?:['’][^\W\d_]+)?")


@cache
def _index(script: str) -> dict[str, tuple[str, ...]]:
    """word -> languages (of that script) whose stop-word list has it."""
    import justext

    index: dict[str, set[str]] = {}
    for name, code in _STOPLISTS[script].items():
        for word in justext.get_stoplist(name):
            for token in _WORD.findall(word.lower()):
                if script_of(token[0]) == script:
                    index.setdefault(token, set()).add(code)
    return {word: tuple(sorted(codes)) for word, codes in index.items()}


def detect(text: str) -> Detection:
    sample = text[:_SAMPLE]
    counts = script_counts(sample)
    # ideographic scripts carry about a word per character; weigh them up against Latin
    weighted = {s: n * (3 if s in ("Han", "Kana", "Hangul") else 1) for s, n in counts.items()}
    total = sum(weighted.values())
    if total < 20:
        return Detection(None, None, 0.0, f"too little text ({total} letters)", {})
    script = max(weighted, key=lambda s: weighted[s])
    share = weighted[script] / total
    shares = ", ".join(
        f"{s} {n / total:.0%}" for s, n in sorted(weighted.items(), key=lambda i: -i[1])[:3]
    )
    if script in ("Han", "Kana"):
        kana = counts.get("Kana", 0)
        han = counts.get("Han", 0)
        code = "ja" if kana >= 0.05 * (kana + han) else "zh"
        return Detection(
            code, script, min(0.99, share), f"scripts: {shares}; kana {kana}, han {han}", {}
        )
    if script in _SINGLE_SCRIPT:
        return Detection(_SINGLE_SCRIPT[script], script, min(0.99, share), f"scripts: {shares}", {})
    if script not in _STOPLISTS:
        return Detection(None, script, 0.0, f"scripts: {shares}; no detector for {script}", {})
    index = _index(script)
    tokens = _script_words(script).findall(sample.lower())[:_MAX_TOKENS]
    scores: dict[str, float] = {}
    hits = 0
    for token, count in Counter(tokens).items():
        langs = index.get(token)
        if langs:
            hits += count
            weight = count / len(langs)
            for code in langs:
                scores[code] = scores.get(code, 0.0) + weight
    if not scores or hits < 5:
        return Detection(
            None, script, 0.0, f"scripts: {shares}; {hits} stop words in {len(tokens)} words", {}
        )
    if len(tokens) >= _COVERAGE_WORDS and hits < _MIN_COVERAGE * len(tokens):
        return Detection(
            None,
            script,
            0.0,
            f"scripts: {shares}; stop words of known languages are only {hits} of "
            f"{len(tokens)} words: a language the detector does not know",
            {},
            unrecognised=True,
        )
    ranked = sorted(scores.items(), key=lambda i: -i[1])
    best, top = ranked[0]
    second = ranked[1][1] if len(ranked) > 1 else 0.0
    margin = 1.0 - second / top
    confidence = min(
        0.99, share * (0.5 + 0.5 * margin) * min(1.0, hits / 40) + (0.3 if margin > 0.5 else 0.0)
    )
    top3 = ", ".join(f"{c} {s:.1f}" for c, s in ranked[:3])
    detail = f"scripts: {shares}; stop-word scores {top3} ({hits} hits in {len(tokens)} words)"
    return Detection(best, script, round(min(confidence, 0.99), 3), detail, dict(ranked[:8]))


def related(a: str, b: str) -> bool:
    return a == b or any(a in group and b in group for group in _RELATIVES)


def overrules(detection: Detection, declared: str) -> bool:
    """Does the text clearly contradict the declared language?"""
    if detection.code is None or related(detection.code, declared):
        return False
    expected_script = _SCRIPT_OF_LANGUAGE.get(declared, "Latin")
    if detection.script != expected_script:
        return detection.confidence >= 0.6
    declared_score = detection.scores.get(declared, 0.0)
    top = detection.scores.get(detection.code, 0.0)
    return detection.confidence >= 0.5 and declared_score < 0.3 * top
