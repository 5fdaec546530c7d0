"""The audit log as a receptionist reads it: a table of when, what, who, which door and why, in plain
words. Event kinds, ids, distances and time-zone offsets are the log's; none of them is shown."""

from datetime import tzinfo

from kiosk.store.derived import PSEUDONYM_PREFIX
from kiosk.store.records import Event
from ui.texts import text

EVENT_COLUMNS = ("events_when", "events_what", "events_who", "events_door", "events_why")


def what_happened(kind: str, language: str) -> str:
    """A kind in words; a kind this screen does not know yet, made readable."""
    words = text(f"event_{kind}", language, default="")
    return words or kind.replace("_", " ").capitalize()


def who(person_ref: str | None, names: dict[str, str], language: str) -> str:
    if person_ref is None:
        return ""
    if person_ref.startswith(PSEUDONYM_PREFIX):
        return text("a_deleted_person", language)
    return names.get(person_ref, person_ref)


def event_row(event: Event, names: dict[str, str], zone: tzinfo, language: str) -> tuple[str, str, str, str, str]:
    """(when, what, who, door, why) of one record, in the site's time zone."""
    detail = event.detail or {}
    door = detail.get("door") or detail.get("kiosk") or ""
    return (event.at.astimezone(zone).strftime("%a %d %b %H:%M:%S"), what_happened(event.kind, language),
            who(event.person_ref, names, language), str(door), str(detail.get("reason") or ""))
