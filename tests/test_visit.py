"""A visit's states as a table: what each frame of a scripted visit gives, and what the visit returns.

Probes are points round three people's templates in a 16-d unit space (a real GalleryIndex); the
liveness verdict of each frame is scripted, because it is the input under test here (the real cues
are tested on real videos in test_liveness). Each row is one case the kiosk met or must meet.
"""

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pytest

from kiosk.liveness.fusion import LivenessState, Prompt, Verdict
from kiosk.recognition.faces import DetectedFace
from kiosk.recognition.matching import GalleryIndex
from kiosk.runtime.decisions import Decider, Hint, Outcome, VisitMoment
from kiosk.runtime.visit import FrameEvidence, Gallery, PendingVerdicts, Visit, VisitPolicy, VisitState
from kiosk.store.records import Person

RNG = np.random.default_rng(7)
CENTRES = {name: v / np.linalg.norm(v) for name, v in zip(("ada", "bob", "eve"), RNG.standard_normal((3, 16)))}
PEOPLE = {"ada": Person("ada", "Ada"), "bob": Person("bob", "Bob"), "eve": Person("eve", "Eve", enabled=False)}
POLICY = VisitPolicy(single_threshold=0.5, fused_threshold=0.45, continuity=0.9, min_frames=2, max_frames=4,
                     recheck_every=3)
FACE = DetectedFace(np.zeros((478, 3), np.float32))
LIVE, PENDING, SPOOF = (LivenessState(Verdict.LIVE), LivenessState(Verdict.PENDING, prompt=Prompt.BLINK),
                        LivenessState(Verdict.SPOOF, "moves like a flat picture"))


def probe_of(who: str, seed: int) -> np.ndarray:
    """A frame of `who` (a member's centre plus noise), or of a stranger far from all of them."""
    centre = CENTRES.get(who)
    if centre is None:
        centre = np.random.default_rng(1000 + len(who)).standard_normal(16)
        centre /= np.linalg.norm(centre)
    noisy = centre + 0.05 * np.random.default_rng(seed).standard_normal(16)
    return (noisy / np.linalg.norm(noisy)).astype(np.float32)


@dataclass(frozen=True)
class Shot:
    """One frame: whose face, its liveness verdict, a quality hint and how much the frame counts
    (a hint with weight 0: far past a gate, no probe counts), and where its probe lies if not round
    the person's centre."""

    who: str
    liveness: LivenessState = LIVE
    hint: Hint | None = None
    weight: float = 1.0
    at: np.ndarray | None = None


