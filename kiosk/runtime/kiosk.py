"""The kiosk loop: one worker owns the models and the store; frames in, decisions out.

Per frame: detect (landmarks, VIDEO mode) -> track -> the largest face acts -> its visit takes the
frame (quality hint, liveness cues, a probe embedded only when it adds evidence, fused match) ->
act on what the visit returns (audit, attendance, doors). See kiosk/runtime/visit.py.
"""

import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Protocol

import numpy as np

from kiosk.clock import site_now
from kiosk.config import DoorConfig, KioskConfig
from kiosk.errors import ConfigError, StoreBusyError
from kiosk.liveness.fusion import LivenessSession
from kiosk.liveness.texture import TextureLivenessModel
from kiosk.manifest import load_liveness_manifest
from kiosk.panel.cards import Card
from kiosk.panel.codes import CodeError, CodeExpired, CodeReader, code_key, verify_code
from kiosk.panel.pins import pin_digest, pin_key
from kiosk.protection import TemplateProtector
from kiosk.recognition.faces import DetectedFace
from kiosk.recognition.matching import GalleryIndex
from kiosk.recognition.pipeline import AlignedFace, FacePipeline
from kiosk.recognition.quality import evidence_weight
from kiosk.runtime.attendance import AttendanceRecorder
from kiosk.runtime.claims import Claim, ClaimDesk
from kiosk.runtime.decisions import (
    Decider,
    Decision,
    Hint,
    Outcome,
    VisitMoment,
    hint_for,
    in_standing,
)
from kiosk.runtime.doors import DoorDispatcher
from kiosk.runtime.policy import claim_policy, gallery_policy
from kiosk.runtime.tracker import FaceTracker, Track
from kiosk.runtime.visit import FrameEvidence, Gallery, PendingVerdicts, Unfinished, Visit, VisitState
from kiosk.sources import Frame
from kiosk.store.gallery import GalleryStore

if TYPE_CHECKING:
    from kiosk.runtime.session import EventInbox

log = logging.getLogger(__name__)

GALLERY_POLL_S = 0.5  # how often a running kiosk looks for gallery changes made by other processes
# How long a frame's records may wait for the store's write lock before they are kept in memory and
# written at a later frame: another process's long write (a rotation, a big apply) never holds the door.
WRITE_WAIT_S = 0.2
# After the lock was found held, the next try waits this long: a long hold (a rotation of a large
# gallery) then costs one frame in five seconds a 0.2 s wait, not every frame.
BUSY_RETRY_S = 1.0
# A held grant whose face was lost waits this long (source clock) for the same person to be recognised
# again in another track: a hand-held print that jumps, a duplicate detection. Then it is recorded as
# left before the verdict.
RESUME_WITHIN_MS = 2000


@dataclass(frozen=True)
class Perception:
    """What the first stage found in a frame: the faces and the track of each, and which tracks
    are still alive (a visit whose track ended is forgotten)."""

    frame: Frame
    faces: list[DetectedFace]
    tracks: list[Track]
    live_tracks: frozenset[int]
    work_ms: float = 0.0  # the first stage's time on this frame
    texture: tuple[float, ...] | None = None  # the acting face's first texture network, run here (the rest in decide)


@dataclass(frozen=True)
class FrameStatus:
    """What the screen shows for a frame: the acting face's box and a hint, or the decision."""

    frame: Frame
    box: tuple[float, float, float, float] | None
    faces: int
    hint: Hint | None
    decision: Decision | None
    left: tuple[Decision, ...] = ()  # held grants recorded as left before the verdict (not for the screen)
    restarted: bool = False          # the acting face's visit started over: its embedding was another face's


class FrameFeed(Protocol):
    """Where frames come from (a CaptureThread, or a recorded feed in the benchmark)."""

    def frames(self) -> Iterator[Frame]: ...

    def stop(self) -> None: ...


