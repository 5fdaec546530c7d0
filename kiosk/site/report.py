"""What the site knows of its doors, read from PostgreSQL: each kiosk's state and how far its
replica lags, its events and whether its audit chain still holds, and attendance over every door."""

from dataclasses import dataclass
from datetime import datetime, timezone

from kiosk.site.database import SiteConnection, scalar
from kiosk.site.signing import FORGED_REASON
from kiosk.store.audit_chain import GENESIS, first_broken_link
from kiosk.store.records import AttendanceRecord


@dataclass(frozen=True)
class KioskState:
    kiosk_id: str
    door: str | None
    online: bool
    last_seen: datetime
    revision: int | None
    lag: int | None  # site revisions the replica has not applied yet (as of its last report)
    queued: int | None
    events: int
    chain: str | None  # None: the chain holds; else where it breaks
    trusted: bool      # an administrator entered the door's public key: its records are verified
    unsigned: int      # records stored without a verified signature (before its key was trusted)
    forged: int        # records set aside because they do not verify under the door's key
    set_aside: int     # every record set aside (forged, malformed, refused)


def chain_break(connection: SiteConnection, kiosk_id: str) -> str | None:
    """Check each of the kiosk's stores' chains over the records the site received: a record removed,
    inserted or changed on the way, or missing, breaks it (the chain's own rule, as `audit verify`)."""
    stores = [row[0] for row in connection.execute(
        "SELECT DISTINCT store_id FROM kiosk_events WHERE kiosk_id = %s", (kiosk_id,))]
    for store_id in stores:
        rows = connection.execute(
            "SELECT seq, at, kind, subject, detail, prev_hash, hash FROM kiosk_events WHERE kiosk_id = %s AND "
            "store_id = %s ORDER BY seq", (kiosk_id, store_id)).fetchall()
        anchor = GENESIS if rows[0][0] == 1 else rows[0][5]
        broken = first_broken_link(rows, anchor)
        if broken:
            return f"store {store_id[:8]}: {broken}"
    return None


def kiosk_states(connection: SiteConnection) -> tuple[int, list[KioskState]]:
    """The site's revision, and every kiosk that ever reported."""
    revision = scalar(connection, "SELECT revision FROM site_state WHERE id = 1")
    rows = connection.execute(
        "SELECT k.kiosk_id, k.door, k.online, k.last_seen, k.revision, k.queued, "
        "(SELECT count(*) FROM kiosk_events e WHERE e.kiosk_id = k.kiosk_id), "
        "EXISTS (SELECT 1 FROM door_keys d WHERE d.kiosk_id = k.kiosk_id), "
        "(SELECT count(*) FROM kiosk_events e WHERE e.kiosk_id = k.kiosk_id AND NOT e.signed) + "
        "(SELECT count(*) FROM kiosk_attendance a WHERE a.kiosk_id = k.kiosk_id AND NOT a.signed), "
        "(SELECT count(*) FROM dead_letters l WHERE l.kiosk_id = k.kiosk_id AND l.reason LIKE %s), "
        "(SELECT count(*) FROM dead_letters l WHERE l.kiosk_id = k.kiosk_id) "
        "FROM kiosks k ORDER BY k.kiosk_id", (f"{FORGED_REASON}%",)).fetchall()
    states = [KioskState(r[0], r[1], r[2], r[3], r[4], None if r[4] is None else max(0, revision - r[4]), r[5], r[6],
                         chain_break(connection, r[0]), r[7], r[8], r[9], r[10]) for r in rows]
    return revision, states


def site_attendance(connection: SiteConnection, start: datetime, end: datetime) -> list[AttendanceRecord]:
    """Every door's records, oldest first; `end` exclusive; a deleted person's name is gone."""
    rows = connection.execute(
        "SELECT a.person_ref, p.display_name, a.at, a.direction, a.door FROM kiosk_attendance a "
        "LEFT JOIN people p ON p.id = a.person_ref WHERE a.at >= %s AND a.at < %s ORDER BY a.at, a.event_id",
        (_utc(start), _utc(end)))
    return [AttendanceRecord(r[0], r[1], datetime.fromisoformat(r[2]), r[3], r[4]) for r in rows]


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")