class ScriptedLiveness:
    """Gives the scripted verdict of the frame it is fed (frames are 67 ms apart; the last shot's
    verdict stands after the script), and remembers which frames it was fed."""

    def __init__(self, shots: list[Shot]):
        self.shots, self.calls, self.fed = shots, 0, []

    wants_texture = False

    def update(self, face, rgb, timestamp_ms, texture=None) -> LivenessState:
        self.fed.append(timestamp_ms // 67)
        self.state = self.shots[min(timestamp_ms // 67, len(self.shots) - 1)].liveness
        self.calls += 1
        return self.state


def run(shots: list[Shot], decider: Decider | None = None, visit: Visit | None = None):
    """Outcomes per frame ('granted ada', 'unknown', None ...), and how many probes were computed."""
    gallery = Gallery(GalleryIndex(np.stack(list(CENTRES.values())), np.array(list(CENTRES), dtype=object)), POLICY,
                      decider or Decider("main", 10_000, PEOPLE))
    liveness = ScriptedLiveness(shots)
    visit = visit or Visit(1, 0, lambda: liveness)
    probes, outcomes = [], []
    for index, shot in enumerate(shots):
        def probe(who=shot.who, seed=index, at=shot.at):
            probes.append(seed)
            return probe_of(who, seed) if at is None else at
        step = visit.step(FrameEvidence(at_ms=index * 67, face=FACE, rgb=np.zeros((4, 4, 3), np.uint8),
                                        faces_in_view=1, hint=shot.hint, probe=probe, weight=shot.weight), gallery,
                          datetime(2026, 12, 2, 9))
        decision = step.decision
        outcomes.append(f"{decision.outcome.value} {decision.person_id}".replace(" None", "") if decision else
                        ("restart" if step.restarted else step.hint.value if step.hint and shot.hint else None))
    return outcomes, probes, visit


def turned(degrees: float, who: str = "zed") -> np.ndarray:
    """A probe of `who` (by default a stranger), turned by `degrees` in one plane round their own centre."""
    centre = probe_of(who, 0)
    side = RNG.standard_normal(16)
    side -= side.dot(centre) * centre
    side /= np.linalg.norm(side)
    angle = np.radians(degrees)
    return (np.cos(angle) * centre + np.sin(angle) * side).astype(np.float32)


ROWS = [
    ("a member is granted once the fused frames match",
     [Shot("ada"), Shot("ada"), Shot("ada")], [None, "granted ada", None]),
    ("a stranger is unknown after max_frames of evidence",
     [Shot("zed")] * 5, [None, None, None, "unknown", None]),
    ("a disabled member is recognised and denied",
     [Shot("eve"), Shot("eve")], [None, "denied eve"]),
    ("a face swap before the decision starts over: nothing of the first face counts",
     [Shot("ada"), Shot("bob"), Shot("bob")], [None, "restart", "granted bob"]),
    ("a grant waits for the live verdict, then goes through",
     [Shot("ada", PENDING), Shot("ada", PENDING), Shot("ada", PENDING), Shot("ada", LIVE)],
     [None, None, None, "granted ada"]),
    ("a held grant is never released by the live verdict of a face that replaced the member "
     "(seen at the next embedded frame)",
     [Shot("ada", PENDING), Shot("ada", PENDING), Shot("bob", LIVE), Shot("bob", LIVE), Shot("bob", LIVE)],
     [None, None, None, "restart", "granted bob"]),
    ("a spoof verdict ends the visit once, cancelling a held grant (read with the next embedded frame)",
     [Shot("ada", PENDING), Shot("ada", PENDING), Shot("ada", SPOOF), Shot("ada", SPOOF), Shot("ada", SPOOF)],
     [None, None, None, "spoof_suspected ada", None]),
    ("after a spoof, a new face in the same place gets a visit of its own at the next check",
     [Shot("zed", SPOOF), Shot("bob"), Shot("bob"), Shot("bob"), Shot("bob")],
     ["spoof_suspected", None, None, "restart", "granted bob"]),
    ("a decided visit re-checks and gives the next person in the queue a decision",
     [Shot("ada"), Shot("ada"), Shot("ada"), Shot("ada"), Shot("bob"), Shot("bob")],
     [None, "granted ada", None, None, "restart", "granted bob"]),
    ("a granted member in a pose her template does not match, still close to her visit's evidence, keeps "
     "her visit: she is not told she is unknown after her welcome",
     [Shot("ada"), Shot("ada"), Shot("ada")] + [Shot("ada", at=turned(41, "ada"))] * 4 + [Shot("ada")] * 2,
     [None, "granted ada"] + [None] * 7),
    ("the decided person still standing there is not decided again",
     [Shot("ada")] * 9, [None, "granted ada"] + [None] * 7),
    ("a face far past a quality gate counts no evidence until it is fixed",
     [Shot("ada", hint=Hint.COME_CLOSER, weight=0), Shot("ada", hint=Hint.COME_CLOSER, weight=0), Shot("ada"),
      Shot("ada")],
     ["come_closer", "come_closer", None, "granted ada"]),
    ("a face a little past a gate counts at its weight, and its hint is shown",
     [Shot("ada", hint=Hint.LOOK_AT_CAMERA, weight=0.5), Shot("ada")], ["look_at_camera", "granted ada"]),
    ("a frame far from the last one but close to the visit's evidence does not split the visit",
     [Shot("zed", at=turned(25)), Shot("zed", at=turned(-25)), Shot("zed", at=turned(30)), Shot("zed", at=turned(0))],
     [None, None, None, "unknown"]),
]


@pytest.mark.parametrize("shots, expected", [(shots, expected) for _, shots, expected in ROWS],
                         ids=[name for name, _, _ in ROWS])
def test_a_visit_step_by_step(shots, expected):
    outcomes, _, _ = run(shots)
    assert outcomes == expected


def test_probes_are_computed_only_when_they_add_evidence():
    shots = [Shot("ada", hint=Hint.LOOK_AT_CAMERA, weight=0), Shot("ada"), Shot("ada")] + [Shot("ada")] * 6
    _, probes, visit = run(shots)
    # not for the hinted frame; one per frame until the decision; then one per re-check
    assert probes == [1, 2, 5, 8] and visit.state is VisitState.DECIDED


def test_the_same_person_in_a_new_track_within_the_cooldown_gets_no_second_decision():
    decider = Decider("main", 10_000, PEOPLE)
    first, _, _ = run([Shot("ada"), Shot("ada")], decider)
    second, _, _ = run([Shot("ada"), Shot("ada")], decider)
    assert first == [None, "granted ada"] and second == [None, None]


def test_a_restart_feeds_the_frame_to_the_new_visit_s_liveness_only():
    sessions = []

    def new_session():
        sessions.append(ScriptedLiveness([Shot("ada")] * 3))
        return sessions[-1]

    visit = Visit(1, 0, new_session)
    gallery = Gallery(GalleryIndex(np.stack(list(CENTRES.values())), np.array(list(CENTRES), dtype=object)), POLICY,
                      Decider("main", 10_000, PEOPLE))
    for index, who in enumerate(("ada", "bob")):
        visit.step(FrameEvidence(at_ms=index * 67, face=FACE, rgb=np.zeros((4, 4, 3), np.uint8), faces_in_view=1,
                                 hint=None, probe=lambda w=who, i=index: probe_of(w, i)), gallery, datetime.now())
    assert [session.calls for session in sessions] == [1, 1]


def test_a_held_grant_embeds_every_other_frame_and_its_liveness_never_sees_a_face_swapped_in():
    sessions = []

    def new_session():
        sessions.append(ScriptedLiveness([Shot("ada", PENDING)] * 4 + [Shot("bob", LIVE)] * 3))
        return sessions[-1]

    shots = [Shot("ada", PENDING)] * 4 + [Shot("bob", LIVE)] * 3
    outcomes, probes, _ = run(shots, visit=Visit(1, 0, new_session))
    assert outcomes == [None] * 5 + ["restart", "granted bob"]
    assert probes == [0, 1, 3, 5, 6]  # held from frame 1: frames 2 and 4 wait for the next probe
    # frame 4 (Bob, not embedded) never reached Ada's held grant, though it said live; Bob's visit starts at 5
    assert sessions[0].fed == [0, 1, 2, 3] and sessions[1].fed == [5, 6]


def held_visit(track_id: int, started_ms: int, pending: PendingVerdicts, gallery: Gallery, frames: int) -> Visit:
    """A visit of Ada whose grant is held (her liveness pending) after `frames` frames."""
    visit = Visit(track_id, started_ms, lambda: ScriptedLiveness([Shot("ada", PENDING)]), pending)
    pending.visits[track_id] = visit
    for index in range(frames):
        visit.step(FrameEvidence(at_ms=started_ms + index * 67, face=FACE, rgb=np.zeros((4, 4, 3), np.uint8),
                                 faces_in_view=1, hint=None, probe=lambda i=index: probe_of("ada", i)),
                   gallery, datetime(2026, 12, 2, 9))
    return visit


def test_a_held_grant_goes_with_the_person_to_a_new_track_and_starts_no_cooldown():
    decider = Decider("main", 10_000, PEOPLE)
    gallery = Gallery(GalleryIndex(np.stack(list(CENTRES.values())), np.array(list(CENTRES), dtype=object)), POLICY,
                      decider)
    pending = PendingVerdicts({}, resume_within_ms=2000)
    first = held_visit(1, 0, pending, gallery, frames=3)
    assert first.state is VisitState.HELD and decider.last_decided_ms == {}  # held: no cooldown yet
    evidence = first.liveness
    second = held_visit(2, 300, pending, gallery, frames=2)  # a duplicate detection takes the acting role
    assert second.state is VisitState.HELD and second.liveness is evidence and second.started_ms == 0
    assert first.state is VisitState.COLLECTING and first.held is None  # handed over, not held twice
    del pending.visits[2]
    pending.left(second.hand_over(500))
    assert pending.expired(2400) == [] and len(pending.expired(2600)) == 1  # not back within 2 s: it left


def test_a_held_grant_left_behind_is_recorded_once_as_left_before_the_verdict():
    decider = Decider("main", 10_000, PEOPLE)
    gallery = Gallery(GalleryIndex(np.stack(list(CENTRES.values())), np.array(list(CENTRES), dtype=object)), POLICY,
                      decider)
    pending = PendingVerdicts({}, resume_within_ms=2000)
    held_visit(1, 0, pending, gallery, frames=3)
    (gone,) = pending.close(900)
    decision = decider.left_before_verdict(gone.held, VisitMoment(at_ms=900, track_id=1, started_ms=0,
                                                                  faces_in_view=0), gone.pending())
    assert decision.outcome is Outcome.LEFT_BEFORE_VERDICT and decision.person_id == "ada"
    assert "no sign of life yet after 0.9 s, asked to blink" in decision.reason
    assert pending.close(1000) == []  # recorded once
