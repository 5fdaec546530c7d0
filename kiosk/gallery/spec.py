"""The gallery file (config/gallery.example.yaml) as typed models; photo paths are checked here."""

from datetime import date, time
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from kiosk.panel.cards import Card, CardError
from kiosk.store.records import Consent, Person, Schedule
from kiosk.yamlfile import load_yaml_model

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


def _printable(value: str) -> str:
    """No control characters: a NUL made PostgreSQL refuse the whole apply with a traceback, and a tab
    or newline in a name breaks every report that shows it."""
    bad = next((c for c in value if ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise ValueError(f"contains the control character {bad!r} at position {value.index(bad)}; use plain text")
    return value


# Short plain text: a name, a role, a door; a 10 MB role was accepted and copied to every door.
Label = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_printable)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_printable)]


class ConsentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    given_by: Text = Field(description="who consented (the person, or their guardian)")
    date: date
    scope: Text = Field(description="what the consent covers, e.g. door access and attendance")


class ScheduleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(min_length=1)
    start: time = Field(alias="from", description="local time the door starts opening for this person")
    end: time = Field(alias="until", description="local time it stops")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _quoted_time(cls, value: object) -> object:
        """YAML reads an unquoted 17:00 as the number 1020, and pydantic would take a number as
        seconds: a time must be written as a quoted string."""
        if not isinstance(value, (str, time)):
            raise ValueError(f"{value!r} is not a time: write it quoted, e.g. '17:00' "
                             f"(unquoted, YAML reads 17:00 as the number 1020)")
        return value

    @model_validator(mode="after")
    def _order(self) -> "ScheduleSpec":
        if self.start >= self.end:
            raise ValueError(f"schedule: from {self.start} must be before until {self.end}")
        return self

    def schedule(self) -> Schedule:
        return Schedule(tuple(self.days), self.start, self.end)


class PersonSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=ID_PATTERN, description="stable id: staff number or badge id")
    name: Text
    role: Label = "staff"
    enabled: bool = True
    valid_from: date | None = None
    valid_until: date | None = None
    doors: list[Label] = Field(default_factory=list, max_length=64,
                               description="doors this person may open; empty = all")
    schedule: ScheduleSpec | None = Field(None, description="weekdays and hours; empty = any time")
    card: str | None = Field(None, description="the card the access panel knows them by, format:facility:number "
                                               "(wiegand26:12:3456); reported on a grant, read as a claim")
    consent: ConsentSpec
    photos: list[Path] = Field(min_length=1, description="photos to enroll from, relative to the gallery file")

    @field_validator("photos")
    @classmethod
    def _photos_exist(cls, photos: list[Path], info: ValidationInfo) -> list[Path]:
        base = Path((info.context or {}).get("file", ".")).parent
        resolved = [(base / photo.expanduser()).resolve() for photo in photos]
        missing = [str(photo) for photo, path in zip(photos, resolved) if not path.is_file()]
        if missing:
            raise ValueError(f"photo not found: {', '.join(missing)} (paths are relative to {base})")
        return resolved

    @field_validator("card")
    @classmethod
    def _card(cls, card: str | None) -> str | None:
        if card is None:
            return None
        try:
            return str(Card.parse(card))
        except CardError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _validity(self) -> "PersonSpec":
        if self.valid_from and self.valid_until and self.valid_from > self.valid_until:
            raise ValueError(f"valid_from {self.valid_from} is after valid_until {self.valid_until}")
        return self

    def person(self, photo_digest: str | None) -> Person:
        return Person(self.id, self.name, self.role, self.enabled, self.valid_from, self.valid_until,
                      tuple(self.doors), photo_digest, self.schedule.schedule() if self.schedule else None, self.card)

    def consent_record(self) -> Consent:
        return Consent(self.consent.given_by, self.consent.date, self.consent.scope)


class GalleryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    people: list[PersonSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> "GalleryFile":
        seen: dict[str, int] = {}
        for index, person in enumerate(self.people):
            if person.id in seen:
                raise ValueError(f"people[{index}]: duplicate id {person.id!r} (first at people[{seen[person.id]}])")
            seen[person.id] = index
        cards: dict[str, int] = {}
        for index, person in enumerate(self.people):
            if person.card is not None and person.card in cards:
                raise ValueError(f"people[{index}]: card {person.card} is also given to "
                                 f"{self.people[cards[person.card]].id!r} (people[{cards[person.card]}]); one card "
                                 f"belongs to one person")
            if person.card is not None:
                cards[person.card] = index
        return self


def load_gallery_file(path: Path) -> GalleryFile:
    return load_yaml_model(path, GalleryFile)
