"""Typed rows of the store, as the rest of the engine sees them."""

from dataclasses import dataclass, field
from datetime import date, datetime, time

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Schedule:
    """When a person may pass: weekdays and a daily time window, in the site's time zone (`site.timezone`)."""

    days: tuple[str, ...] = WEEKDAYS
    start: time = time(0, 0)
    end: time = time(23, 59, 59)

    def allows(self, moment: datetime) -> bool:
        return WEEKDAYS[moment.weekday()] in self.days and self.start <= moment.time() <= self.end

    def to_json(self) -> dict:
        return {"days": list(self.days), "from": self.start.isoformat("minutes"), "until": self.end.isoformat("minutes")}

    @classmethod
    def from_json(cls, data: dict) -> "Schedule":
        return cls(tuple(data["days"]), time.fromisoformat(data["from"]), time.fromisoformat(data["until"]))

    def __str__(self) -> str:
        return f"{','.join(self.days)} {self.start.isoformat('minutes')}-{self.end.isoformat('minutes')}"


@dataclass(frozen=True)
class Person:
    """Who may pass: identity, role, whether and when and where they are allowed."""

    id: str
    display_name: str
    role: str = "staff"
    enabled: bool = True
    valid_from: date | None = None
    valid_until: date | None = None
    doors: tuple[str, ...] = ()
    photo_digest: str | None = None
    schedule: Schedule | None = None
    card: str | None = None  # the credential a panel knows them by (kiosk/panel/cards.py), e.g. wiegand26:12:3456
    pin_digest: str | None = None  # their PIN's keyed digest (kiosk/panel/pins.py); set by `gallery pin`, never a file

    def metadata(self) -> tuple:
        """Everything an administrator sets, for comparing a gallery file with the store."""
        return (self.display_name, self.role, self.enabled, self.valid_from, self.valid_until, tuple(self.doors),
                self.schedule, self.card)


@dataclass(frozen=True)
class Consent:
    """Who consented, when, and to what; kept as long as the person's templates are."""

    given_by: str
    given_at: date
    scope: str


@dataclass(frozen=True)
class TemplateSet:
    """Protected templates of one person, with what made them."""

    templates: "object"  # (N, D) float32 numpy array
    model_id: str
    protector_id: str
    secret_version: int
    qualities: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Event:
    """One audit record as read back (its chain fields stay in the store)."""

    at: datetime          # UTC
    kind: str
    person_ref: str | None  # a person id, or a deleted person's pseudonym
    detail: dict


@dataclass(frozen=True)
class AttendanceRecord:
    """One check-in or check-out; `display_name` is None once the person is deleted."""

    person_ref: str
    display_name: str | None
    at: datetime  # UTC
    direction: str
    door: str | None
