"""Every record we emit validates against its JSON Schema in schemas/."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from archive.core.packagedata import load_schema, schema_names


def _validator(name: str) -> Draft202012Validator:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@pytest.mark.parametrize("name", schema_names())
def test_every_schema_is_valid_2020_12(name: str) -> None:
    _validator(name)


def test_emitted_manifests_provenance_and_events_validate(arc, http_server, tmp_path) -> None:
    doc = tmp_path / "note.txt"
    doc.write_text("A note.\n")
    arc.ingest([doc])
    arc.capture([http_server.url("/chain/1"), http_server.url("/status/404")])
    arc.capture([http_server.url("/chain/1")])  # a revisit
    manifests = _validator("capture-manifest.schema.json")
    provenance = _validator("capture-provenance.schema.json")
    events = _validator("custody-event.schema.json")
    shown = [s for c in arc.list_captures() for s in arc.show(c.capture_id)]
    assert {s.status for s in shown} == {"complete", "http-error", "revisit"}
    for s in shown:
        assert list(manifests.iter_errors(s.manifest)) == []
        assert list(provenance.iter_errors(s.provenance)) == []
        for e in s.events:
            entry = {k: v for k, v in e.to_json().items() if k != "hash"}
            assert list(events.iter_errors(entry)) == []


def test_a_bad_manifest_reports_every_error(arc) -> None:
    errors = list(_validator("capture-manifest.schema.json").iter_errors(
        {"type": "x", "version": 2, "records": []}))
    assert len(errors) >= 3
