"""One visit: a face in front of the door, from its first frame to its decision, in one object.

The tracker follows a face's box; the visit holds everything learnt about the person in it: the
fused evidence of the frames seen so far, the liveness session, a grant held for the live verdict,
and what was decided. `step` takes what one frame gave and returns a decision to act on, a hint
for the screen, or nothing; it never touches the store or the doors (KioskRunner acts).

States: COLLECTING (frames are fused until the evidence names someone below the threshold, or
`max_frames` pass without), HELD (recognised and allowed, the grant waits for the live verdict;
every other frame is embedded, the cues of the frame between wait until the next probe shows the
same face), DECIDED (one decision made; re-checked every `recheck_every` frames, so that someone who steps
into the same place gets a visit of their own), SPOOF (liveness refused the face; reported once).

Evidence: the quality-weighted mean of the frames' unit probes, scaled back to unit length. A frame
inside every quality gate weighs 1; one a little past a gate (slightly turned, slightly small) still
counts, less the further it is past (`evidence_weight`), while its hint is shown; one far past a
gate counts nothing. One frame is judged at the single-probe threshold; several at the fused
threshold, calibrated on fused three-photo visits and never looser than the single one (video
frames are nearly alike, so a fused video probe is between the two). A probe further from the
visit's evidence than `continuity` (the calibrated 1:1 threshold) is not the same face: the visit
starts over, and nothing (evidence, liveness, a held grant) carries to the newcomer. Comparing with
the evidence, not the last frame, keeps one odd frame from splitting one person's visit.

A held grant belongs to the person, not to the track: when its face is lost (a hand-held print that
jumps, a duplicate detection that takes the acting role, a face replaced in place) the grant and its
liveness evidence wait in `PendingVerdicts`; the same person recognised again soon after picks them
up (the clock keeps running, the prompt stays), and a grant nobody picks up is recorded as left
before the verdict. Every held grant thus ends in one recorded outcome.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import Protocol

import numpy as np

from kiosk.liveness.fusion import LivenessState, Verdict
from kiosk.recognition.faces import DetectedFace
from kiosk.recognition.matching import GalleryIndex
from kiosk.runtime.decisions import Decider, Decision, Hint, Outcome, VisitMoment


class VisitState(str, Enum):
    COLLECTING = "collecting"
    HELD = "held"
    DECIDED = "decided"
    SPOOF = "spoof"


@dataclass(frozen=True)
class VisitPolicy:
    """Thresholds for this gallery's size, and how much evidence a decision needs."""

    single_threshold: float  # one frame's probe against a template
    fused_threshold: float   # several frames fused against a template (never looser than single)
    continuity: float        # a probe further from the visit's evidence: another face
    min_frames: int = 2      # frames of evidence before a grant
    max_frames: int = 8      # frames of evidence without a match: unknown
    recheck_every: int = 8   # frames between checks of a decided visit

    def threshold(self, frames: int) -> float:
        return self.single_threshold if frames == 1 else min(self.single_threshold, self.fused_threshold)


@dataclass(frozen=True)
class Gallery:
    """What a visit is matched against; replaced as a whole when the store changes."""

    index: GalleryIndex
    policy: VisitPolicy
    decider: Decider


class LivenessJudge(Protocol):
    state: LivenessState  # the latest verdict

    @property
    def wants_texture(self) -> bool: ...

    def update(self, face: DetectedFace, rgb: np.ndarray, timestamp_ms: int,
               texture: float | None = None) -> LivenessState: ...


@dataclass(frozen=True)
class Unfinished:
    """A held grant whose face went away before the live verdict, with the evidence gathered so far."""

    held: Decision
    liveness: LivenessJudge | None
    started_ms: int
    ended_ms: int
    track_id: int

    def pending(self) -> str:
        """What the visit was waiting for, in words for the audit."""
        state = self.liveness.state if self.liveness is not None else None
        asked = f", asked to {state.prompt.value.replace('_', ' ')}" if state is not None and state.prompt else ""
        return f"no sign of life yet after {(self.ended_ms - self.started_ms) / 1000:.1f} s{asked}"


