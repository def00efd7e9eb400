"""The record's JSON form and its schema: every record validates; every error is listed."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest
from helpers import SHARED, missing_path, require
from jsonschema import Draft202012Validator

from archive.errors import MetadataError
from archive.metadata import (
    EXTRACTOR_NAME,
    EXTRACTOR_VERSION,
    FIELD_NAMES,
    SCHEMA_NAME,
    Evidence,
    Field,
    extract,
    load_schema,
    validate,
)

DATA = Path(__file__).parent / "data" / "metadata"
CORPUS = SHARED / "corpus" / "html"


def _valid_doc() -> dict[str, Any]:
    return extract((DATA / "jsonld_article.html").read_bytes(), url="https://a.example/x").to_json()


def test_schema_file_is_valid_2020_12() -> None:
    assert SCHEMA_NAME == "article-metadata.schema.json"
    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_record_shape() -> None:
    doc = _valid_doc()
    assert doc["extractor"] == EXTRACTOR_NAME and doc["extractor_version"] == EXTRACTOR_VERSION
    for name in FIELD_NAMES:
        assert set(doc[name]) >= {"value", "evidence", "confidence"}
        for item in doc[name]["evidence"]:
            assert set(item) == {"source", "raw", "extractor"}
            assert "/" in item["extractor"]
    assert isinstance(doc["authors"]["value"], list)


def test_every_error_is_reported_at_once() -> None:
    doc = _valid_doc()
    bad = copy.deepcopy(doc)
    bad["published"]["value"] = "2016-02-30"  # not a calendar date
    bad["title"]["confidence"] = 1.5
    bad["outlet"]["evidence"] = [{"source": "x"}]  # raw and extractor missing
    bad["language"] = {"value": None, "evidence": [], "confidence": 0.4}  # unknown with confidence
    del bad["extractor_version"]
    bad["surprise"] = True
    with pytest.raises(MetadataError) as info:
        validate(bad)
    errors = info.value.errors
    joined = "\n".join(errors)
    for expected in (
        "published.value",
        "title.confidence",
        "outlet.evidence[0]",
        "language.confidence",
        "extractor_version",
        "surprise",
    ):
        assert expected in joined, joined
    assert len(errors) >= 6
    assert str(len(errors)) in str(info.value)
    assert isinstance(info.value, ValueError)  # MetadataError is a ValueError, like packaging's


def test_not_applicable_records_must_be_empty_and_say_why() -> None:
    doc = extract(b"%PDF-1.4").to_json()
    validate(doc)
    doc["title"] = {
        "value": "x",
        "evidence": [{"source": "s", "raw": "x", "extractor": "a/1"}],
        "confidence": 0.5,
    }
    doc["reason"] = None
    with pytest.raises(MetadataError) as info:
        validate(doc)
    assert len(info.value.errors) >= 2


def test_field_invariants() -> None:
    with pytest.raises(ValueError, match="confidence 0"):
        Field(None, (), 0.5)
    with pytest.raises(ValueError, match="outside"):
        Field("x", (Evidence("s", "x"),), 1.5)


def test_store_note_is_allowed() -> None:
    doc = _valid_doc()
    doc["payload_problem"] = "content-encoding gzip: truncated stream"
    validate(doc)


def test_corpus_sample_validates() -> None:
    """Every record the development corpus produces validates (a sample of ~60 pages)."""
    require(missing_path(CORPUS, "development corpus"))
    pages = sorted(CORPUS.glob("*/*.html"))
    assert pages
    sample = random.Random(4).sample(pages, min(60, len(pages)))
    problems = {}
    for page in sample:
        try:
            validate(extract(page.read_bytes(), content_type="text/html").to_json())
        except MetadataError as exc:
            problems[page.name] = exc.errors
    assert problems == {}
