"""Compare a gallery file with the store: who is added, updated, re-enrolled, disabled or removed."""

import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from kiosk.errors import ConfigError
from kiosk.gallery.spec import GalleryFile, PersonSpec
from kiosk.store.records import Person

Action = Literal["add", "update", "re-enroll", "disable", "remove", "unchanged"]


@dataclass(frozen=True)
class Change:
    action: Action
    person_id: str
    details: list[str] = field(default_factory=list)
    spec: PersonSpec | None = None
    photo_digest: str | None = None

    @property
    def person_spec(self) -> PersonSpec:
        """The file's entry for this person (every change but a removal has one)."""
        if self.spec is None:
            raise ValueError(f"{self.person_id}: a {self.action} has no gallery file entry")
        return self.spec

    @property
    def needs_enrollment(self) -> bool:
        return self.action in ("add", "re-enroll")


KEYED = "k1:"


def photo_hashes(photos: list[Path]) -> list[bytes]:
    return [hashlib.sha256(photo.read_bytes()).digest() for photo in photos]


def photo_digest(hashes: list[bytes], key: bytes) -> str:
    """HMAC-SHA-256 under the site's digest key over the photos' own SHA-256s: changes when any photo
    is replaced, added or removed. Keyed, because an unkeyed digest was the same at every site and
    anyone holding the photos (a staff page) could recompute it: it linked people across sites and
    named them in a leaked database even where templates do not."""
    return KEYED + hmac.new(key, b"".join(hashes), hashlib.sha256).hexdigest()


def unkeyed_photo_digest(hashes: list[bytes]) -> str:
    """The digest stores written before it was keyed: recognised once, then replaced by the keyed one."""
    combined = hashlib.sha256()
    for digest in hashes:
        combined.update(digest)
    return combined.hexdigest()


def _differences(old: Person, new: Person) -> list[str]:
    """What changed, as the plan shows it and the audit log keeps it. A name is never written out:
    the audit log outlives a hard delete, and a chained record cannot be scrubbed afterwards."""
    names = ("display name", "role", "enabled", "valid from", "valid until", "doors", "schedule", "card")
    return [f"{name} changed" if name in ("display name", "card") else f"{name}: {a!r} -> {b!r}"
            for name, a, b in zip(names, old.metadata(), new.metadata()) if a != b]


def _check_cards(gallery: GalleryFile, current: dict[str, Person], prune: bool) -> None:
    """One card, one person, after the apply: a card the file gives to someone may not stay with a
    person the file leaves as stored (the store would refuse it half-way)."""
    in_file = {spec.id for spec in gallery.people}
    kept = {} if prune else {p.card: p.id for p in current.values() if p.card and p.id not in in_file}
    for index, spec in enumerate(gallery.people):
        if spec.card is not None and spec.card in kept:
            raise ConfigError(f"people[{index}] ({spec.id}): card {spec.card} belongs to {kept[spec.card]!r}, who is "
                              f"enrolled and not in this file; one card belongs to one person")


def plan_changes(gallery: GalleryFile, stored: list[Person], known_doors: set[str], prune: bool, digest_key: bytes,
                 origins: dict[str, tuple[str, str]] | None = None,
                 descriptor: tuple[str, str] | None = None) -> list[Change]:
    """Every change apply would make, in file order, then removals (made only with --prune).

    `origins` (person -> descriptor and protector of their templates) and `descriptor` (the
    configured pair): a person whose templates another descriptor made is enrolled again."""
    for index, spec in enumerate(gallery.people):
        unknown = sorted(set(spec.doors) - known_doors)
        if unknown:
            raise ConfigError(f"people[{index}] ({spec.id}): doors {unknown} are not in the kiosk config "
                              f"(known: {sorted(known_doors)})")
    current = {person.id: person for person in stored}
    _check_cards(gallery, current, prune)
    changes = []
    for spec in gallery.people:
        hashes = photo_hashes(spec.photos)
        digest = photo_digest(hashes, digest_key)
        wanted = spec.person(digest)
        old = current.get(spec.id)
        if old is None:
            changes.append(Change("add", spec.id, [f"{len(spec.photos)} photos"], spec, digest))
        elif old.photo_digest == unkeyed_photo_digest(hashes):
            changes.append(Change("update", spec.id, ["photo digest keyed to the site", *_differences(old, wanted)],
                                  spec, digest))
        elif old.photo_digest != digest:
            changes.append(Change("re-enroll", spec.id, ["photos changed", *_differences(old, wanted)], spec, digest))
        elif descriptor and origins and origins.get(spec.id, descriptor) != descriptor:
            made_by = " / ".join(origins[spec.id])
            changes.append(Change("re-enroll", spec.id, [f"templates made by {made_by}: enrolled again with "
                                                         f"{' / '.join(descriptor)}", *_differences(old, wanted)],
                                  spec, digest))
        elif old.metadata() != wanted.metadata():
            action: Action = "disable" if old.enabled and not wanted.enabled else "update"
            changes.append(Change(action, spec.id, _differences(old, wanted), spec, digest))
        else:
            changes.append(Change("unchanged", spec.id, [], spec, digest))
    listed = {spec.id for spec in gallery.people}
    for person_id in sorted(set(current) - listed):
        note = "not in the gallery file" + ("" if prune else "; kept without --prune")
        changes.append(Change("remove", person_id, [note]))
    return changes
