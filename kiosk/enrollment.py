"""Enrollment from photos: which photos are good enough, and why the others are not."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kiosk.recognition.faces import DetectedFace
from kiosk.errors import ImageError
from kiosk.imageio import read_image
from kiosk.recognition.pipeline import FacePipeline
from kiosk.recognition.quality import QualityGates

# A second face at least this share of the largest one's area makes a photo ambiguous.
SECOND_FACE_AREA_RATIO = 0.25


@dataclass
class PhotoEnrollment:
    """The accepted photos' embeddings and qualities, and a reason for every rejected photo."""

    embeddings: list[np.ndarray] = field(default_factory=list)
    sharpness: list[float] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)


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
class EnrollmentOutcome:
    saved: bool
    duplicate_of: str | None = None
    distance: float | None = None


def save_enrollment(store, person, consent, embeddings: np.ndarray, qualities: list[float], protector,
                    model_id: str, duplicate_threshold: float | None) -> EnrollmentOutcome:
    """Protect the embeddings, refuse a face that is already someone else's, then write the person,
    their templates and consent in one transaction. The clean embeddings never reach the store."""
    from kiosk.recognition.matching import GalleryIndex
    from kiosk.store.records import TemplateSet

    templates = protector.protect(np.asarray(embeddings, dtype=np.float32))
    if duplicate_threshold is not None:
        gallery = store.gallery_matrix(model_id, enabled_only=False)
        other, distance = GalleryIndex(gallery.templates, gallery.person_ids).nearest_other(templates, person.id)
        if distance < duplicate_threshold:
            return EnrollmentOutcome(False, other, distance)
    with store.transaction():
        store.upsert_person(person)
        store.replace_templates(person.id, TemplateSet(templates, model_id, protector.protector_id,
                                                       protector.secret_version, list(qualities)))
        if consent not in store.consents(person.id):
            store.add_consent(person.id, consent)
        store.log_event("person_enrolled", person.id, action="gui", templates=len(templates))
    return EnrollmentOutcome(True)