class KioskRunner:
    def __init__(self, config: KioskConfig, store: GalleryStore, pipeline: FacePipeline, protector: TemplateProtector,
                 dispatcher: DoorDispatcher, door: DoorConfig, inbox: "EventInbox",
                 standing: Callable[[], str | None] = in_standing, claim_key: bytes | None = None):
        self.config, self.store, self.pipeline, self.protector = config, store, pipeline, protector
        self.dispatcher = dispatcher
        self.door = door
        self.gates = config.recognition.quality.gates()
        self.tracker = FaceTracker()
        self.visits: dict[int, Visit] = {}
        self.pending = PendingVerdicts(self.visits, RESUME_WITHIN_MS)
        self._unwritten: list[Callable[[], None]] = []  # records waiting for another process's write lock
        self._store_busy_since_logged = False
        self._busy_until = 0.0  # time.monotonic() before which the held lock is not tried again
        self._last_frame_ms = 0
        self.zone = config.site.zone  # schedules and attendance days are the site's
        self.attendance = AttendanceRecorder(store, self.door.attendance if config.attendance.enabled else "none",
                                             config.attendance.dedup_minutes, self.zone)
        self.inbox = inbox  # camera and door events from their threads, audited here
        self.frame_ms: list[float] = []
        liveness = config.liveness
        self.liveness_policy = liveness.policy() if liveness.enabled else None
        self.texture = (TextureLivenessModel(load_liveness_manifest(), config.models.provider, threads=1)
                        if liveness.enabled and liveness.texture else None)
        if self.liveness_policy is not None:
            self._liveness_session()  # fails now, not on the first face, if the landmarker lacks a point the cues use
        self.decider = Decider(self.door.name, int(config.recognition.cooldown_s * 1000), {}, standing=standing)
        # claim, then verify (door.mode): the claim names one person, the face is matched 1:1 against them
        self.claims = ClaimDesk(door.claim_window_s) if door.mode != "identify" else None
        self.code_reader = CodeReader() if door.mode == "code_and_face" else None
        # codes and PINs are checked with keys derived from the store's digest key (`claim_key`)
        self._code_key = code_key(claim_key) if claim_key is not None else None
        self._pin_key = pin_key(claim_key) if claim_key is not None else None
        self._claim_gallery: tuple[str, Gallery] | None = None
        self.reload_gallery()

    def reload_gallery(self) -> None:
        """Read people and templates (disabled people too: they are recognised, then denied); the
        thresholds follow the gallery's size. Visits start over (a visit may hold a grant for someone
        who is gone); cooldowns survive."""
        self._gallery_revision = self.store.gallery_revision()
        self._revision_checked = time.monotonic()
        self.visits.clear()
        model_id = self.pipeline.manifest.id
        self.store.require_templates_of(model_id, self.protector.protector_id)
        matrix = self.store.gallery_matrix(model_id, enabled_only=False)
        people = {p.id: p for p in self.store.list_people()}
        self.decider.people = people
        # who a card or a PIN names, found at once when one is presented (a reader's thread reads these)
        self._card_owners = {p.card: p.id for p in people.values() if p.card}
        self._pin_owners = {p.pin_digest: p.id for p in people.values() if p.pin_digest}
        protector = self.protector  # clean probes against protected templates
        policy, self.gallery_tail = gallery_policy(protector.threshold, protector.fused_threshold,
                                                   protector.template_pairs, self.config.recognition,
                                                   matrix.templates, matrix.person_ids)
        log.info("%s", self.gallery_tail.describe())
        self.gallery = Gallery(GalleryIndex(matrix.templates, matrix.person_ids), policy, self.decider)
        self._matrix, self._claim_gallery = matrix, None
        log.info("gallery: %d people, %d templates, threshold %.4f single, %.4f fused", len(people),
                 len(self.gallery.index), policy.single_threshold, policy.fused_threshold)

    def reload_if_changed(self) -> bool:
        """Reload when the store's gallery revision moved (another process enrolled, disabled or
        deleted someone); checked at most every GALLERY_POLL_S, so a change is acted on within it."""
        now = time.monotonic()
        if now - self._revision_checked < GALLERY_POLL_S:
            return False
        self._revision_checked = now
        if self.store.gallery_revision() == self._gallery_revision:
            return False
        log.info("the gallery changed in the store: reloading")
        self.reload_gallery()
        return True

    def claim_gallery(self, person_id: str) -> Gallery:
        """One person's templates at the 1:1 threshold for the door's `claim_fmr`: the gallery's size
        no longer matters, as only the claimed person can be matched."""
        if self._claim_gallery is not None and self._claim_gallery[0] == person_id:
            return self._claim_gallery[1]
        policy = claim_policy(self.protector.threshold, self.protector.fused_threshold, self.config.recognition,
                              self.door.claim_fmr)
        mine = np.asarray(self._matrix.person_ids) == person_id
        gallery = Gallery(GalleryIndex(self._matrix.templates[mine], [person_id] * int(mine.sum())), policy,
                          self.decider)
        self._claim_gallery = (person_id, gallery)
        return gallery

    def present_card(self, card: Card) -> None:
        """A card read by the door's reader (its own thread): the person the gallery gives it to."""
        assert self.claims is not None, "only a card_and_face door reads cards"
        owner = self._card_owners.get(str(card))
        self.claims.present(Claim("card", str(card), owner, "" if owner else "not known here"))

    def present_pin(self, pin: str) -> None:
        """A PIN typed on the kiosk's keypad (the GUI's thread): the person it belongs to, if anyone."""
        assert self.claims is not None and self._pin_key is not None, "only a pin_and_face door takes PINs"
        try:
            digest = pin_digest(self._pin_key, pin)
        except ConfigError:
            self.claims.present(Claim("pin", f"pin:{pin}", None, "a PIN is 4 to 8 digits"))
            return
        owner = self._pin_owners.get(digest)
        self.claims.present(Claim("pin", f"pin:{digest}", owner, "" if owner else "not known here"))

    def present_code(self, text: str) -> None:
        """A QR code seen in a frame: a genuine, unexpired code names its person."""
        assert self.claims is not None and self._code_key is not None, "only a code_and_face door reads codes"
        try:
            self.claims.present(Claim("code", text, verify_code(self._code_key, text)), seen_continuously=True)
        except CodeError as refused:  # a forged code's name is the forger's word: nobody is named
            named = refused.person_id if isinstance(refused, CodeExpired) else None
            self.claims.present(Claim("code", text, named, str(refused)), seen_continuously=True)

    def _claim_step(self, frame: Frame, faces: int, box: tuple[float, float, float, float] | None,
                    left: tuple[Decision, ...]) -> tuple[Gallery | None, FrameStatus | None]:
        """A claim door: the gallery of the claimed person, or what to show while there is none."""
        assert self.claims is not None
        update = self.claims.poll()
        door = self.door.name
        if update.expired is not None:
            self._unwritten.append(partial(self.store.log_event, "claim_expired", update.expired.person_id, door=door,
                                           source=update.expired.source, reason="no matching face in time"))
        claim: Claim | None = update.active
        if update.new is not None:
            claim = update.new
            if claim.person_id not in self.decider.people:  # nobody here, or a forged code's made-up name
                claim = replace(claim, person_id=None, refused=claim.refused or "not known here")
            self._unwritten.append(partial(self.store.log_event, "claim_presented", claim.person_id, door=door,
                                           source=claim.source, refused=claim.refused or None))
            self.visits.clear()  # evidence gathered before the claim is not the claimed person's
            if claim.refused:
                self.claims.used(claim)
                moment = VisitMoment(at_ms=frame.timestamp_ms, track_id=0, started_ms=frame.timestamp_ms,
                                     faces_in_view=faces)
                shown = {"card": "This card", "code": "This code", "pin": "This PIN"}[claim.source]
                decision = self.decider.claim_refused(claim.person_id, shown, claim.refused, moment)
                return None, FrameStatus(frame, box, faces, None, decision if self._act(decision) else None, left)
        if claim is None:
            hint = {"card_and_face": Hint.SHOW_CARD, "code_and_face": Hint.SHOW_CODE}.get(self.door.mode, Hint.TYPE_PIN)
            return None, FrameStatus(frame, box, faces, hint, None, left)
        assert claim.person_id is not None
        return self.claim_gallery(claim.person_id), None

    def _claim_used(self, decision: Decision | None, visit: Visit) -> Decision | None:
        """The claim's visit ended: its claim is used up; a face that is not the claimed person is
        said to be that, not merely unknown."""
        if self.claims is None:
            return decision
        claim = self.claims.current()
        if claim is None or (decision is None and visit.state not in (VisitState.DECIDED, VisitState.SPOOF)):
            return decision
        self.claims.used(claim)
        if decision is not None and decision.outcome is Outcome.UNKNOWN:
            return replace(decision, reason=f"not the person the {claim.source} names")
        return decision

    @property
    def threshold(self) -> float:
        return self.gallery.policy.single_threshold

    def audit_config(self, config_text: str) -> None:
        """Audit the configuration the kiosk starts with, when it differs from the last one it ran."""
        digest = hashlib.sha256(config_text.encode()).hexdigest()
        last = self.store.events(limit=1, kinds=("config_changed",))
        if not last or last[0].detail.get("sha256") != digest:
            with self.store.transaction():
                self.store.log_event("config_changed", None, sha256=digest, door=self.door.name)

    def _drain_source_events(self) -> None:
        for event in self.inbox.drain():
            log.log(logging.INFO if event.kind in ("source_ended", "panel_connected") else logging.WARNING, "%s (%s)",
                    event.kind, event.detail)
            self._unwritten.append(partial(self.store.log_event, event.kind, None, detail=event.detail,
                                           door=self.door.name))
        self._write_unwritten()

    def _write_unwritten(self, now: bool = False) -> bool:
        """Write the records that waited, in order, in one transaction; False while the lock is held
        elsewhere (they wait for a later frame, and the kiosk goes on deciding). Within BUSY_RETRY_S of
        finding it held the lock is not tried again, unless `now`."""
        if not self._unwritten:
            return True
        if not now and time.monotonic() < self._busy_until:
            return False
        try:
            with self.store.transaction(wait_s=WRITE_WAIT_S):
                for write in self._unwritten:
                    write()
        except StoreBusyError as exc:
            self._say_busy(exc)
            return False
        if self._store_busy_since_logged:
            log.info("the store is free again: %d waiting records written", len(self._unwritten))
        self._unwritten.clear()
        self._store_busy_since_logged = False
        return True

    def process(self, frame: Frame, now: datetime | None = None) -> FrameStatus:
        """One frame, start to end, on the calling thread."""
        return self.decide(self.perceive(frame), now)

    def perceive(self, frame: Frame) -> Perception:
        """Landmarks and tracks: no store, no visit, so it may run on another thread."""
        started = time.perf_counter()
        faces = self.pipeline.detector.detect(frame.rgb, frame.timestamp_ms)
        tracks = self.tracker.update(faces, frame.timestamp_ms)
        if self.code_reader is not None and self.claims is not None and self.claims.accepting():
            code = self.code_reader.read(frame.rgb)
            if code is not None:
                self.present_code(code)
        texture = None
        if faces and self.texture is not None and self.liveness_policy is not None:
            acting = max(range(len(faces)), key=lambda i: faces[i].area)
            visit = self.visits.get(tracks[acting].track_id)  # read across threads: at worst a frame stale
            # one network here, the other in decide: a held visit embeds every other frame, which leaves
            # the decide stage room (both here: 17.6-18.2 ms a frame sustained, the landmarks' stage the slower)
            if visit is None or visit.wants_texture:
                texture = tuple(self.texture.probabilities(frame.rgb, faces[acting].box, slice(0, 1)))
        return Perception(frame, faces, tracks, frozenset(self.tracker.tracks), (time.perf_counter() - started) * 1000,
                          texture)

    def decide(self, seen: Perception, now: datetime | None = None) -> FrameStatus:
        """The acting (largest) face is aligned and its visit takes the frame; decisions are acted
        on here, on the store's thread."""
        self._drain_source_events()
        self.reload_if_changed()
        frame, tracks = seen.frame, seen.tracks
        self._last_frame_ms = frame.timestamp_ms
        for track_id in set(self.visits) - seen.live_tracks:
            unfinished = self.visits.pop(track_id).hand_over(frame.timestamp_ms)
            if unfinished is not None:
                self.pending.left(unfinished)
        left = self._record_left(self.pending.expired(frame.timestamp_ms))
        acting = max(range(len(seen.faces)), key=lambda i: seen.faces[i].area) if seen.faces else None
        gallery = self.gallery
        if self.claims is not None:  # a claim is presented, refused or runs out whether or not a face is in view
            claimed, status = self._claim_step(frame, len(seen.faces),
                                               seen.faces[acting].box if acting is not None else None, left)
            if claimed is None:
                assert status is not None
                return status
            gallery = claimed
        if acting is None:
            return FrameStatus(frame, None, 0, None, None, left)
        face, track, in_view = self.pipeline.align(frame.rgb, seen.faces[acting]), tracks[acting], len(seen.faces)
        if len(gallery.index) == 0:
            return FrameStatus(frame, face.face.box, in_view, hint_for(face.quality, self.gates), None, left)
        evidence = FrameEvidence(at_ms=frame.timestamp_ms, face=face.face, rgb=frame.rgb, faces_in_view=in_view,
                                 hint=hint_for(face.quality, self.gates), probe=lambda: self._probe(face),
                                 texture=self._texture(seen, acting), weight=evidence_weight(face.quality, self.gates))
        visit = self._visit(track)
        step = visit.step(evidence, gallery, now or site_now(self.zone))
        made = self._claim_used(step.decision, visit)
        decision = made if made is not None and self._act(made) else None
        return FrameStatus(frame, face.face.box, in_view, step.hint, decision, left, step.restarted)

    def _texture(self, seen: Perception, acting: int) -> float | None:
        """The acting face's texture cue: the first stage's network and the rest, run here, averaged."""
        if seen.texture is None or self.texture is None:
            return None
        rest = self.texture.probabilities(seen.frame.rgb, seen.faces[acting].box, slice(1, None))
        return float(np.mean(seen.texture + tuple(rest)))

    def finish_visits(self) -> tuple[Decision, ...]:
        """The stream ended: grants still held for a live verdict are recorded as left before it."""
        return self._record_left(self.pending.close(self._last_frame_ms))

    def _record_left(self, gone: list[Unfinished]) -> tuple[Decision, ...]:
        recorded = []
        for unfinished in gone:
            moment = VisitMoment(at_ms=unfinished.ended_ms, track_id=unfinished.track_id,
                                 started_ms=unfinished.started_ms, faces_in_view=0)
            decision = self.decider.left_before_verdict(unfinished.held, moment, unfinished.pending())
            if self._act(decision):
                recorded.append(decision)
        return tuple(recorded)

    def _probe(self, face: AlignedFace) -> np.ndarray:
        """The face's unit probe in the templates' space: embedded once, when the visit asks."""
        return self.protector.probe_space(self.pipeline.embedder.embed(face.chip[None], "probe"))[0]

    def _visit(self, track: Track) -> Visit:
        visit = self.visits.get(track.track_id)
        if visit is None:
            liveness = self._liveness_session if self.liveness_policy else None
            visit = self.visits[track.track_id] = Visit(track.track_id, track.first_seen_ms, liveness, self.pending)
        return visit

    def _liveness_session(self) -> LivenessSession:
        assert self.liveness_policy is not None
        return LivenessSession(self.liveness_policy, self.texture, self.pipeline.layout)

    def _act(self, decision: Decision) -> bool:
        """Audit and attendance in one transaction, then the doors (on their own thread). A decision
        made on a gallery another process has changed since (the poll is up to GALLERY_POLL_S old) is
        dropped and the gallery reloaded: checked inside the write transaction, so no delete can land
        between the check and the write, and a deleted person's id is never written again. While
        another process holds the write lock past WRITE_WAIT_S, the kiosk decides on the gallery it
        has loaded and its records wait in memory, written in order once the lock is free."""
        if not self._write_unwritten():
            return self._defer(decision)
        try:
            with self.store.transaction(wait_s=WRITE_WAIT_S):
                stale = self.store.gallery_revision() != self._gallery_revision
                if not stale:
                    self._write_decision(decision)
        except StoreBusyError as exc:
            return self._defer(decision, exc)
        if stale:
            log.info("the gallery changed while a visit was decided: reloading, the visit starts over")
            self.decider.forget(decision.person_id)  # a decision never made starts no cooldown
            self.reload_gallery()
            return False
        self.dispatcher.submit(decision)
        return True

    def _write_decision(self, decision: Decision, decided_at: datetime | None = None) -> None:
        """Audit (and attendance for a grant); `decided_at` for a record that waited for the store."""
        late = {"decided_at": decided_at.isoformat(timespec="seconds")} if decided_at is not None else {}
        self.store.log_event(f"access_{decision.outcome.value}", decision.person_id, door=decision.door,
                             distance=round(decision.distance, 4) if decision.distance is not None else None,
                             reason=decision.reason, faces_in_view=decision.faces_in_view, **late)
        if decision.outcome is Outcome.GRANTED and decision.person_id is not None:
            self.attendance.record(decision.person_id, decision.door, decided_at or datetime.now(timezone.utc))

    def _defer(self, decision: Decision, busy: StoreBusyError | None = None) -> bool:
        """The store is held elsewhere: the decision stands on the loaded gallery, its record waits
        (written with the others at a later frame: no second wait for the lock on this one)."""
        decided_at = datetime.now(timezone.utc)
        self._unwritten.append(lambda: self._write_decision(decision, decided_at))
        if busy is not None:
            self._say_busy(busy)
        self.dispatcher.submit(decision)
        return True

    def _say_busy(self, busy: StoreBusyError) -> None:
        """Once per wait: the lock is held elsewhere and records wait in memory; not tried for a while."""
        self._busy_until = time.monotonic() + BUSY_RETRY_S
        if not self._store_busy_since_logged:
            log.warning("%s: the kiosk goes on deciding; %d records wait in memory", busy, len(self._unwritten))
            self._store_busy_since_logged = True

    def run(self, capture: "FrameFeed", on_status: Callable[[FrameStatus], None],
            on_left: Callable[[Decision], None] | None = None) -> None:
        """Two stages on the two cores: the landmarks (and one texture network) of the next frame are
        found while this frame's visit embeds, judges liveness and writes. `frame_ms` records each
        frame's work in both stages.
        When the stream ends, grants still held are recorded as left before the verdict (`on_left`)."""
        handoff: queue.Queue[Perception | None] = queue.Queue(maxsize=1)
        stop = threading.Event()

        def perceive_all() -> None:
            try:
                for frame in capture.frames():
                    seen = self.perceive(frame)
                    while not stop.is_set():
                        try:
                            handoff.put(seen, timeout=0.2)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
            finally:
                handoff.put(None)

        perception = threading.Thread(target=perceive_all, name="perception", daemon=True)
        perception.start()
        try:
            while True:
                try:
                    seen = handoff.get(timeout=0.5)
                except queue.Empty:  # no frame: a lost camera is audited now, not when frames come back
                    self._drain_source_events()
                    self.reload_if_changed()
                    continue
                if seen is None:
                    break
                started = time.perf_counter()
                status = self.decide(seen)
                self.frame_ms.append(seen.work_ms + (time.perf_counter() - started) * 1000)
                on_status(status)
        finally:
            stop.set()
            capture.stop()
            perception.join(timeout=5)
        for decision in self.finish_visits():
            if on_left is not None:
                on_left(decision)
        self._drain_source_events()
        self.write_waiting_records()

    def write_waiting_records(self, patience_s: float = 30.0) -> None:
        """Before the kiosk stops: records that waited for another process's lock are written, waiting up
        to `patience_s` for it; any still unwritten then are said in the log (count only)."""
        deadline = time.monotonic() + patience_s
        while self._unwritten and not self._write_unwritten(now=True) and time.monotonic() < deadline:
            time.sleep(WRITE_WAIT_S)
        if self._unwritten:
            log.error("%d records could not be written: another process held the store for more than %g s",
                      len(self._unwritten), patience_s)