class PendingVerdicts:
    """Grants held for the live verdict, across tracks. `visits` is the kiosk's own map of live visits."""

    def __init__(self, visits: "dict[int, Visit]", resume_within_ms: int):
        self.visits, self.resume_within_ms = visits, resume_within_ms
        self.unfinished: list[Unfinished] = []

    def left(self, unfinished: Unfinished) -> None:
        self.unfinished.append(unfinished)

    def resume(self, person_id: str, asker: "Visit", at_ms: int) -> Unfinished | None:
        """The same person's held grant from another live track (handed over) or from a track lost
        within `resume_within_ms`; None if there is none."""
        for visit in self.visits.values():
            if visit is not asker and visit.state is VisitState.HELD and visit.held_for == person_id:
                return visit.hand_over(at_ms)
        for unfinished in self.unfinished:
            if unfinished.held.person_id == person_id and at_ms - unfinished.ended_ms <= self.resume_within_ms:
                self.unfinished.remove(unfinished)
                return unfinished
        return None

    def expired(self, at_ms: int) -> list[Unfinished]:
        """Held grants whose face did not come back in time: they left before the verdict."""
        gone = [u for u in self.unfinished if at_ms - u.ended_ms > self.resume_within_ms]
        self.unfinished = [u for u in self.unfinished if u not in gone]
        return gone

    def close(self, at_ms: int) -> list[Unfinished]:
        """The stream ended: every grant still held, in a live track or waiting, is unfinished."""
        held = [visit.hand_over(at_ms) for visit in self.visits.values()]
        gone, self.unfinished = self.unfinished + [u for u in held if u is not None], []
        return gone


@dataclass(frozen=True)
class FrameEvidence:
    """What one frame shows of the visit's face; the probe is computed only if the visit needs it."""

    at_ms: int
    face: DetectedFace
    rgb: np.ndarray
    faces_in_view: int
    hint: Hint | None                # a quality problem, shown to the person
    probe: Callable[[], np.ndarray]  # the face's unit probe in the templates' space
    texture: float | None = None     # the texture cue's live probability, where the first stage computed it
    weight: float = 1.0              # how much the probe counts (`evidence_weight`); 0: nothing until fixed


@dataclass(frozen=True)
class VisitStep:
    decision: Decision | None = None
    hint: Hint | None = None
    restarted: bool = False  # another face took this visit's place


LIVE = LivenessState(Verdict.LIVE)


