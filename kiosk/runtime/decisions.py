"""From a recognised (or unknown) visit to a decision: quality hints, and the person's rights.

Outcomes: granted; denied (known, but disabled, outside validity, or not for this door); unknown;
spoof suspected (the liveness check failed: a photo, a screen, a replay); left before the verdict (a
grant waited for the live verdict and the face went away first); and hints that are not decisions
(come closer, look at the camera, hold still, blink). Several faces in view: the largest
(closest) one acts, and the decision says how many faces there were.
"""

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import Enum

from kiosk.manifest import ThresholdSpec
from kiosk.recognition.quality import FaceQuality, QualityGates, QualityProblem
from kiosk.store.records import Person

log = logging.getLogger(__name__)


class Outcome(str, Enum):
    GRANTED = "granted"
    DENIED = "denied"
    UNKNOWN = "unknown"
    SPOOF_SUSPECTED = "spoof_suspected"  # never opens the door
    LEFT_BEFORE_VERDICT = "left_before_verdict"  # recognised, held for liveness, gone before its verdict


class Hint(str, Enum):
    COME_CLOSER = "come_closer"
    LOOK_AT_CAMERA = "look_at_camera"
    HOLD_STILL = "hold_still"
    MORE_LIGHT = "more_light"
    BLINK = "blink"            # the liveness check asks for an action (kiosk/liveness/challenge.py)
    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"
    LOOK_UP = "look_up"
    SMILE = "smile"
    SHOW_CARD = "show_card"    # a card_and_face door waits for a card
    SHOW_CODE = "show_code"    # a code_and_face door waits for a code held up to the camera
    TYPE_PIN = "type_pin"      # a pin_and_face door waits for a PIN on its keypad


@dataclass(frozen=True, kw_only=True)
class Decision:
    """One per visit; what the door, the audit log, attendance and the screen act on."""

    outcome: Outcome
    at_ms: int
    track_id: int
    person_id: str | None = None
    display_name: str | None = None
    distance: float | None = None
    reason: str = ""
    faces_in_view: int = 1
    door: str = ""
    visit_ms: int = 0  # from the first frame of the visit to this decision, on the source's clock
    card: str | None = field(default=None, repr=False)  # the person's card, for a panel's reader output only

    def to_dict(self) -> dict:
        data = asdict(self)
        del data["card"]  # a webhook or a broker has no use for a credential
        data["outcome"] = self.outcome.value
        if self.distance is not None:
            data["distance"] = round(self.distance, 4)
        return data


@dataclass(frozen=True, kw_only=True)
class VisitMoment:
    """Where and when a visit reaches its decision: what every Decision repeats."""

    at_ms: int
    track_id: int
    started_ms: int
    faces_in_view: int


def threshold_for_gallery(spec: ThresholdSpec, false_accepts_per_day: float, attempts_per_day: int,
                          templates: int) -> float:
    """The threshold whose false match rate keeps expected false accepts per day under the target:
    each attempt meets every stored template (a person with five templates is five comparisons), so
    the rate per comparison must shrink as the gallery grows. Never looser than the calibrated 1:1
    threshold; past the strictest calibrated point the strictest is used, and the expected false
    accepts it allows are logged."""
    needed_fmr = false_accepts_per_day / max(1, attempts_per_day * max(1, templates))
    strictest = min([spec.target_fmr, *spec.operating_points])
    if needed_fmr < strictest:
        log.warning("%d templates at %d visits a day need FMR %.1g for %.2g false accepts a day; the strictest "
                    "calibrated threshold (FMR %g) allows about %.2g a day", templates, attempts_per_day, needed_fmr,
                    false_accepts_per_day, strictest, strictest * attempts_per_day * templates)
    return min(spec.value, spec.at_fmr(max(needed_fmr, strictest)))


def hint_for(quality: FaceQuality, gates: QualityGates) -> Hint | None:
    problems = quality.problems(gates)
    if QualityProblem.TOO_SMALL in problems:
        return Hint.COME_CLOSER
    if QualityProblem.TURNED_AWAY in problems:
        return Hint.LOOK_AT_CAMERA
    if QualityProblem.BLURRED in problems:
        return Hint.HOLD_STILL
    if QualityProblem.TOO_DARK in problems or QualityProblem.TOO_BRIGHT in problems:
        return Hint.MORE_LIGHT
    return None


