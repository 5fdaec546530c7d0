"""The audit log's hash chain: each event's hash covers the previous hash and the event itself, so
a removed, inserted or edited record breaks the chain at that point.

The chain covers the event's subject (a keyed pseudonym of the person), never the person's id:
a hard delete replaces the id in `person_ref` with that same pseudonym and the chain still holds.
"""

import hashlib
import json

GENESIS = "0" * 64


def event_hash(prev_hash: str, at: str, kind: str, subject: str | None, detail: str) -> str:
    canonical = json.dumps([prev_hash, at, kind, subject, detail], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def first_broken_link(rows, anchor: str) -> str | None:
    """Rows are (id, at, kind, subject, detail, prev_hash, hash) in id order; None if the chain holds."""
    expected_prev = anchor
    for event_id, at, kind, subject, detail, prev_hash, stored in rows:
        if prev_hash != expected_prev:
            return f"event {event_id} ({at}, {kind}): does not follow the previous record (a record was removed or inserted)"
        if event_hash(prev_hash, at, kind, subject, detail) != stored:
            return f"event {event_id} ({at}, {kind}): its content was changed after it was written"
        expected_prev = stored
    return None
