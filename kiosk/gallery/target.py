"""The gallery the administration commands change: the site's, in PostgreSQL, when the config names
a site server, else the kiosk's own store. Both offer the methods below, so planning, applying,
listing and removing work the same on either."""

import contextlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from kiosk.config import KioskConfig
from kiosk.errors import ConfigError
from kiosk.store.access import open_store
from kiosk.store.gallery import Deletion, GalleryMatrix
from kiosk.store.keys import KioskSecrets, load_secrets
from kiosk.store.records import AttendanceRecord, Consent, Person, TemplateSet

if TYPE_CHECKING:
    from kiosk.site.gallery import SiteGallery


class GalleryTarget(Protocol):
    @property
    def path(self) -> object: ...  # what messages name: a store file, or the site's server

    def transaction(self) -> AbstractContextManager[None]: ...
    def list_people(self) -> list[Person]: ...
    def get_person(self, person_id: str) -> Person | None: ...
    def template_counts(self) -> dict[str, int]: ...
    def template_origins(self) -> dict[str, tuple[str, str]]: ...
    def gallery_matrix(self, model_id: str, enabled_only: bool = True) -> GalleryMatrix: ...
    def upsert_person(self, person: Person) -> None: ...
    def set_person_pin(self, person_id: str, digest: str | None) -> None: ...
    def replace_templates(self, person_id: str, templates: TemplateSet) -> None: ...
    def consents(self, person_id: str) -> list[Consent]: ...
    def add_consent(self, person_id: str, consent: Consent) -> None: ...
    def log_event(self, kind: str, person_ref: str | None = None, **detail) -> None: ...
    def delete_rows(self, person_id: str, reason: str) -> bool: ...
    def hard_delete(self, person_id: str, reason: str) -> Deletion: ...
    def compact(self) -> bool: ...
    def attendance_between(self, start: datetime, end: datetime) -> list[AttendanceRecord]: ...


def is_site(config: KioskConfig) -> bool:
    return config.site.server is not None


@contextlib.contextmanager
def open_gallery(config: KioskConfig) -> Iterator[tuple[GalleryTarget, KioskSecrets]]:
    """The gallery to administer, with the key set whose template secret protects its templates."""
    server = config.site.server
    if server is None:
        store, secrets = open_store(config.store.resolved_path, config.store.keys)
        with store:
            yield store, secrets
        return
    secrets = load_secrets(config.store.keys)
    with open_site_gallery(config, secrets) as site:
        yield site, secrets


def open_site_gallery(config: KioskConfig, secrets: KioskSecrets) -> "SiteGallery":
    """The site's gallery, connected with the config's role (the caller closes it); raises
    SiteUnreachableError when the site cannot be reached."""
    from kiosk.site.credentials import load_site_credentials
    from kiosk.site.database import connect_site
    from kiosk.site.gallery import SiteGallery

    server = config.site.server
    if server is None:
        raise ConfigError("site.server is not set: this kiosk has no site")
    connection = connect_site(server.postgres, load_site_credentials(server.credentials))
    try:
        return SiteGallery(connection, server.postgres, secrets)
    except BaseException:
        connection.close()
        raise
