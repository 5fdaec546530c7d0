"""The kiosk loop: one worker owns the models and the store; frames in, decisions out.

Per frame: landmarks (VIDEO mode) -> tracks -> the largest face acts -> liveness cues -> quality
hint or embed -> probe into the protected space -> 1:N match -> N-of-M vote -> decision -> audit,
attendance, doors. A grant waits for the live verdict; a spoof verdict ends the visit.
"""

import hashlib
import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone

import numpy as np

from kiosk.config import DoorConfig, KioskConfig
from kiosk.recognition.faces import DetectedFace
from kiosk.liveness.fusion import LivenessSession, LivenessState, Verdict
from kiosk.liveness.texture import TextureLivenessModel
from kiosk.manifest import load_liveness_manifest
from kiosk.recognition.matching import GalleryIndex
from kiosk.recognition.pipeline import FacePipeline
from kiosk.protection import TemplateProtector
from kiosk.runtime.attendance import AttendanceRecorder
from kiosk.runtime.capture import CaptureThread, SourceEvent
from kiosk.runtime.decisions import Decider, Decision, DecisionPolicy, Hint, Outcome, hint_for, threshold_for_gallery
from kiosk.runtime.doors import DoorDispatcher
from kiosk.runtime.tracker import FaceTracker, Track
from kiosk.sources import Frame
from kiosk.store.gallery import GalleryStore

log = logging.getLogger(__name__)

# A decided visit is re-checked every this many frames, so that someone who steps into the place
# of the person just decided (a queue at the door) gets a decision of their own.
RECHECK_EVERY = 8


@dataclass(frozen=True)
class FrameStatus:
    """What the screen shows for a frame: the acting face's box and a hint, or the decision."""

    frame: Frame
    box: tuple[float, float, float, float] | None
    faces: int
    hint: Hint | None
    decision: Decision | None


