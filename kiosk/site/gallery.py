"""SiteGallery: the site's people, protected templates and consent in PostgreSQL, with the same
methods the gallery commands and enrollment use on a local store, so `gallery plan | apply | list |
remove` work on either.

Every write transaction takes the next revision at its first change (site_state's one row, locked
until commit) and stamps it on each person it touches; a deletion leaves a tombstone with its revision; the
commit announces the revision (NOTIFY), so connected kiosks pull at once. Only protected templates
and their metadata are here: never a photo, a clean embedding or the template secret, only a check
value of it.
"""

import contextlib
import json
import logging
from collections.abc import Iterator
from datetime import date, datetime

import numpy as np
import psycopg

from kiosk.config import PostgresConfig
from kiosk.errors import CardTakenError, PinTakenError, SecretsError, StoreError
from kiosk.site.database import SiteConnection, describe, require_schema, scalar
from kiosk.site.report import site_attendance
from kiosk.store.derived import pseudonym, pseudonym_key, secret_check
from kiosk.store.gallery import Deletion, GalleryMatrix
from kiosk.store.keys import KioskSecrets
from kiosk.store.records import AttendanceRecord, Consent, Event, Person, Schedule, TemplateSet
from kiosk.store.seal import TemplateSeal, sealed_updates, unseal_rows

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "facegate_gallery"
PERSON_COLUMNS = "id, display_name, role, enabled, valid_from, valid_until, doors, photo_digest, schedule, card, pin_digest"


def person_from_row(row) -> Person:
    """A people row (in PERSON_COLUMNS order) as the engine's Person."""
    schedule = Schedule.from_json(row[8]) if row[8] else None
    return Person(row[0], row[1], row[2], bool(row[3]), row[4], row[5], tuple(row[6]), row[7], schedule, row[9], row[10])


@contextlib.contextmanager
def _card_unique(person: Person) -> Iterator[None]:
    """A card another person holds (an apply that planned before another's commit) is said as such."""
    try:
        yield
    except psycopg.errors.UniqueViolation as exc:
        if "people_card" not in str(exc):
            raise
        raise CardTakenError(f"{person.id}: card {person.card} is already another person's; nothing was "
                             f"changed") from None


def check_template_secret(connection: SiteConnection, check: str, where: str, claim: bool) -> None:
    """The site remembers a check value of its template secret: a key set with another secret would
    write or read templates no door can match. `claim`: record it if the site has none yet."""
    row = connection.execute("SELECT value FROM site_meta WHERE key = 'template_secret_check'").fetchone()
    if row is None:
        if claim:
            connection.execute("INSERT INTO site_meta (key, value) VALUES ('template_secret_check', %s) "
                               "ON CONFLICT (key) DO NOTHING", (check,))
        return
    if row[0] != check:
        raise SecretsError(f"{where}: this key set's template secret is not the site's; every door and "
                           f"administrator of a site needs the same template secret (copy the key file's "
                           f"template_secret and template_secret_version from the site's key set)")