def access_problem(person: Person, door: str, now: datetime) -> str | None:
    """Why a recognised person may not pass now (kiosk local time), or None."""
    today = now.date()
    if not person.enabled:
        return "disabled"
    if person.schedule and not person.schedule.allows(now):
        return f"outside schedule ({person.schedule})"
    if person.valid_from and today < person.valid_from:
        return f"not valid before {person.valid_from}"
    if person.valid_until and today > person.valid_until:
        return f"expired on {person.valid_until}"
    if person.doors and door not in person.doors:
        return f"not allowed at door {door}"
    return None


def in_standing() -> str | None:
    """A door on its own may always grant (a door of a site may not when it lost the site for too long)."""
    return None


@dataclass
class Decider:
    """Access policy, and nothing else: who may pass this door now, and one decision per person per
    cooldown. Recognition (who is this?) is the visit's business (kiosk/runtime/visit.py)."""

    door: str
    cooldown_ms: int
    people: dict[str, Person]
    last_decided_ms: dict[str, int] = field(default_factory=dict)
    standing: Callable[[], str | None] = in_standing  # why this door may grant nobody now (its site out of reach)

    def recognised(self, person_id: str, distance: float, moment: VisitMoment, now: datetime,
                   held: bool = False) -> Decision | None:
        """Granted or denied for a recognised person; None within the cooldown (the same visit seen
        again after a lost track). A grant `held` for the live verdict starts no cooldown: only what
        is recorded does (`release` starts it), so a visit that restarts before its verdict is still
        decided."""
        if self._cooling(person_id, moment.at_ms):
            return None
        person = self.people.get(person_id)
        problem = (access_problem(person, self.door, now) or self.standing()) if person else "no longer in the gallery"
        decision = self._decision(Outcome.DENIED if problem else Outcome.GRANTED, moment, person_id=person_id,
                                  display_name=person.display_name if person else person_id, distance=distance,
                                  reason=problem or "", card=person.card if person else None)
        if not (held and decision.outcome is Outcome.GRANTED):
            self.last_decided_ms[person_id] = moment.at_ms
        return decision

    def release(self, held: Decision, at_ms: int) -> bool:
        """A held grant goes through now (the live verdict came), unless the person was decided in the
        meantime by another visit; the cooldown starts here."""
        assert held.person_id is not None, "only a recognised person's grant is held"
        if self._cooling(held.person_id, at_ms):
            return False
        self.last_decided_ms[held.person_id] = at_ms
        return True

    def left_before_verdict(self, held: Decision, moment: VisitMoment, pending: str) -> Decision:
        """A held grant whose face went away (track lost, replaced, the camera stopped) before the
        live verdict: never a grant, always recorded."""
        return self._decision(Outcome.LEFT_BEFORE_VERDICT, moment, person_id=held.person_id,
                              display_name=held.display_name, distance=held.distance,
                              reason=f"left before the liveness check ended ({pending})")

    def _cooling(self, person_id: str, at_ms: int) -> bool:
        last = self.last_decided_ms.get(person_id)
        return last is not None and at_ms - last < self.cooldown_ms

    def unknown(self, distance: float, moment: VisitMoment) -> Decision:
        return self._decision(Outcome.UNKNOWN, moment, distance=distance, reason="no enrolled person matches")

    def spoof_suspected(self, reason: str, moment: VisitMoment, held: Decision | None) -> Decision:
        """Never opens the door; a grant it cancels must not hold back the real person's visit."""
        if held is not None:
            self.forget(held.person_id)
        return self._decision(Outcome.SPOOF_SUSPECTED, moment, person_id=held.person_id if held else None,
                              display_name=held.display_name if held else None,
                              distance=held.distance if held else None, reason=reason)

    def claim_refused(self, person_id: str | None, shown: str, reason: str, moment: VisitMoment) -> Decision:
        """A card or code the door cannot use (unknown card, expired or forged code): no face is checked."""
        return self._decision(Outcome.DENIED, moment, person_id=person_id, display_name=shown, reason=reason)

    def forget(self, person_id: str | None) -> None:
        self.last_decided_ms.pop(person_id or "", None)

    def _decision(self, outcome: Outcome, moment: VisitMoment, **details) -> Decision:
        return Decision(outcome=outcome, at_ms=moment.at_ms, track_id=moment.track_id,
                        faces_in_view=moment.faces_in_view, door=self.door,
                        visit_ms=moment.at_ms - moment.started_ms, **details)
