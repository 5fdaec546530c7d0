"""GalleryStore: people, protected templates, consent, events and attendance in one SQLCipher file.

Every multi-row change runs in one transaction; a hard delete removes a person's templates and
consent, pseudonymises their events, and leaves no freed page behind (secure_delete + VACUUM).
"""

import contextlib
import hmac
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import sqlcipher3

from kiosk.errors import CardTakenError, PinTakenError, SecretsError, StoreError
from kiosk.faults import crash_point
from kiosk.store.audit_chain import GENESIS, AuditHead, audit_key, event_hash, first_broken_link, head_mismatch
from kiosk.store.database import Connection, DatabaseError, open_database, transaction, write_key_check
from kiosk.store.derived import PSEUDONYM_PREFIX, pseudonym, pseudonym_key, secret_check
from kiosk.store.keys import KioskSecrets
from kiosk.store.records import AttendanceRecord, Consent, Event, Person, Schedule, TemplateSet
from kiosk.store.schema import SCHEMA_VERSION
from kiosk.store.seal import TemplateSeal, sealed_updates

# What damage to the file shows as: a page failing its HMAC, SQLite's own structure check
_DAMAGE_CHECKS = (("page authentication", "PRAGMA cipher_integrity_check", lambda r: True),
                  ("integrity", "PRAGMA integrity_check", lambda r: r[0] != "ok"))
_PERSON_COLUMNS = "id, display_name, role, enabled, valid_from, valid_until, doors, photo_digest, schedule, card, pin_digest"


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _utc_text(moment: datetime) -> str:
    """Stored times are UTC ISO text, so that they sort and compare as text."""
    if moment.tzinfo is None:
        raise StoreError(f"{moment}: a time without a time zone cannot be stored")
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


@dataclass(frozen=True)
class GalleryMatrix:
    """All templates as one matrix for 1:N matching, with the person of each row."""

    person_ids: np.ndarray
    templates: np.ndarray
    secret_version: int | None


@dataclass(frozen=True)
class Deletion:
    """What a hard delete did: true when the person was there."""

    deleted: bool
    scrubbed: bool  # the write-ahead log was emptied too (no other process's read held it back)

    def __bool__(self) -> bool:
        return self.deleted