class Visit:
    def __init__(self, track_id: int, started_ms: int, liveness: Callable[[], LivenessJudge] | None,
                 pending: PendingVerdicts | None = None):
        self.track_id = track_id
        self._new_liveness = liveness
        self.pending = pending
        self._begin(started_ms)

    def _begin(self, started_ms: int) -> None:
        """A fresh visit: no evidence, no liveness, nothing held or decided."""
        self.state = VisitState.COLLECTING
        self.started_ms = started_ms
        self.evidence = np.empty(0, dtype=np.float32)
        self.frames = 0
        self.liveness = self._new_liveness() if self._new_liveness else None
        self.held: Decision | None = None
        self.decided_person: str | None = None
        self.since_check = 0
        self.deferred: FrameEvidence | None = None  # a held visit's frame whose cues wait for the next probe

    @property
    def held_for(self) -> str | None:
        return self.held.person_id if self.held is not None else None

    def hand_over(self, at_ms: int) -> Unfinished | None:
        """The held grant and its evidence, if any, leave this visit (its face is gone or the same
        person is acting in another track); this visit starts over."""
        if self.state is not VisitState.HELD or self.held is None:
            return None
        unfinished = Unfinished(self.held, self.liveness, self.started_ms, at_ms, self.track_id)
        self._begin(at_ms)
        return unfinished

    def _restart(self, at_ms: int) -> None:
        """Another face took this place: a grant still held waits for its own face to come back."""
        unfinished = self.hand_over(at_ms)  # a held visit starts over as it hands over
        if unfinished is None:
            self._begin(at_ms)
        elif self.pending is not None:
            self.pending.left(unfinished)

    def step(self, frame: FrameEvidence, gallery: Gallery, now: datetime) -> VisitStep:
        if self.state in (VisitState.DECIDED, VisitState.SPOOF):
            return self._recheck(frame, gallery, now)
        if frame.weight <= 0:
            self._feed_deferred()
            liveness = self._liveness(frame)  # the cues keep watching while the person fixes their pose
            if liveness.verdict is Verdict.SPOOF:
                return self._spoof(frame, gallery, liveness)
            return VisitStep(hint=_prompt(liveness) or frame.hint)
        if self.state is VisitState.HELD and self.deferred is None and self.liveness is not None:
            # While a grant waits for the live verdict, every other frame is embedded: this frame's cues
            # wait for the next frame's probe to show the face is still the one recognised, so a face
            # swapped in between lends the held grant nothing (half the embeddings of a long wait).
            self.deferred = frame
            return VisitStep(hint=_prompt(self.liveness.state) or frame.hint)
        probe = frame.probe()
        if self.deferred is not None and not self._someone_else(probe, gallery.policy):
            self._feed_deferred()
        self.deferred = None  # a face swapped in: the frame before it is not trusted either
        step = self._collect(frame, probe, gallery, now, restarted=False)
        if step.decision is None and step.hint is None and frame.hint is not None:
            return replace(step, hint=frame.hint)  # the frame counted, and the person may still improve it
        return step

    def _collect(self, frame: FrameEvidence, probe: np.ndarray, gallery: Gallery, now: datetime,
                 restarted: bool) -> VisitStep:
        if self._someone_else(probe, gallery.policy):
            self._restart(frame.at_ms)
            restarted = True
        weighted = np.float32(frame.weight) * probe
        self.evidence = weighted if self.frames == 0 else self.evidence + weighted
        self.frames += 1
        liveness = self._liveness(frame)
        if liveness.verdict is Verdict.SPOOF:
            return self._spoof(frame, gallery, liveness)  # its evidence stays: a new face there is told apart
        if self.state is VisitState.HELD:
            return self._release_if_live(frame, liveness, gallery.decider, restarted)
        fused = self.evidence / np.linalg.norm(self.evidence)
        person_id, distance = gallery.index.nearest(fused[None])
        if person_id is not None and distance < gallery.policy.threshold(self.frames) \
                and self.frames >= gallery.policy.min_frames:
            earlier = self.pending.resume(person_id, self, frame.at_ms) if self.pending is not None else None
            if earlier is not None and liveness.verdict is not Verdict.LIVE:
                # the same person's held grant, lost moments ago: its evidence and its clock go on here
                self.liveness, self.started_ms, self.held = earlier.liveness, earlier.started_ms, earlier.held
                liveness = self._liveness(frame)
                if liveness.verdict is Verdict.SPOOF:
                    return self._spoof(frame, gallery, liveness)
                self.held = None
            return self._recognised(person_id, distance, self._moment(frame), liveness, gallery.decider, now,
                                    restarted)
        moment = self._moment(frame)
        if self.frames >= gallery.policy.max_frames:
            self._decide(None)
            return VisitStep(gallery.decider.unknown(distance, moment), restarted=restarted)
        return VisitStep(hint=_prompt(liveness), restarted=restarted)

    def _recognised(self, person_id: str, distance: float, moment: VisitMoment, liveness: LivenessState,
                    decider: Decider, now: datetime, restarted: bool) -> VisitStep:
        waiting = liveness.verdict is not Verdict.LIVE
        decision = decider.recognised(person_id, distance, moment, now, held=waiting)
        if decision is not None and decision.outcome is Outcome.GRANTED and waiting:
            self.state, self.held, self.decided_person = VisitState.HELD, decision, person_id
            return VisitStep(hint=_prompt(liveness), restarted=restarted)
        self._decide(person_id)
        return VisitStep(decision, restarted=restarted)  # None: decided moments ago, in a track now lost

    def _release_if_live(self, frame: FrameEvidence, liveness: LivenessState, decider: Decider,
                         restarted: bool) -> VisitStep:
        if liveness.verdict is not Verdict.LIVE:
            return VisitStep(hint=_prompt(liveness), restarted=restarted)
        held = self.held
        assert held is not None, "a held visit holds its grant"
        self._decide(held.person_id)
        if not decider.release(held, frame.at_ms):
            return VisitStep(restarted=restarted)  # granted meanwhile through another visit
        return VisitStep(replace(held, at_ms=frame.at_ms, visit_ms=frame.at_ms - self.started_ms), restarted=restarted)

    def _recheck(self, frame: FrameEvidence, gallery: Gallery, now: datetime) -> VisitStep:
        """A decided (or refused) visit looks again now and then: is it still the same face?"""
        self.since_check += 1
        if frame.hint is not None or self.since_check < gallery.policy.recheck_every:
            return VisitStep()
        self.since_check = 0
        probe = frame.probe()
        if not self._changed(probe, gallery):
            return VisitStep()
        self._restart(frame.at_ms)
        return self._collect(frame, probe, gallery, now, restarted=True)

    def _changed(self, probe: np.ndarray, gallery: Gallery) -> bool:
        """Another face than the one decided: too far from the visit's evidence; or, still close to it, a
        match for someone other than the person decided (a visitor decided unknown who now matches
        someone gets a second chance; a recognised person whose frame matches nobody, an odd pose, does not
        lose the visit)."""
        if self._someone_else(probe, gallery.policy):
            return True
        if self.state is not VisitState.DECIDED:
            return False  # the refused face is still there
        person_id, distance = gallery.index.nearest(probe[None])
        now_matches = person_id if distance < gallery.policy.single_threshold else None
        return now_matches not in (None, self.decided_person)

    def _spoof(self, frame: FrameEvidence, gallery: Gallery, liveness: LivenessState) -> VisitStep:
        decision = gallery.decider.spoof_suspected(liveness.reason, self._moment(frame), self.held)
        self.state, self.held, self.decided_person = VisitState.SPOOF, None, None
        return VisitStep(decision)

    def _decide(self, person_id: str | None) -> None:
        self.state, self.held, self.decided_person, self.since_check = VisitState.DECIDED, None, person_id, 0

    def _someone_else(self, probe: np.ndarray, policy: VisitPolicy) -> bool:
        """A probe further from the visit's evidence than the calibrated 1:1 threshold would not even
        match it: not the same face any more."""
        if self.frames == 0:
            return False
        fused = self.evidence / np.linalg.norm(self.evidence)
        return float(np.linalg.norm(fused - probe)) >= policy.continuity

    def _feed_deferred(self) -> None:
        """The waiting frame's cues go in before the frame after it (its verdict is read with that frame's)."""
        if self.deferred is not None:
            self._liveness(self.deferred)
            self.deferred = None

    def _liveness(self, frame: FrameEvidence) -> LivenessState:
        return self.liveness.update(frame.face, frame.rgb, frame.at_ms, frame.texture) if self.liveness else LIVE

    @property
    def wants_texture(self) -> bool:
        """Frames of this visit still feed a texture cue with no verdict yet."""
        return self.state in (VisitState.COLLECTING, VisitState.HELD) and self.liveness is not None \
            and self.liveness.wants_texture

    def _moment(self, frame: FrameEvidence) -> VisitMoment:
        return VisitMoment(at_ms=frame.at_ms, track_id=self.track_id, started_ms=self.started_ms,
                           faces_in_view=frame.faces_in_view)


def _prompt(liveness: LivenessState) -> Hint | None:
    return Hint(liveness.prompt.value) if liveness.prompt else None
