"""A kiosk's encrypted replica of the site's gallery: pull what changed since the last revision it
applied, a batch per local transaction, so a kill between batches leaves a replica that is a whole
earlier state of the site and the next pull goes on from there.

The cursor (revision, last person id of a partly applied revision) lives in the replica's meta
table and is written in the same transaction as the rows it covers. Each batch is read from one
REPEATABLE READ snapshot of the site, so a person's row, templates and consent always agree.
"""

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kiosk.faults import crash_point
from kiosk.site.database import SiteConnection, scalar
from kiosk.site.gallery import PERSON_COLUMNS, check_template_secret, person_from_row
from kiosk.store.derived import secret_check
from kiosk.store.gallery import GalleryStore
from kiosk.store.keys import KioskSecrets
from kiosk.store.records import Consent, Person, TemplateSet
from kiosk.store.seal import TemplateSeal, unseal_rows

log = logging.getLogger(__name__)

CURSOR_KEY = "site_cursor"

_CHANGES = """
SELECT revision, person_id, kind FROM (
    SELECT revision, id AS person_id, 'person' AS kind FROM people
    UNION ALL SELECT revision, person_id, 'tombstone' FROM tombstones) AS changes
WHERE revision > %(revision)s OR (revision = %(revision)s AND person_id > %(after)s)
ORDER BY revision, person_id LIMIT %(limit)s
"""


@dataclass(frozen=True)
class Cursor:
    """Everything up to `revision` is applied, or only up to person `after` of it when `after` is set."""

    revision: int = 0
    after: str | None = None

    @property
    def complete_revision(self) -> int:
        return self.revision if self.after is None else self.revision - 1

    def to_text(self) -> str:
        return json.dumps([self.revision, self.after])

    @classmethod
    def read(cls, store: GalleryStore) -> "Cursor | None":
        text = store.get_meta(CURSOR_KEY)
        return cls(*json.loads(text)) if text else None


@dataclass
class SyncReport:
    updated: int = 0
    removed: int = 0
    batches: int = 0
    revision: int = 0


@dataclass(frozen=True)
class _Batch:
    people: list[tuple[Person, TemplateSet | None, list[Consent]]]
    tombstones: list[str]
    cursor: Cursor
    strangers: list[str]  # local people the site does not have (only at the first pull)


class ReplicaSync:
    """Pulls the site's gallery into a local store, through a connection with a kiosk's role."""

    def __init__(self, store: GalleryStore, secrets: KioskSecrets, batch: int = 1000, where: str = "the site"):
        self.store, self.batch, self.where = store, batch, where
        self._check = secret_check(secrets.template_secret)
        self._seal = TemplateSeal(secrets.template_secret, secrets.template_secret_version)

    def cursor(self) -> Cursor:
        return Cursor.read(self.store) or Cursor()

    def pull(self, connection: SiteConnection, progress: Callable[[int], None] | None = None) -> SyncReport:
        """Every change up to the site's current revision, in batches; returns what was applied."""
        report = SyncReport()
        while True:
            batch = self._read_batch(connection)
            if batch is None:
                break
            self._apply(batch)
            report.updated += len(batch.people)
            report.removed += len(batch.tombstones) + len(batch.strangers)
            report.batches += 1
            if progress is not None:
                progress(len(batch.people) + len(batch.tombstones))
        report.revision = self.cursor().complete_revision
        return report

    def _read_batch(self, site: SiteConnection) -> _Batch | None:
        """The next batch from one snapshot, or None when the replica is up to date."""
        stored = Cursor.read(self.store)
        cursor = stored or Cursor()
        with site.transaction():
            site.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            check_template_secret(site, self._check, self.where, claim=False)
            site_revision = scalar(site, "SELECT revision FROM site_state WHERE id = 1")
            # after = NULL (the revision is applied whole): `person_id > NULL` holds for no row
            changes = site.execute(_CHANGES, {"revision": cursor.revision, "after": cursor.after,
                                                  "limit": self.batch}).fetchall()
            if len(changes) < self.batch:  # the rest of the site fits in this batch: it ends complete
                end = Cursor(site_revision, None)
            else:
                end = Cursor(changes[-1][0], changes[-1][1])
            if not changes and end == cursor:
                return None
            ids = [c[1] for c in changes if c[2] == "person"]
            people = self._people(site, ids)
            strangers = []
            if stored is None:  # the first pull: people enrolled here before the kiosk joined the site go
                on_site = {row[0] for row in site.execute("SELECT id FROM people")}
                strangers = sorted(self.store.person_ids() - on_site)
        return _Batch(people, [c[1] for c in changes if c[2] == "tombstone"], end, strangers)

    def _people(self, site: SiteConnection, ids: list[str]) -> list[tuple[Person, TemplateSet | None, list[Consent]]]:
        if not ids:
            return []
        rows = {row[0]: row for row in site.execute(
            f"SELECT {PERSON_COLUMNS} FROM people WHERE id = ANY(%s)", (ids,))}
        templates: dict[str, list] = {}
        for row in site.execute("SELECT person_id, template, dim, model_id, protector_id, secret_version, quality, "
                                "salt FROM templates WHERE person_id = ANY(%s) ORDER BY id", (ids,)):
            templates.setdefault(row[0], []).append(row)
        consents: dict[str, list[Consent]] = {}
        for row in site.execute("SELECT person_id, given_by, given_at, scope FROM consents "
                                    "WHERE person_id = ANY(%s) ORDER BY id", (ids,)):
            consents.setdefault(row[0], []).append(Consent(row[1], row[2], row[3]))
        return [(person_from_row(rows[pid]), _template_set(self._seal, templates.get(pid)), consents.get(pid, []))
                for pid in ids]

    def _apply(self, batch: _Batch) -> None:
        store = self.store
        with store.transaction():
            for person_id in batch.strangers:
                store.delete_rows(person_id, reason="not in the site's gallery")
            for person, templates, consents in batch.people:
                store.upsert_person(person)
                store.set_person_pin(person.id, person.pin_digest)
                if templates is not None:
                    store.replace_templates(person.id, templates)
                store.replace_consents(person.id, consents)
            removed = [pid for pid in batch.tombstones if store.delete_rows(pid, reason="deleted at the site")]
            store.set_meta(CURSOR_KEY, batch.cursor.to_text())
            store.log_event("gallery_synced", None, revision=batch.cursor.complete_revision,
                            updated=len(batch.people), removed=len(removed) + len(batch.strangers))
        crash_point("sync:batch_written")
        if removed or batch.strangers:
            store.compact()
        log.info("replica: %d people updated, %d removed, at site revision %d", len(batch.people),
                 len(removed) + len(batch.strangers), batch.cursor.complete_revision)


def _template_set(seal: TemplateSeal, rows: list | None) -> TemplateSet | None:
    """A person's templates in the site's space (the replica seals them again under its own salts)."""
    if not rows:
        return None
    matrix = unseal_rows(seal, np.stack([np.frombuffer(row[1], dtype=np.float32, count=row[2]) for row in rows]),
                         [row[7] for row in rows])
    qualities = [row[6] for row in rows]
    return TemplateSet(matrix, rows[0][3], rows[0][4], rows[0][5], [] if None in qualities else qualities)