class GalleryStore:
    """The only code that reads or writes the encrypted store."""

    def __init__(self, connection: Connection, path: Path, secrets: KioskSecrets):
        self._db = connection
        self.path = path
        self._pseudonym_key = pseudonym_key(secrets.template_secret)
        self._audit_key = audit_key(secrets.template_secret)
        self._seal = TemplateSeal(secrets.template_secret, secrets.template_secret_version)

    @classmethod
    def open(cls, path: Path, secrets: KioskSecrets, create: bool = False) -> "GalleryStore":
        new = create and (not path.exists() or path.stat().st_size == 0)
        try:
            connection = open_database(path, secrets.database_key, secrets.previous_database_key, create)
        except DatabaseError as exc:
            raise StoreError(f"{path}: cannot be opened as a store ({exc})") from None
        store = cls(connection, path, secrets)
        store._check_template_secret(secrets)
        store._seal_unsealed()
        if new:
            store.start_audit_head("store created")
        return store

    def renew_templates(self, renew, secrets: KioskSecrets) -> int:
        """Move every template into the space of a new template secret, in one transaction:
        `renew` maps an (N, D) block of old templates to new ones; no clean embedding is involved."""
        rows = self._db.execute("SELECT id, template, dim, salt FROM templates ORDER BY id").fetchall()
        successor = TemplateSeal(secrets.template_secret, secrets.template_secret_version)
        with self.transaction():
            if rows:
                old = self._seal.unseal(np.stack([np.frombuffer(row[1], dtype=np.float32, count=row[2])
                                                  for row in rows]), [row[3] for row in rows])
                salts = TemplateSeal.new_salts(len(rows))
                new = successor.seal(np.ascontiguousarray(renew(old), dtype=np.float32), salts)
                self._db.executemany("UPDATE templates SET template = ?, salt = ?, secret_version = ? WHERE id = ?",
                                     [(vector.tobytes(), salt, secrets.template_secret_version, row[0])
                                      for vector, salt, row in zip(new, salts, rows)])
            self._seal = successor
            self.set_meta("template_secret_check", secret_check(secrets.template_secret))
            self.log_event("template_secret_rotated", None, version=secrets.template_secret_version, templates=len(rows))
            head = self._signed_head()  # vouched for by the old secret, then by the new one, unchanged
            self._audit_key = audit_key(secrets.template_secret)
            if head is not None:
                self._write_head(head)
        return len(rows)

    def _seal_unsealed(self) -> None:
        """Templates written before each had a seal of its own are sealed in place, once, in one
        transaction (no re-enrollment: the seal needs the stored template and the secret only)."""
        rows = self._db.execute("SELECT id, template, dim FROM templates WHERE salt IS NULL ORDER BY id").fetchall()
        if not rows:
            return
        with self.transaction():
            self._db.executemany("UPDATE templates SET template = ?, salt = ? WHERE id = ? AND salt IS NULL",
                                 sealed_updates(self._seal, rows))
            self.log_event("templates_sealed", None, templates=len(rows))

    def _check_template_secret(self, secrets: KioskSecrets) -> None:
        """Templates are only usable with the secret that protected them: a store remembers a check
        value of its template secret (never the secret) and refuses another one."""
        check = secret_check(secrets.template_secret)
        row = self._db.execute("SELECT value FROM meta WHERE key = 'template_secret_check'").fetchone()
        if row is None:
            with self.transaction():
                self._db.execute("INSERT INTO meta (key, value) VALUES ('template_secret_check', ?)", (check,))
        elif not hmac.compare_digest(row[0], check):
            raise SecretsError(f"{self.path}: the template secret is not the one this store's templates were "
                               f"protected with; restore the right key set (after an interrupted rotate-secret, "
                               f"run it again: it finishes with the *.pending.json file beside the key file)")
        versions = sorted(r[0] for r in self._db.execute("SELECT DISTINCT secret_version FROM templates"))
        if versions and versions != [secrets.template_secret_version]:
            raise SecretsError(f"{self.path}: the key set says template_secret_version "
                               f"{secrets.template_secret_version}, the templates were protected under version "
                               f"{', '.join(map(str, versions))}; correct template_secret_version in the key file")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "GalleryStore":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self, wait_s: float | None = None) -> Iterator[None]:
        """One write transaction; StoreBusyError if another process holds the lock past `wait_s`
        (default: the 5 s busy timeout)."""
        with transaction(self._db, wait_s):
            yield

    # people ---------------------------------------------------------------------------------
    def upsert_person(self, person: Person) -> None:
        try:
            self._upsert(person)
        except sqlcipher3.dbapi2.IntegrityError as exc:
            if "people.card" not in str(exc):
                raise
            raise CardTakenError(f"{person.id}: card {person.card} is already another person's; nothing was "
                                 f"changed") from None

    def _upsert(self, person: Person) -> None:
        stamp = now_utc()
        self._db.execute(
            """INSERT INTO people (id, display_name, role, enabled, valid_from, valid_until, doors, schedule,
                                   photo_digest, card, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(id) DO UPDATE SET display_name = excluded.display_name, role = excluded.role,
                   enabled = excluded.enabled, valid_from = excluded.valid_from, valid_until = excluded.valid_until,
                   doors = excluded.doors, schedule = excluded.schedule, photo_digest = excluded.photo_digest,
                   card = excluded.card, updated_at = excluded.updated_at""",
            (person.id, person.display_name, person.role, int(person.enabled),
             person.valid_from.isoformat() if person.valid_from else None,
             person.valid_until.isoformat() if person.valid_until else None,
             json.dumps(list(person.doors)), json.dumps(person.schedule.to_json()) if person.schedule else None,
             person.photo_digest, person.card, stamp, stamp),
        )

    def set_person_pin(self, person_id: str, digest: str | None) -> None:
        """A person's PIN (its keyed digest), kept apart from what a gallery file sets: an apply never
        clears it. PinTakenError if another person has that PIN."""
        try:
            self._db.execute("UPDATE people SET pin_digest = ? WHERE id = ?", (digest, person_id))
        except sqlcipher3.dbapi2.IntegrityError:
            raise PinTakenError("another person has this PIN: choose another") from None

    def get_person(self, person_id: str) -> Person | None:
        row = self._db.execute(
            f"SELECT {_PERSON_COLUMNS} FROM people WHERE id = ?",
            (person_id,)).fetchone()
        return self._person(row) if row else None

    def list_people(self) -> list[Person]:
        rows = self._db.execute(
            f"SELECT {_PERSON_COLUMNS} FROM people ORDER BY id")
        return [self._person(row) for row in rows]

    @staticmethod
    def _person(row) -> Person:
        schedule = Schedule.from_json(json.loads(row[8])) if row[8] else None
        return Person(row[0], row[1], row[2], bool(row[3]), _date(row[4]), _date(row[5]), tuple(json.loads(row[6])),
                      row[7], schedule, row[9], row[10])

    def template_counts(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT person_id, count(*) FROM templates GROUP BY person_id"))

    def template_origins(self) -> dict[str, tuple[str, str]]:
        """person id -> (descriptor, protector) that made their templates."""
        rows = self._db.execute("SELECT DISTINCT person_id, model_id, protector_id FROM templates ORDER BY person_id")
        return {row[0]: (row[1], row[2]) for row in rows}

    def require_templates_of(self, model_id: str, protector_id: str) -> None:
        """Templates of one descriptor mean nothing to another: refuse rather than match no one."""
        origins = self.template_origins()
        foreign = {pid: origin for pid, origin in origins.items() if origin != (model_id, protector_id)}
        if not foreign:
            return
        made_by = sorted({f"{m} / {p}" for m, p in foreign.values()})
        raise StoreError(
            f"{self.path}: {len(foreign)} of {len(origins)} people have templates made by {', '.join(made_by)}, but "
            f"this kiosk is configured for {model_id} / {protector_id}, which cannot match them (no photos are kept, "
            f"so they cannot be converted). Either keep their descriptor (models.embedder in the config) or enroll "
            f"them again: `python main.py gallery apply GALLERY.yaml` re-enrolls everyone the file lists from their "
            f"photos; `gallery list` shows each person's descriptor")

    # templates ------------------------------------------------------------------------------
    def replace_templates(self, person_id: str, templates: TemplateSet) -> None:
        """Drop the person's templates and store these (call inside a transaction)."""
        matrix = np.ascontiguousarray(templates.templates, dtype=np.float32)
        if matrix.ndim != 2 or len(matrix) == 0:
            raise StoreError(f"{person_id}: expected at least one template row, got shape {matrix.shape}")
        self._db.execute("DELETE FROM templates WHERE person_id = ?", (person_id,))
        qualities: list[float | None] = list(templates.qualities) or [None] * len(matrix)
        stamp = now_utc()
        salts = TemplateSeal.new_salts(len(matrix))
        self._db.executemany(
            """INSERT INTO templates (person_id, template, dim, model_id, protector_id, secret_version, quality,
                                      created_at, salt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [(person_id, row.tobytes(), matrix.shape[1], templates.model_id, templates.protector_id,
              templates.secret_version, quality, stamp, salt)
             for row, quality, salt in zip(self._seal.seal(matrix, salts), qualities, salts)],
        )

    def gallery_revision(self) -> int:
        """Raised by triggers on every change to people or templates, by any connection: a cheap
        read that tells a running kiosk its gallery is stale."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'gallery_revision'").fetchone()
        return int(row[0]) if row else 0

    def gallery_matrix(self, model_id: str, enabled_only: bool = True) -> GalleryMatrix:
        """Templates for one descriptor as a matrix (the matcher's input), of enabled people by default."""
        rows = self._db.execute(
            """SELECT t.person_id, t.template, t.dim, t.secret_version, t.salt FROM templates t
               JOIN people p ON p.id = t.person_id
               WHERE (p.enabled = 1 OR ? = 0) AND t.model_id = ? ORDER BY t.id""", (int(enabled_only), model_id)).fetchall()
        if not rows:
            return GalleryMatrix(np.array([], dtype=object), np.empty((0, 0), dtype=np.float32), None)
        versions = {row[3] for row in rows}
        if len(versions) > 1:
            raise StoreError(f"{self.path}: templates of several secret versions {sorted(versions)}; finish the "
                             f"renewal with `python main.py store rotate-secret`")
        sealed = np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float32).reshape(len(rows), rows[0][2])
        return GalleryMatrix(np.array([row[0] for row in rows], dtype=object),
                             self._seal.unseal(sealed, [row[4] for row in rows]), versions.pop())

    # consent, events, attendance --------------------------------------------------------------
    def add_consent(self, person_id: str, consent: Consent) -> None:
        self._db.execute(
            "INSERT INTO consents (person_id, given_by, given_at, scope, recorded_at) VALUES (?, ?, ?, ?, ?)",
            (person_id, consent.given_by, consent.given_at.isoformat(), consent.scope, now_utc()))

    def replace_consents(self, person_id: str, consents: list[Consent]) -> None:
        """The person's consent records as another gallery holds them (a site replica; inside a transaction)."""
        self._db.execute("DELETE FROM consents WHERE person_id = ?", (person_id,))
        stamp = now_utc()
        self._db.executemany(
            "INSERT INTO consents (person_id, given_by, given_at, scope, recorded_at) VALUES (?, ?, ?, ?, ?)",
            [(person_id, c.given_by, c.given_at.isoformat(), c.scope, stamp) for c in consents])

    def person_ids(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT id FROM people")}

    def consents(self, person_id: str) -> list[Consent]:
        rows = self._db.execute("SELECT given_by, given_at, scope FROM consents WHERE person_id = ? ORDER BY id",
                                (person_id,))
        return [Consent(r[0], date.fromisoformat(r[1]), r[2]) for r in rows]

    def log_event(self, kind: str, person_ref: str | None = None, **detail) -> None:
        """Append an event to the hash-chained audit log (inside the caller's transaction).

        Person ids go in `person_ref` only, never in `detail`, so a hard delete can pseudonymise
        them without touching what the chain covers.
        """
        at = now_utc()
        subject = None
        if person_ref is not None:
            subject = person_ref if person_ref.startswith(PSEUDONYM_PREFIX) else self.pseudonym(person_ref)
        text = json.dumps(detail, sort_keys=True, default=str)
        row = self._db.execute("SELECT hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
        prev_hash = row[0] if row else self._chain_anchor()
        digest = event_hash(prev_hash, at, kind, subject, text)
        self._db.execute(
            "INSERT INTO events (at, kind, person_ref, subject, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (at, kind, person_ref, subject, text, prev_hash, digest))
        head = self._signed_head()
        if head is not None:  # a missing or forged head is left as it is, for audit verify to report
            self._write_head(AuditHead(head.events + 1, digest, head.anchor))

    def has_signed_head(self) -> bool:
        return self._signed_head() is not None

    def _signed_head(self) -> AuditHead | None:
        text = self.get_meta("audit_head")
        return AuditHead.read(text, self._audit_key) if text else None

    def _current_head(self) -> AuditHead:
        """The head that vouches for the log as it is now."""
        count = self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        row = self._db.execute("SELECT hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
        anchor = self._chain_anchor()
        return AuditHead(count, row[0] if row else anchor, anchor)

    def _write_head(self, head: AuditHead) -> None:
        self.set_meta("audit_head", head.signed(self._audit_key))

    def start_audit_head(self, why: str) -> None:
        """Sign the log as it is now, and record that it was: done when a store is created, and by an
        administrator (`audit start`) for a store that predates the head. Never done on its own for an
        existing store: the database key alone can empty a head (after removing the last records), and
        a kiosk that signed again whatever it found would bless the removal."""
        with self.transaction():
            self._write_head(self._current_head())
            self.log_event("audit_head_started", why=why)

    def _empty_head(self) -> str:
        """What an empty head means: reset after it was started (or with the whole log gone), or a store
        that predates the head."""
        started = self._db.execute("SELECT id, at FROM events WHERE kind = 'audit_head_started' ORDER BY id LIMIT 1"
                                   ).fetchone()
        if started is not None:
            return (f"the audit head started at event {started[0]} ({started[1]}) was emptied: records after it may "
                    f"have been removed")
        events = self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        people = self._db.execute("SELECT COUNT(*) FROM people").fetchone()[0]
        if events == 0 and people:
            return f"the audit log is empty but the store holds {people} people: its records were removed"
        return ("the audit log has no signed head (a store from before it, or a head emptied with the records "
                "that named it): check the log, then sign it as it is with `python main.py audit start`")

    def _unrecorded_people(self) -> str | None:
        """A person of this store's own enrolments with no enrolment record in the log (records were
        removed from the start of the log, or the whole log replaced); a replica of a site's gallery
        records each sync instead. Once retention has cut the log's start (the chain's anchor moved),
        enrolments older than it are gone by right, and this check cannot be made."""
        if self.get_meta("audit_anchor") is not None:
            return None
        recorded = {row[0] for row in self._db.execute(
            "SELECT DISTINCT person_ref FROM events WHERE kind = 'person_enrolled'")}
        if self.get_meta("site_cursor") is not None:
            people = self._db.execute("SELECT COUNT(*) FROM people").fetchone()[0]
            synced = self._db.execute("SELECT 1 FROM events WHERE kind = 'gallery_synced' LIMIT 1").fetchone()
            return None if synced or not people else "the store holds a site's people but no record of a sync"
        missing = [person_id for (person_id,) in self._db.execute("SELECT id FROM people ORDER BY id")
                   if person_id not in recorded]
        if not missing:
            return None
        return (f"{len(missing)} people have no enrolment record in the log (first: {missing[0]}): records were "
                f"removed")

    def _chain_anchor(self) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'audit_anchor'").fetchone()
        return row[0] if row else GENESIS

    def events(self, limit: int = 100, kinds: tuple[str, ...] | None = None,
               between: tuple[datetime, datetime] | None = None, person_ref: str | None = None) -> list[Event]:
        """Newest first; of some kinds, between two instants (the end excluded), of one person."""
        where, params = [], []
        if kinds:
            where.append(f"kind IN ({', '.join('?' * len(kinds))})")
            params += list(kinds)
        if between is not None:  # times are stored as UTC ISO text, which sorts as the instants do
            where.append("at >= ? AND at < ?")
            params += [moment.astimezone(timezone.utc).isoformat() for moment in between]
        if person_ref is not None:
            where.append("person_ref = ?")
            params.append(person_ref)
        query = "SELECT at, kind, person_ref, detail FROM events" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self._db.execute(query + " ORDER BY id DESC LIMIT ?", (*params, limit))
        return [Event(datetime.fromisoformat(r[0]), r[1], r[2], json.loads(r[3])) for r in rows]

    def audit_break(self) -> str | None:
        """The first broken link of the audit chain, or where its end disagrees with the signed head;
        None if every record is as written and none is missing."""
        rows = self._db.execute("SELECT id, at, kind, subject, detail, prev_hash, hash FROM events ORDER BY id")
        anchor = self._chain_anchor()
        broken = first_broken_link(rows, anchor)
        if broken:
            return broken
        head = self._signed_head()
        if head is None:
            text = self.get_meta("audit_head")
            if text is None:
                return "the audit head is missing"
            return self._empty_head() if text == "" else \
                "the audit head was written without the key (its MAC does not match)"
        count = self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        last = self._db.execute("SELECT id, at, kind, hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
        return head_mismatch(head, count, tuple(last) if last else None, anchor) or self._unrecorded_people()

    def store_id(self) -> str:
        """This store's own random id (made once): with a row id, it names an event uniquely at a site."""
        value = self.get_meta("store_id")
        if value is None:
            with self.transaction():
                self._db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('store_id', ?)", (uuid.uuid4().hex,))
            value = self.get_meta("store_id")
        assert value is not None
        return value

    def events_after(self, seq: int, limit: int) -> list[tuple]:
        """Raw audit records after row `seq`, oldest first: (seq, at, kind, person_ref, subject, detail,
        prev_hash, hash), as the chain covers them, for sending to the site."""
        return self._db.execute("SELECT id, at, kind, person_ref, subject, detail, prev_hash, hash FROM events "
                                "WHERE id > ? ORDER BY id LIMIT ?", (seq, limit)).fetchall()

    def attendance_after(self, seq: int, limit: int) -> list[tuple]:
        """(seq, person_ref, at, direction, door) after row `seq`, oldest first."""
        return self._db.execute("SELECT id, person_ref, at, direction, door FROM attendance WHERE id > ? "
                                "ORDER BY id LIMIT ?", (seq, limit)).fetchall()

    def rows_after(self, table: str, seq: int) -> int:
        if table not in ("events", "attendance"):
            raise ValueError(table)
        return self._db.execute(f"SELECT count(*) FROM {table} WHERE id > ?", (seq,)).fetchone()[0]

    def record_attendance(self, person_id: str, direction: str, door: str, at: datetime) -> None:
        self._db.execute("INSERT INTO attendance (person_ref, at, direction, door) VALUES (?, ?, ?, ?)",
                         (person_id, _utc_text(at), direction, door))

    def last_attendance(self, person_id: str) -> AttendanceRecord | None:
        """The person's latest record."""
        rows = self._attendance("WHERE a.person_ref = ? ORDER BY a.id DESC LIMIT 1", (person_id,))
        return rows[0] if rows else None

    def attendance_between(self, start: datetime, end: datetime) -> list[AttendanceRecord]:
        """Oldest first; `end` exclusive."""
        return self._attendance("WHERE a.at >= ? AND a.at < ? ORDER BY a.at, a.id", (_utc_text(start), _utc_text(end)))

    def _attendance(self, where: str, params: tuple) -> list[AttendanceRecord]:
        rows = self._db.execute("SELECT a.person_ref, p.display_name, a.at, a.direction, a.door FROM attendance a "
                                "LEFT JOIN people p ON p.id = a.person_ref " + where, params)
        return [AttendanceRecord(r[0], r[1], datetime.fromisoformat(r[2]), r[3], r[4]) for r in rows]

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Inside the caller's transaction."""
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # privacy duties ---------------------------------------------------------------------------
    def pseudonym(self, person_id: str) -> str:
        """A stable stand-in for a deleted person in the records that must outlive them."""
        return pseudonym(self._pseudonym_key, person_id)

    def hard_delete(self, person_id: str, reason: str) -> "Deletion":
        """Remove templates and consent, pseudonymise events and attendance, then scrub freed pages."""
        with self.transaction():
            deleted = self.delete_rows(person_id, reason)
        crash_point("remove:deleted")
        return Deletion(deleted, self.compact() if deleted else False)

    def delete_rows(self, person_id: str, reason: str) -> bool:
        """The rows of a hard delete, inside the caller's transaction; call compact() after commit."""
        if self._db.execute("DELETE FROM people WHERE id = ?", (person_id,)).rowcount == 0:
            return False
        stand_in = self.pseudonym(person_id)
        self._db.execute("UPDATE events SET person_ref = ? WHERE person_ref = ?", (stand_in, person_id))
        self._db.execute("UPDATE attendance SET person_ref = ? WHERE person_ref = ?", (stand_in, person_id))
        self.log_event("person_deleted", stand_in, reason=reason)
        return True

    def compact(self) -> bool:
        """Rewrite the file without free pages and empty the WAL, so deleted rows leave no trace.
        False when another process's open read kept the WAL from being emptied (it is, at the next
        checkpoint no reader holds back; the rows are already zeroed by secure_delete)."""
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.execute("VACUUM")
        busy = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        return busy == 0

    def apply_retention(self, events_days: int | None, expired_people_grace_days: int | None, today: date) -> dict[str, int]:
        """Delete events older than the limit and hard-delete people whose validity ended long enough ago."""
        removed = {"events": 0, "people": 0}
        if events_days is not None:
            cutoff = (datetime.combine(today, datetime.min.time(), timezone.utc) - timedelta(days=events_days)).isoformat()
            with self.transaction():
                last = self._db.execute("SELECT hash FROM events WHERE at < ? ORDER BY id DESC LIMIT 1",
                                        (cutoff,)).fetchone()
                if last:  # the chain now starts after the removed records
                    self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('audit_anchor', ?)", (last[0],))
                removed["events"] = self._db.execute("DELETE FROM events WHERE at < ?", (cutoff,)).rowcount
                self._db.execute("DELETE FROM attendance WHERE at < ?", (cutoff,))
                self._write_head(self._current_head())
        if expired_people_grace_days is not None:
            limit = (today - timedelta(days=expired_people_grace_days)).isoformat()
            expired = [r[0] for r in self._db.execute("SELECT id FROM people WHERE valid_until < ?", (limit,))]
            with self.transaction():
                removed["people"] = sum(self.delete_rows(pid, reason="retention: validity ended") for pid in expired)
        if removed["events"] or removed["people"]:
            self.compact()
        return removed

    def verify(self) -> list[str]:
        """Problems found by SQLCipher's page HMAC check, SQLite's integrity check and the schema rules;
        a check that cannot even run on a damaged file is a problem of its own, never a crash."""
        problems = self._checks(_DAMAGE_CHECKS + (("foreign key", "PRAGMA foreign_key_check", lambda r: True),))
        if any("could not run" in problem or "page authentication" in problem for problem in problems):
            return problems  # the tables below cannot be trusted to be read
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            problems.append(f"schema version {version}, expected {SCHEMA_VERSION}")
        orphans = self._db.execute(
            "SELECT count(*) FROM people p WHERE NOT EXISTS (SELECT 1 FROM templates t WHERE t.person_id = p.id)"
        ).fetchone()[0]
        if orphans:
            problems.append(f"{orphans} people without any template (half-enrolled)")
        return problems

    def _checks(self, checks: tuple) -> list[str]:
        problems = []
        for label, query, keep in checks:
            try:
                problems += [f"{label}: {r[0] if len(r) == 1 else r}" for r in self._db.execute(query) if keep(r)]
            except DatabaseError as exc:
                problems.append(f"{label}: the check could not run ({exc}): the file is damaged")
        return problems

    def page_damage(self) -> str | None:
        """The first page that fails its HMAC or SQLite's own check (`verify`'s damage checks only, not
        its rules), or None: a kiosk reads only the pages it needs, so it asks as it starts."""
        return next(iter(self._checks(_DAMAGE_CHECKS)), None)

    def rekey(self, new_key: bytes) -> None:
        """Re-encrypt every page under a new database key (SQLCipher's PRAGMA rekey). It needs the
        store to itself: while another process holds it, nothing changes and StoreError says so."""
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        try:
            self._db.execute("PRAGMA journal_mode = DELETE")  # rekey rewrites pages through the rollback journal
        except DatabaseError as exc:
            raise StoreError(f"{self.path}: the store is in use by another process (a running kiosk, the GUI or "
                             f"another command); stop it and run this again ({exc})") from None
        if self._db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "delete":
            raise StoreError(f"{self.path}: the store is in use by another process (a running kiosk, the GUI or "
                             f"another command); stop it and run this again")
        self._db.execute(f"PRAGMA rekey = \"x'{new_key.hex()}'\"")
        write_key_check(self.path, new_key)
        self._db.execute("PRAGMA journal_mode = WAL")
        try:
            self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except DatabaseError as exc:
            raise SecretsError(f"{self.path}: rekey did not take ({exc})") from None
