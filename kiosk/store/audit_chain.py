"""The audit log's hash chain: each event's hash covers the previous hash and the event itself, so
a removed, inserted or edited record breaks the chain at that point. The chain alone cannot tell
that its last records were removed, so a head (how many events, the last hash, the chain's anchor)
is kept beside it under an HMAC whose key derives from the template secret, which lives in the key
file, never in the database: someone holding only the database key can rewrite records, but not
the head that vouches for them.

The chain covers the event's subject (a keyed pseudonym of the person), never the person's id:
a hard delete replaces the id in `person_ref` with that same pseudonym and the chain still holds.
"""

import hashlib
import hmac
import json
from dataclasses import dataclass

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


@dataclass(frozen=True)
class AuditHead:
    events: int
    last_hash: str
    anchor: str

    def signed(self, key: bytes) -> str:
        return json.dumps({"events": self.events, "last_hash": self.last_hash, "anchor": self.anchor,
                           "mac": self._mac(key)}, sort_keys=True)

    def _mac(self, key: bytes) -> str:
        return hmac.new(key, f"{self.events}|{self.last_hash}|{self.anchor}".encode(), hashlib.sha256).hexdigest()

    @classmethod
    def read(cls, text: str, key: bytes) -> "AuditHead | None":
        """The head if its MAC holds under `key`; None if it was written without the key."""
        try:
            data = json.loads(text)
            head = cls(int(data["events"]), str(data["last_hash"]), str(data["anchor"]))
            mac = str(data["mac"])
        except (ValueError, KeyError, TypeError):
            return None
        return head if hmac.compare_digest(head._mac(key), mac) else None


def audit_key(template_secret: bytes) -> bytes:
    return hmac.new(template_secret, b"facegate audit head", hashlib.sha256).digest()


def head_mismatch(head: AuditHead, events: int, last: tuple[int, str, str, str] | None, anchor: str) -> str | None:
    """Why the log's end disagrees with its signed head (`last` = id, at, kind, hash of the last row)."""
    if head.anchor != anchor:
        return "the chain's anchor was moved without the key (records removed from its start)"
    if events < head.events:
        where = f"after event {last[0]} ({last[1]}, {last[2]})" if last else "from the start"
        return (f"the log ends {where}, but its head vouches for {head.events} events: "
                f"the last {head.events - events} removed")
    if events > head.events or (last[3] if last else anchor) != head.last_hash:
        return f"the log holds {events} events where its head vouches for {head.events}: records added without the key"
    return None
