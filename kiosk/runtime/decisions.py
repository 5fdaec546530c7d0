"""From matched frames to one decision per visit: quality hints, an N-of-M vote, the person's rights.

Outcomes: granted; denied (known, but disabled, outside validity, or not for this door); unknown;
spoof suspected (the liveness check failed: a photo, a screen, a replay); and hints that are not
decisions (come closer, look at the camera, hold still, blink). Several faces in view: the largest
(closest) one acts, and the decision says how many faces there were.
"""

import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import Enum

import numpy as np

from kiosk.manifest import ThresholdSpec
from kiosk.recognition.quality import FaceQuality, QualityGates, QualityProblem
from kiosk.runtime.tracker import Track
from kiosk.store.records import Person

log = logging.getLogger(__name__)


class Outcome(str, Enum):
    GRANTED = "granted"
    DENIED = "denied"
    UNKNOWN = "unknown"
    SPOOF_SUSPECTED = "spoof_suspected"  # never opens the door


class Hint(str, Enum):
    COME_CLOSER = "come_closer"
    LOOK_AT_CAMERA = "look_at_camera"
    HOLD_STILL = "hold_still"
    MORE_LIGHT = "more_light"
    BLINK = "blink"            # the liveness check asks for it
    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"


@dataclass(frozen=True)
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

    def to_dict(self) -> dict:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        if self.distance is not None:
            data["distance"] = round(self.distance, 4)
        return data


@dataclass(frozen=True)
class DecisionPolicy:
    threshold: float
    votes_needed: int = 3      # N matching frames ...
    vote_window: int = 5       # ... among the last M matched frames
    cooldown_ms: int = 10_000  # the same person is not decided twice within this time
    door: str = "main"


def threshold_for_gallery(spec: ThresholdSpec, false_accepts_per_day: float, attempts_per_day: int,
                          people: int) -> float:
    """The threshold whose false match rate keeps expected false accepts per day under the target:
    each attempt meets every enrolled person, so the rate per comparison must shrink as the gallery
    grows. Never looser than the calibrated 1:1 threshold; past the strictest calibrated point the
    strictest is used, and the expected false accepts it allows are logged."""
    needed_fmr = false_accepts_per_day / max(1, attempts_per_day * max(1, people))
    strictest = min([spec.target_fmr, *spec.operating_points])
    if needed_fmr < strictest:
        log.warning("%d people at %d visits a day need FMR %.1g for %.2g false accepts a day; the strictest "
                    "calibrated threshold (FMR %g) allows about %.2g a day", people, attempts_per_day, needed_fmr,
                    false_accepts_per_day, strictest, strictest * attempts_per_day * people)
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


@dataclass
class Decider:
    """Turns per-frame matches of the acting face into at most one decision per track."""

    policy: DecisionPolicy
    people: dict[str, Person]
    last_decided_ms: dict[str, int] = field(default_factory=dict)

    def still_same_visit(self, track: Track, person_id: str | None, distance: float) -> bool:
        """After a decision: does the face in this track still belong to whom it was decided for?"""
        now_matches = person_id if distance < self.policy.threshold else None
        return now_matches == track.decided_person

    def vote(self, track: Track, person_id: str | None, distance: float, at_ms: int, faces_in_view: int,
             now: datetime) -> Decision | None:
        if track.decided:
            return None
        match = person_id if distance < self.policy.threshold else None
        track.votes = (track.votes + [(match, distance)])[-self.policy.vote_window:]
        counts = Counter(pid for pid, _ in track.votes if pid is not None)
        if counts:
            leader, count = counts.most_common(1)[0]
            if count >= self.policy.votes_needed:
                return self._decide_known(track, leader, at_ms, faces_in_view, now)
        if len(track.votes) >= self.policy.vote_window and not counts:
            track.decided, track.decided_person = True, None
            best = min(d for _, d in track.votes)
            return Decision(Outcome.UNKNOWN, at_ms, track.track_id, distance=best, reason="no enrolled person matches",
                            faces_in_view=faces_in_view, door=self.policy.door, visit_ms=at_ms - track.first_seen_ms)
        return None

    def forget(self, person_id: str | None) -> None:
        """A grant that never happened (liveness failed) must not hold back the real person's visit."""
        self.last_decided_ms.pop(person_id or "", None)

    def _decide_known(self, track: Track, person_id: str, at_ms: int, faces_in_view: int, now: datetime) -> Decision | None:
        track.decided, track.decided_person = True, person_id
        last = self.last_decided_ms.get(person_id)
        if last is not None and at_ms - last < self.policy.cooldown_ms:
            return None  # the same visit seen again after a lost track
        self.last_decided_ms[person_id] = at_ms
        distance = float(np.median([d for pid, d in track.votes if pid == person_id]))
        person = self.people.get(person_id)
        name = person.display_name if person else person_id
        problem = access_problem(person, self.policy.door, now) if person else "no longer in the gallery"
        outcome = Outcome.DENIED if problem else Outcome.GRANTED
        return Decision(outcome, at_ms, track.track_id, person_id, name, distance, problem or "",
                        faces_in_view, self.policy.door, at_ms - track.first_seen_ms)
