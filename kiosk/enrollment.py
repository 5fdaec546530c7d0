"""Enrollment, one path for every way in: which photos or camera frames are good enough (and why
the others are not), the rules of a new template set, and the one transaction that writes it.
`gallery apply`, the wizard's photos and its camera capture all come through here."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kiosk.errors import ImageError, ProtectionError
from kiosk.faults import crash_point
from kiosk.gallery.target import GalleryTarget
from kiosk.imageio import read_image
from kiosk.protection import TemplateProtector
from kiosk.recognition.faces import DetectedFace
from kiosk.recognition.matching import GalleryIndex, comparable
from kiosk.recognition.pipeline import AlignedFace, FacePipeline
from kiosk.recognition.quality import QualityGates, QualityProblem
from kiosk.store.records import Consent, Person, TemplateSet

if TYPE_CHECKING:
    from kiosk.config import KioskConfig

# A second face at least this share of the largest one's area makes a photo ambiguous.
SECOND_FACE_AREA_RATIO = 0.25


@dataclass
class PhotoEnrollment:
    """The accepted photos' embeddings and qualities, and a reason for every rejected photo."""

    embeddings: list[np.ndarray] = field(default_factory=list)
    sharpness: list[float] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    previews: list[np.ndarray] = field(default_factory=list)  # the kept faces (RGB chips), for a person to check


def _faces_that_count(faces: list[DetectedFace]) -> list[DetectedFace]:
    if not faces:
        return []
    largest = max(face.area for face in faces)
    return sorted((f for f in faces if f.area >= SECOND_FACE_AREA_RATIO * largest), key=lambda f: -f.area)


def enroll_photos(pipeline: FacePipeline, photos: list[Path], gates: QualityGates) -> PhotoEnrollment:
    """Embed each photo's one face if it passes the gates. Unreadable photos raise ImageError:
    a corrupt file is an administrator's mistake to fix before anything is written."""
    result, chips = _checked_chips(pipeline, photos, gates)
    if chips:
        result.embeddings = list(pipeline.embedder.embed(np.stack(chips), "template"))
    result.previews = chips
    return result


def enroll_people(pipeline: FacePipeline, people: dict[str, list[Path]], gates: QualityGates,
                  done: Callable[[int], None] = lambda photos: None) -> dict[str, PhotoEnrollment]:
    """`enroll_photos` for many people, in two overlapping stages: while one person's chips are
    embedded on a worker thread, the next person's photos are read and their landmarks found (the
    landmarker and ONNX Runtime each keep one core busy). `done` hears how many photos each finished;
    an unreadable photo raises ImageError naming the person."""
    results: dict[str, PhotoEnrollment] = {}
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed") as embedding:
        pending = []
        for person, photos in people.items():
            try:
                result, chips = _checked_chips(pipeline, photos, gates)
            except ImageError as exc:
                raise ImageError(f"person {person}: {exc}") from None
            results[person] = result
            if chips:
                pending.append((result, embedding.submit(pipeline.embedder.embed, np.stack(chips), "template")))
            done(len(photos))
        for result, future in pending:
            result.embeddings = list(future.result())
    return results


def _checked_chips(pipeline: FacePipeline, photos: list[Path], gates: QualityGates) -> tuple[PhotoEnrollment, list]:
    """The aligned chips of the photos that pass the gates, and a reason for every other photo."""
    result = PhotoEnrollment()
    chips, measures = [], []
    for photo in photos:
        rgb = read_image(photo)
        faces = _faces_that_count(pipeline.detect_photo(rgb))
        if not faces:
            result.rejected[str(photo)] = "no face found"
            continue
        if len(faces) > 1:
            result.rejected[str(photo)] = f"{len(faces)} faces: crop the photo to the one person"
            continue
        aligned = pipeline.align(rgb, faces[0])
        problems = aligned.quality.problems(gates)
        if problems:
            result.rejected[str(photo)] = ", ".join(p.value.replace("_", " ") for p in problems)
            continue
        chips.append(aligned.chip)
        measures.append(aligned.quality.sharpness)
    result.sharpness = measures
    return result, chips