class KioskRunner:
    def __init__(self, config: KioskConfig, store: GalleryStore, pipeline: FacePipeline, protector: TemplateProtector,
                 dispatcher: DoorDispatcher, door: DoorConfig | None = None):
        self.config, self.store, self.pipeline, self.protector = config, store, pipeline, protector
        self.dispatcher = dispatcher
        self.door = door or config.doors[0]
        self.gates = config.recognition.quality.gates()
        self.tracker = FaceTracker()
        self.attendance = AttendanceRecorder(store, self.door.attendance if config.attendance.enabled else "none",
                                             config.attendance.dedup_minutes)
        self._source_events: queue.Queue[SourceEvent] = queue.Queue()
        self.frame_ms: list[float] = []
        liveness = config.liveness
        self.liveness_policy = liveness.policy() if liveness.enabled else None
        self.texture = (TextureLivenessModel(load_liveness_manifest(), config.models.provider, threads=1)
                        if liveness.enabled and liveness.texture else None)
        self.reload_gallery()

    def reload_gallery(self) -> None:
        """Read people and templates (disabled people too: they are recognised, then denied)."""
        model_id = self.pipeline.manifest.id
        gallery = self.store.gallery_matrix(model_id, enabled_only=False)
        self.gallery = GalleryIndex(gallery.templates, gallery.person_ids)
        people = {p.id: p for p in self.store.list_people()}
        recognition = self.config.recognition
        calibrated = self.protector.threshold  # clean probe vs protected template
        threshold = recognition.threshold or threshold_for_gallery(
            calibrated, recognition.false_accepts_per_day, recognition.attempts_per_day, len(people))
        self.decider = Decider(DecisionPolicy(threshold, recognition.votes_needed, recognition.vote_window,
                                              int(recognition.cooldown_s * 1000), self.door.name), people)
        log.info("gallery: %d people, %d templates, threshold %.4f", len(people), len(self.gallery), threshold)

    @property
    def threshold(self) -> float:
        return self.decider.policy.threshold

    def audit_config(self, config_text: str) -> None:
        """Audit the configuration the kiosk starts with, when it differs from the last one it ran."""
        digest = hashlib.sha256(config_text.encode()).hexdigest()
        last = self.store.events(limit=1, kinds=("config_changed",))
        if not last or last[0][3].get("sha256") != digest:
            with self.store.transaction():
                self.store.log_event("config_changed", None, sha256=digest, door=self.door.name)

    def source_event(self, event: SourceEvent) -> None:
        """Called from the capture thread; the audit write happens on the worker's thread."""
        self._source_events.put(event)

    def _drain_source_events(self) -> None:
        while not self._source_events.empty():
            event = self._source_events.get_nowait()
            log.log(logging.INFO if event.kind == "source_ended" else logging.WARNING, "camera: %s (%s)",
                    event.kind, event.detail)
            with self.store.transaction():
                self.store.log_event(event.kind, None, detail=event.detail, door=self.door.name)

    def process(self, frame: Frame, now: datetime | None = None) -> FrameStatus:
        self._drain_source_events()
        aligned = self.pipeline.detect_and_align(frame.rgb, frame.timestamp_ms)
        tracks = self.tracker.update([a.face for a in aligned], frame.timestamp_ms)
        if not aligned:
            return FrameStatus(frame, None, 0, None, None)
        acting = max(range(len(aligned)), key=lambda i: aligned[i].face.area)
        face, track = aligned[acting], tracks[acting]
        box, faces = face.face.box, len(aligned)
        liveness = self._liveness(track, face.face, frame)
        if liveness.verdict is Verdict.SPOOF:
            return FrameStatus(frame, box, faces, None, self._spoof_suspected(track, liveness, frame.timestamp_ms, faces))
        prompt = Hint(liveness.prompt.value) if liveness.prompt else None
        quality_hint = hint_for(face.quality, self.gates)
        if quality_hint is not None or len(self.gallery) == 0:
            return FrameStatus(frame, box, faces, prompt or quality_hint, None)
        if track.decided and track.pending is None:
            track.frames_since_check += 1
            if track.frames_since_check < RECHECK_EVERY:
                return FrameStatus(frame, box, faces, None, None)
            track.frames_since_check = 0
        probe = self.protector.probe_space(self.pipeline.embedder.embed(face.chip[None]))
        person_id, distance = self.gallery.nearest(probe)
        if self._someone_else(track, probe):
            # The face in this track is now another person's (a photo raised in front of a live face,
            # or the reverse): votes, a held grant and liveness evidence all start over.
            liveness = self._new_visit(track, face.face, frame)
        elif track.decided and track.pending is None:
            if self.decider.still_same_visit(track, person_id, distance):
                return FrameStatus(frame, box, faces, None, None)
            liveness = self._new_visit(track, face.face, frame)  # a new person stepped into the same place
        track.last_probe = probe
        if track.pending is not None:
            return FrameStatus(frame, box, faces, prompt, self._release_if_live(track, liveness, frame.timestamp_ms))
        decision = self.decider.vote(track, person_id, distance, frame.timestamp_ms, faces, now or datetime.now())
        if decision is not None and decision.outcome is Outcome.GRANTED and liveness.verdict is not Verdict.LIVE:
            track.pending = decision  # recognised; the door waits for the live verdict
            return FrameStatus(frame, box, faces, prompt, None)
        if decision is not None:
            self._act(decision)
        return FrameStatus(frame, box, faces, prompt, decision)

    def _someone_else(self, track: Track, probe: np.ndarray) -> bool:
        """Consecutive probes of one track further apart than the calibrated 1:1 threshold (FMR 1e-3)
        would not even match each other: not the same face any more."""
        if track.last_probe is None:
            return False
        return float(np.linalg.norm(track.last_probe - probe)) >= self.protector.threshold.value

    def _new_visit(self, track: Track, face: DetectedFace, frame: Frame) -> LivenessState:
        """Start the track over, liveness included: no evidence carries from one person to the next."""
        track.restart(frame.timestamp_ms)
        return self._liveness(track, face, frame)

    def _liveness(self, track: Track, face: DetectedFace, frame: Frame) -> LivenessState:
        """The acting face's liveness so far (always live where liveness is off)."""
        if self.liveness_policy is None:
            return LivenessState(Verdict.LIVE)
        if track.liveness is None:
            track.liveness = LivenessSession(self.liveness_policy, self.texture)
        return track.liveness.update(face, frame.rgb, frame.timestamp_ms)

    def _release_if_live(self, track: Track, liveness: LivenessState, at_ms: int) -> Decision | None:
        """The held grant goes through once the face is judged live."""
        if liveness.verdict is not Verdict.LIVE:
            return None
        decision = replace(track.pending, at_ms=at_ms, visit_ms=at_ms - track.first_seen_ms)
        track.pending = None
        self._act(decision)
        return decision

    def _spoof_suspected(self, track: Track, liveness: LivenessState, at_ms: int, faces: int) -> Decision | None:
        """Once per visit: audited, shown, sent to the doors as a decision that never opens them."""
        if track.spoof_reported:
            return None
        held = track.pending
        if held is not None:
            self.decider.forget(held.person_id)
        track.decided, track.decided_person, track.pending, track.spoof_reported = True, None, None, True
        decision = Decision(Outcome.SPOOF_SUSPECTED, at_ms, track.track_id, held.person_id if held else None,
                            held.display_name if held else None, held.distance if held else None, liveness.reason,
                            faces, self.door.name, at_ms - track.first_seen_ms)
        self._act(decision)
        return decision

    def _act(self, decision: Decision) -> None:
        """Audit and attendance in one transaction, then the doors (on their own thread)."""
        with self.store.transaction():
            self.store.log_event(f"access_{decision.outcome.value}", decision.person_id, door=decision.door,
                                 distance=round(decision.distance, 4) if decision.distance is not None else None,
                                 reason=decision.reason, faces_in_view=decision.faces_in_view)
            if decision.outcome is Outcome.GRANTED:
                self.attendance.record(decision.person_id, decision.door, datetime.now(timezone.utc))
        self.dispatcher.submit(decision)

    def door_failure(self, decision: Decision, output: str, error: str) -> None:
        """Called from the door thread: queued as a source-style event for the worker to audit."""
        self._source_events.put(SourceEvent("door_output_failed", f"{output}: {error}"))

    def run(self, capture: CaptureThread, on_status: Callable[[FrameStatus], None]) -> None:
        for frame in capture.frames():
            started = time.perf_counter()
            status = self.process(frame)
            self.frame_ms.append((time.perf_counter() - started) * 1000)
            on_status(status)
        self._drain_source_events()