class SiteGallery:
    """The site's gallery, opened by an administrator (or `site serve`) with the owner's role."""

    def __init__(self, connection: SiteConnection, config: PostgresConfig, secrets: KioskSecrets):
        self._db = connection
        self.path = describe(config)  # what messages name, as a store's file path
        self._pseudonym_key = pseudonym_key(secrets.template_secret)
        self._seal = TemplateSeal(secrets.template_secret, secrets.template_secret_version)
        self._revision: int | None = None
        self._in_transaction = False
        require_schema(connection, self.path)
        with self._refused("record the site's template secret"), connection.transaction():
            check_template_secret(connection, secret_check(secrets.template_secret), self.path, claim=True)
        self._seal_unsealed()

    def _seal_unsealed(self) -> None:
        """Templates written before each had a seal of its own are sealed in place, once (the owner's
        role; a door's read-only role leaves them, and its replica reads them as they are)."""
        rows = self._db.execute("SELECT id, template, dim FROM templates WHERE salt IS NULL ORDER BY id").fetchall()
        if not rows:
            return
        try:
            with self._db.transaction(), self._db.cursor() as cursor:
                cursor.executemany("UPDATE templates SET template = %s, salt = %s WHERE id = %s AND salt IS NULL",
                                   sealed_updates(self._seal, rows))
                self.log_event("templates_sealed", None, templates=len(rows))
        except psycopg.errors.InsufficientPrivilege:
            log.info("%d templates of the site are not sealed yet: an administrator's next open seals them", len(rows))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "SiteGallery":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One PostgreSQL transaction, which holds site_state's row from its start to its commit: what
        it reads (the duplicate check reads every template) cannot be changed by another
        administrator's transaction before it has written (two applies of one face under two ids were
        both enrolled), and revisions become visible in the order they were given. Its first change
        takes the next revision; a transaction that only reads or records takes none (the kiosks have
        nothing to pull)."""
        with self._refused("change the gallery"), self._db.transaction():
            self._db.execute("SELECT revision FROM site_state WHERE id = 1 FOR UPDATE")
            self._in_transaction = True
            try:
                yield
            finally:
                self._in_transaction, self._revision = False, None

    @contextlib.contextmanager
    def _refused(self, what: str) -> Iterator[None]:
        """A kiosk's role may read the gallery and nothing else: say so, and who may."""
        try:
            yield
        except psycopg.errors.InsufficientPrivilege:
            raise StoreError(f"{self.path}: this role may only read the site's gallery (a kiosk's role); "
                             f"{what} with the role that owns the site's tables, from an administrator's config "
                             f"(site.server.postgres.user)") from None

    def _stamp(self) -> int:
        if not self._in_transaction:
            raise StoreError("a change to the site's gallery must run inside SiteGallery.transaction()")
        if self._revision is None:
            self._revision = scalar(self._db, "UPDATE site_state SET revision = revision + 1 WHERE id = 1 "
                                              "RETURNING revision")
            self._db.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, str(self._revision)))
        return self._revision

    def revision(self) -> int:
        return scalar(self._db, "SELECT revision FROM site_state WHERE id = 1")

    # people ---------------------------------------------------------------------------------
    def upsert_person(self, person: Person) -> None:
        with _card_unique(person):
            self._upsert(person)

    def _upsert(self, person: Person) -> None:
        self._db.execute(
            """INSERT INTO people (id, display_name, role, enabled, valid_from, valid_until, doors, schedule,
                                   photo_digest, card, revision)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, role = excluded.role,
                   enabled = excluded.enabled, valid_from = excluded.valid_from, valid_until = excluded.valid_until,
                   doors = excluded.doors, schedule = excluded.schedule, photo_digest = excluded.photo_digest,
                   card = excluded.card, revision = excluded.revision, updated_at = now()""",
            (person.id, person.display_name, person.role, person.enabled, person.valid_from, person.valid_until,
             json.dumps(list(person.doors)), json.dumps(person.schedule.to_json()) if person.schedule else None,
             person.photo_digest, person.card, self._stamp()))
        self._db.execute("DELETE FROM tombstones WHERE person_id = %s", (person.id,))

    def set_person_pin(self, person_id: str, digest: str | None) -> None:
        """As GalleryStore.set_person_pin; the change reaches every door's replica."""
        import psycopg

        try:
            with self._db.transaction():  # a savepoint: a refused PIN leaves the caller's transaction usable
                self._db.execute("UPDATE people SET pin_digest = %s WHERE id = %s", (digest, person_id))
        except psycopg.errors.UniqueViolation:
            raise PinTakenError("another person has this PIN: choose another") from None
        self._touch(person_id)

    def _touch(self, person_id: str) -> None:
        self._db.execute("UPDATE people SET revision = %s, updated_at = now() WHERE id = %s", (self._stamp(), person_id))

    def get_person(self, person_id: str) -> Person | None:
        row = self._db.execute(f"SELECT {PERSON_COLUMNS} FROM people WHERE id = %s", (person_id,)).fetchone()
        return person_from_row(row) if row else None

    def list_people(self) -> list[Person]:
        return [person_from_row(row) for row in self._db.execute(f"SELECT {PERSON_COLUMNS} FROM people ORDER BY id")]

    def template_counts(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT person_id, count(*) FROM templates GROUP BY person_id").fetchall())

    def template_origins(self) -> dict[str, tuple[str, str]]:
        rows = self._db.execute("SELECT DISTINCT person_id, model_id, protector_id FROM templates ORDER BY person_id")
        return {row[0]: (row[1], row[2]) for row in rows}

    # templates and consent --------------------------------------------------------------------
    def replace_templates(self, person_id: str, templates: TemplateSet) -> None:
        matrix = np.ascontiguousarray(templates.templates, dtype=np.float32)
        if matrix.ndim != 2 or len(matrix) == 0:
            raise StoreError(f"{person_id}: expected at least one template row, got shape {matrix.shape}")
        self._db.execute("DELETE FROM templates WHERE person_id = %s", (person_id,))
        qualities: list[float | None] = list(templates.qualities) or [None] * len(matrix)
        salts = TemplateSeal.new_salts(len(matrix))
        with self._db.cursor() as cursor:
            cursor.executemany(
                """INSERT INTO templates (person_id, template, dim, model_id, protector_id, secret_version, quality,
                                          salt) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
                [(person_id, row.tobytes(), matrix.shape[1], templates.model_id, templates.protector_id,
                  templates.secret_version, quality, salt)
                 for row, quality, salt in zip(self._seal.seal(matrix, salts), qualities, salts)])
        self._touch(person_id)

    def gallery_matrix(self, model_id: str, enabled_only: bool = True) -> GalleryMatrix:
        rows = self._db.execute(
            """SELECT t.person_id, t.template, t.dim, t.secret_version, t.salt FROM templates t
               JOIN people p ON p.id = t.person_id
               WHERE (p.enabled OR NOT %s) AND t.model_id = %s ORDER BY t.id""", (enabled_only, model_id)).fetchall()
        if not rows:
            return GalleryMatrix(np.array([], dtype=object), np.empty((0, 0), dtype=np.float32), None)
        versions = {row[3] for row in rows}
        if len(versions) > 1:
            raise StoreError(f"{self.path}: templates of several secret versions {sorted(versions)}")
        stored = np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float32).reshape(len(rows), rows[0][2])
        return GalleryMatrix(np.array([row[0] for row in rows], dtype=object),
                             unseal_rows(self._seal, stored, [row[4] for row in rows]), versions.pop())

    def add_consent(self, person_id: str, consent: Consent) -> None:
        self._db.execute("INSERT INTO consents (person_id, given_by, given_at, scope) VALUES (%s, %s, %s, %s)",
                         (person_id, consent.given_by, consent.given_at, consent.scope))
        self._touch(person_id)

    def consents(self, person_id: str) -> list[Consent]:
        rows = self._db.execute("SELECT given_by, given_at, scope FROM consents WHERE person_id = %s ORDER BY id",
                                (person_id,))
        return [Consent(r[0], r[1] if isinstance(r[1], date) else date.fromisoformat(r[1]), r[2]) for r in rows]

    # records ----------------------------------------------------------------------------------
    def log_event(self, kind: str, person_ref: str | None = None, **detail) -> None:
        """The administrators' actions on the site's gallery (the kiosks' own audit chains arrive
        through `site serve`); person ids only in person_ref, which a deletion pseudonymises."""
        self._db.execute("INSERT INTO site_audit (kind, person_ref, detail) VALUES (%s, %s, %s)",
                         (kind, person_ref, json.dumps(detail, sort_keys=True, default=str)))

    def events(self, limit: int = 100, between: tuple[datetime, datetime] | None = None,
               person_ref: str | None = None) -> list[Event]:
        """Newest first: the administrators' actions and every door's records (its kiosk in the detail);
        between two instants (the end excluded), of one person."""
        start, end = between if between is not None else (None, None)
        with self._refused("read the site's records"):
            rows = self._db.execute(
                "SELECT at, kind, person_ref, detail FROM ("
                " SELECT at, kind, person_ref, detail FROM site_audit UNION ALL"
                " SELECT at::timestamptz, kind, person_ref, detail::jsonb || jsonb_build_object('kiosk', kiosk_id)"
                " FROM kiosk_events) AS everything"
                " WHERE (%(start)s::timestamptz IS NULL OR at >= %(start)s)"
                " AND (%(end)s::timestamptz IS NULL OR at < %(end)s)"
                " AND (%(person)s::text IS NULL OR person_ref = %(person)s)"
                " ORDER BY at DESC LIMIT %(limit)s",
                {"start": start, "end": end, "person": person_ref, "limit": limit}).fetchall()
        return [Event(r[0], r[1], r[2], r[3]) for r in rows]

    def attendance_between(self, start: datetime, end: datetime) -> list[AttendanceRecord]:
        """Every door's records, oldest first; `end` exclusive."""
        with self._refused("read the site's attendance"):
            return site_attendance(self._db, start, end)

    def pseudonym(self, person_id: str) -> str:
        return pseudonym(self._pseudonym_key, person_id)

    def delete_rows(self, person_id: str, reason: str) -> bool:
        """Delete the person (templates and consent go with them), leave a tombstone every kiosk
        applies, and pseudonymise what the site keeps of them; inside the caller's transaction."""
        if self._db.execute("DELETE FROM people WHERE id = %s", (person_id,)).rowcount == 0:
            return False
        self._db.execute("INSERT INTO tombstones (person_id, revision) VALUES (%s, %s) ON CONFLICT (person_id) "
                         "DO UPDATE SET revision = excluded.revision, deleted_at = now()", (person_id, self._stamp()))
        stand_in = self.pseudonym(person_id)
        for table in ("kiosk_events", "kiosk_attendance", "site_audit"):
            self._db.execute(f"UPDATE {table} SET person_ref = %s WHERE person_ref = %s", (stand_in, person_id))
        self.log_event("person_deleted", stand_in, reason=reason)
        return True

    def hard_delete(self, person_id: str, reason: str) -> Deletion:
        with self.transaction():
            deleted = self.delete_rows(person_id, reason)
        return Deletion(deleted, deleted)

    def compact(self) -> bool:
        """Nothing to do here: PostgreSQL reuses the dead rows' space (VACUUM); the kiosks scrub
        their replicas when they apply the tombstone."""
        return True