@dataclass(frozen=True)
class EnrollmentPolicy:
    """The rules every enrollment follows, from a gallery file, the wizard or the camera."""

    gates: QualityGates
    min_photos: int
    max_photos: int
    duplicate_threshold: float | None  # refuse below it; None: no duplicate check
    review_threshold: float | None     # closer than this to someone else: enrolled, but flagged for review
    recommended_photos: int = 3        # fewer good photos: enrolled, and asked for more

    @classmethod
    def from_config(cls, config: "KioskConfig", protector: TemplateProtector) -> "EnrollmentPolicy":
        """Duplicates are looked for among protected templates, at the protector's calibrated points."""
        enrollment, threshold = config.enrollment, protector.threshold
        check = enrollment.duplicate_check and threshold is not None
        return cls(config.recognition.quality.gates(), enrollment.min_photos, enrollment.max_photos,
                   threshold.at_fmr(enrollment.duplicate_fmr) if check else None,
                   threshold.at_fmr(enrollment.review_fmr) if check else None, enrollment.recommended_photos)


@dataclass(frozen=True)
class Candidate:
    """Someone to enroll: who, their consent, and what their photos or frames gave."""

    person: Person
    consent: Consent
    photos: PhotoEnrollment
    action: str = "add"  # what the audit log says happened: add, re-enroll, gui, camera

    @property
    def replaces(self) -> bool:
        """Only an explicit re-enrollment may replace the face of an id that is already enrolled."""
        return self.action == "re-enroll"


@dataclass
class EnrollmentReport:
    enrolled: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)   # person -> why nobody was enrolled
    review: dict[str, str] = field(default_factory=dict)    # person -> who they look like
    few_photos: dict[str, str] = field(default_factory=dict)  # person -> enrolled with fewer photos than recommended


def write_enrollments(store: GalleryTarget, protector: TemplateProtector, model_id: str, policy: EnrollmentPolicy,
                      candidates: list[Candidate], also: Callable[[GalleryTarget], None] | None = None) -> EnrollmentReport:
    """The one way people are enrolled. Each keeps their sharpest `max_photos` embeddings, protected
    (the clean ones never reach the store). Then, in one write transaction, which holds the store's
    write lock: the secret version is checked, each face is compared with the gallery as it is now
    and with the people before it in the batch (a face that is already someone else's is refused, a
    near one flagged), and people, templates, consent and events are written, with `also` (a gallery
    file's updates and removals). Two enrollments at once cannot both miss each other's faces."""
    report = EnrollmentReport()
    protected = []
    for candidate in candidates:
        found = candidate.photos
        if len(found.embeddings) < policy.min_photos:
            report.refused[candidate.person.id] = f"{len(found.embeddings)} usable photos, {policy.min_photos} needed"
            continue
        best = np.argsort(found.sharpness)[::-1][: policy.max_photos]
        protected.append((candidate, protector.protect(np.stack([found.embeddings[i] for i in best])),
                          [found.sharpness[i] for i in best]))
    with store.transaction():
        existing = store.gallery_matrix(model_id, enabled_only=False)
        if existing.secret_version is not None and existing.secret_version != protector.secret_version:
            raise ProtectionError(f"the store's templates use template secret version {existing.secret_version}, the "
                                  f"kiosk holds version {protector.secret_version}; finish the secret rotation first")
        index = GalleryIndex(existing.templates, existing.person_ids)
        for candidate, templates, qualities in protected:
            person = candidate.person
            existing_person = store.get_person(person.id)
            if existing_person is not None and not candidate.replaces:
                report.refused[person.id] = (f"{person.id} is already enrolled ({existing_person.display_name}); "
                                             f"choose re-enroll to replace their face, or another id")
                continue
            if policy.duplicate_threshold is not None:
                other, distance = index.nearest_other(templates, person.id)
                if distance < policy.duplicate_threshold:
                    report.refused[person.id] = (f"face already enrolled as {other} (distance {distance:.3f} < "
                                                 f"{policy.duplicate_threshold:.3f})")
                    continue
                if policy.review_threshold is not None and distance < policy.review_threshold:
                    report.review[person.id] = (f"looks like {other} (distance {distance:.3f}); check it is not the "
                                                f"same person")
            store.upsert_person(person)
            store.replace_templates(person.id, TemplateSet(templates, model_id, protector.protector_id,
                                                           protector.secret_version, qualities))
            if candidate.consent not in store.consents(person.id):
                store.add_consent(person.id, candidate.consent)
            store.log_event("person_enrolled", person.id, action=candidate.action, templates=len(templates))
            crash_point("apply:person_written")  # inside the transaction: nobody of this apply may remain
            index.add(templates, [person.id] * len(templates))
            report.enrolled.append(person.id)
            if len(templates) < policy.recommended_photos:
                report.few_photos[person.id] = (f"enrolled with {len(templates)} good photo(s); "
                                                f"{policy.recommended_photos} recognise a person more reliably: "
                                                f"add photos from other days or light")
        if also is not None:
            also(store)
    crash_point("apply:committed")  # everybody of this apply must be there, whole
    return report


