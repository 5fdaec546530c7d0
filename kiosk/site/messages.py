"""What `site serve` accepts from a door: each message checked field by field before it is stored.

A door's records come from its own store, but anyone holding a door's broker login can publish
anything under its topic, and a door with a bug can too. A message the site cannot accept (not
JSON, a missing or malformed field, an impossible time, a direction other than in or out, text with
NUL, a value too long) is set aside with the reason, never allowed to stop the collector for every
other door.
"""

import json
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError, field_validator


def _no_nul(value: object) -> object:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("contains a NUL character")
    return value


Text = Annotated[str, BeforeValidator(_no_nul), StringConstraints(max_length=256)]
RecordId = Annotated[str, BeforeValidator(_no_nul), StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,128}$")]
Digest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Signature = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{128}$")]


def _aware_time(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {value[:40]!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"a time without its offset from UTC: {value[:40]!r}")
    if moment.isoformat() != value:  # the form doors write (and hash): anything else is not theirs
        raise ValueError(f"not in the doors' ISO 8601 form (YYYY-MM-DDTHH:MM:SS+HH:MM): {value[:40]!r}")
    return value


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class EventMessage(_Message):
    """One link of a door's audit chain."""

    id: RecordId
    store: RecordId
    seq: int = Field(ge=1)
    at: Text
    kind: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    person_ref: Text | None = None
    subject: Text | None = None
    detail: Annotated[str, BeforeValidator(_no_nul), StringConstraints(max_length=65536)]
    prev_hash: Digest
    hash: Digest
    sig: Signature | None = None  # the door's Ed25519 signature (kiosk/site/signing.py)

    _time = field_validator("at")(_aware_time)

    @field_validator("detail")
    @classmethod
    def _json_object(cls, value: str) -> str:
        try:
            parsed = json.loads(value)
        except ValueError:
            raise ValueError("detail is not JSON") from None
        if not isinstance(parsed, dict):
            raise ValueError("detail is not a JSON object")
        return value


class AttendanceMessage(_Message):
    id: RecordId
    person_ref: Text
    subject: Text
    at: Text
    direction: Literal["in", "out"]
    door: Text | None = None
    sig: Signature | None = None

    _time = field_validator("at")(_aware_time)


class StatusMessage(_Message):
    door: Text | None = None
    online: bool
    revision: int | None = Field(None, ge=0)
    queued: int | None = Field(None, ge=0)


MESSAGES: dict[str, type[_Message]] = {"events": EventMessage, "attendance": AttendanceMessage,
                                       "status": StatusMessage}


class RejectedMessage(ValueError):
    """Why a message cannot be stored, in one line."""


def parse_message(kind: str, payload: bytes) -> tuple[dict, dict]:
    """The message's fields, checked, and the message as it came (what its signature covers);
    RejectedMessage says what is wrong."""
    model = MESSAGES.get(kind)
    if model is None:
        raise RejectedMessage(f"unknown record kind {kind[:40]!r}")
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise RejectedMessage("not JSON") from None
    if not isinstance(data, dict):
        raise RejectedMessage("not a JSON object")
    try:
        return model.model_validate(data).model_dump(), data
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}" for e in exc.errors()[:5])
        raise RejectedMessage(problems) from None
