"""The fixity audit classifies damage and records an event per object (FAULTS 21)."""

from __future__ import annotations

from pathlib import Path

from archive.ledger.custody import events_for


def _ingest(arc, tmp_path: Path, name: str) -> object:
    p = tmp_path / name
    p.write_text(f"document {name}\n" * 50)
    return arc.ingest([p])[0]


def test_audit_classifies_changed_missing_and_untracked(arc, tmp_path: Path) -> None:
    a, b, c = (_ingest(arc, tmp_path, n) for n in ("a.txt", "b.txt", "c.txt"))
    arc.checkpoint()
    first = arc.fixity()
    assert first.ok == 3 and first.failures == []
    arc.checkpoint()
    pa = Path(a.warc_path)
    data = bytearray(pa.read_bytes())
    data[len(data) // 2] ^= 0x10  # a flipped bit
    pa.write_bytes(bytes(data))
    Path(b.warc_path).unlink()  # a deleted file
    Path(c.warc_path).with_name("stray.warc.gz").write_bytes(b"stray")  # a stray file
    report = arc.fixity()
    states = {r["path"].rsplit("/", 1)[-1]: r["state"] for r in report.failures}
    assert states == {Path(a.warc_path).name: "changed", Path(b.warc_path).name: "missing",
                      "stray.warc.gz": "untracked"}
    changed = next(r for r in report.failures if r["state"] == "changed")
    good = changed["last_good_checkpoint"]
    assert good["checkpoint"] == 2  # the checkpoint signed after the last good audit
    with arc.engine.connect() as conn:
        evs = [e for e in events_for(conn, a.capture_id) if e.type == "fixity check"]
    assert [e.outcome for e in evs] == ["success", "failure"]
    assert evs[-1].detail["state"] == "changed"