@dataclass
class CaptureGuide:
    """Camera enrollment, frame by frame: what to tell the person, and which frames to keep (a few
    frontal ones, then up to two slightly turned, for a template set that covers small turns)."""

    gates: QualityGates
    frontal_wanted: int = 3
    turned_wanted: int = 2
    turn_deg: tuple[float, float] = (6.0, 25.0)
    patience_frames: int = 45  # after the frontal frames, how long to wait for turned ones (optional)
    chips: list[np.ndarray] = field(default_factory=list)
    sharpness: list[float] = field(default_factory=list)
    frontal: int = 0
    turned: int = 0
    waited: int = 0

    def take(self, faces: list[AlignedFace]) -> str:
        """The guidance text key for this frame (keeping the frame if it is a good one). A frame with
        a second face near the first's size keeps nothing: someone passing behind the person must not
        be enrolled in their place."""
        counted = [a for a in faces if a.face.area >= SECOND_FACE_AREA_RATIO * max(f.face.area for f in faces)]
        if not counted:
            return "center_face"
        if len(counted) > 1:
            return "one_person_only"
        face = counted[0]
        problems = face.quality.problems(self.gates)
        yaw = abs(face.quality.yaw_deg)
        if not problems and self.frontal < self.frontal_wanted and yaw < self.turn_deg[0]:
            self.frontal += 1
            self._keep(face)
        elif not problems and self.frontal >= self.frontal_wanted and self.turn_deg[0] <= yaw <= self.turn_deg[1]:
            self.turned += 1
            self._keep(face)
        if self.frontal >= self.frontal_wanted:
            self.waited += 1
        return guidance(problems, self.frontal >= self.frontal_wanted)

    def _keep(self, face: AlignedFace) -> None:
        self.chips.append(face.chip)
        self.sharpness.append(face.quality.sharpness)

    @property
    def done(self) -> bool:
        return self.frontal >= self.frontal_wanted and (self.turned >= self.turned_wanted
                                                        or self.waited >= self.patience_frames)

    @property
    def enough(self) -> bool:
        return self.frontal >= self.frontal_wanted

    def enrollment(self, pipeline: FacePipeline) -> PhotoEnrollment:
        """The kept frames embedded as templates, if they show one person: a frame further from the
        mean of the other frames than the descriptor's own 1:1 threshold is someone else (a face that
        replaced the person's between frames), and the capture is refused whole rather than enrolling
        a mixture."""
        if not self.chips:
            return PhotoEnrollment()
        embeddings = pipeline.embedder.embed(np.stack(self.chips), "template")
        unit = comparable(embeddings, pipeline.manifest.metric)
        others = (unit.sum(axis=0) - unit) if len(unit) > 1 else unit
        others = others / np.linalg.norm(others, axis=1, keepdims=True)
        if float(np.linalg.norm(unit - others, axis=1).max()) >= pipeline.manifest.threshold.value:
            return PhotoEnrollment(rejected={"capture": "the frames show more than one person: start again with only "
                                                        "the person being enrolled in view"}, previews=list(self.chips))
        return PhotoEnrollment(list(embeddings), list(self.sharpness), previews=list(self.chips))


def guidance(problems: list[QualityProblem], frontal_done: bool) -> str:
    """The text key to show: what the person should do next."""
    if QualityProblem.TOO_SMALL in problems:
        return "come_closer"
    if QualityProblem.TURNED_AWAY in problems:
        return "look_at_camera"
    if QualityProblem.BLURRED in problems:
        return "hold_still"
    if QualityProblem.TOO_DARK in problems or QualityProblem.TOO_BRIGHT in problems:
        return "more_light"
    return "turn_slightly" if frontal_done else "good_frame"
