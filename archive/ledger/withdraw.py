"""Withdrawing captures: a ``deletion`` event (the tombstone) naming each capture, who
withdrew it and why, appended to the custody log in one transaction.

The bytes stay where they are (never removed silently) and keep verifying; withdrawn
is from then on a fact of the custody log (:func:`archive.ledger.custody.withdrawals`).
"""

from __future__ import annotations

from sqlalchemy import Engine

from archive.errors import ConfigError
from archive.ledger.custody import DELETION, Agent, CustodyLog, NewEvent, withdrawal_of
from archive.ledger.db import run_write
from archive.ledger.queries import ListedCapture, listed, resolve


def withdraw(engine: Engine, log: CustodyLog, hash_or_prefix: str, *, reason: str,
             agent: Agent) -> list[ListedCapture]:
    """Withdraw every capture ``hash_or_prefix`` names; each as it is now (withdrawn by
    the event just appended). A reason of fewer than three characters is refused
    before anything is looked up."""
    if len(reason.strip()) < 3:
        raise ConfigError("a deletion needs a reason (at least a few words)")
    found = resolve(engine, hash_or_prefix)
    new = [NewEvent(DELETION, [c.capture_id] + ([c.content_hash] if c.content_hash else []),
                    "success", {"reason": reason, "url": c.url, "tombstone": True,
                                "bytes_kept": True}) for c in found]
    stored = run_write(engine, lambda conn: log.append(conn, new, agent))
    return [listed(c, withdrawal_of(ev, c.capture_id)) for c, ev in zip(found, stored, strict=True)]


__all__ = ["withdraw"]
