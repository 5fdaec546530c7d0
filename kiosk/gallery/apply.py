"""Apply a gallery plan: enroll from photos through the real pipeline, then write it all in one
transaction. Nothing is written until every photo has been read; a crash or a kill leaves the
store as it was before, or with the whole change."""

import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from kiosk.enrollment import enroll_people
from kiosk.errors import ConfigError, ImageError, ProtectionError
from kiosk.gallery.plan import Change
from kiosk.recognition.matching import GalleryIndex
from kiosk.recognition.pipeline import FacePipeline
from kiosk.protection import TemplateProtector
from kiosk.recognition.quality import QualityGates
from kiosk.store.gallery import GalleryStore
from kiosk.store.records import TemplateSet


@dataclass(frozen=True)
class EnrollmentPolicy:
    gates: QualityGates
    min_photos: int
    max_photos: int
    duplicate_threshold: float | None  # refuse below it; None: no duplicate check
    review_threshold: float | None     # closer than this to someone else: enrolled, but flagged for review


@dataclass
class ApplyReport:
    applied: Counter = field(default_factory=Counter)
    rejected_people: dict[str, str] = field(default_factory=dict)
    rejected_photos: dict[str, str] = field(default_factory=dict)
    review: dict[str, str] = field(default_factory=dict)
    photos: int = 0
    enroll_seconds: float = 0.0

    @property
    def photos_per_second(self) -> float:
        return self.photos / self.enroll_seconds if self.enroll_seconds else 0.0


@dataclass(frozen=True)
class _Enrolled:
    change: Change
    templates: np.ndarray
    qualities: list[float]


def _enroll_all(changes: list[Change], pipeline: FacePipeline, protector: TemplateProtector,
                policy: EnrollmentPolicy, report: ApplyReport, progress: bool) -> list[_Enrolled]:
    todo = [c for c in changes if c.needs_enrollment]
    enrolled = []
    started = time.perf_counter()
    with tqdm(total=sum(len(c.spec.photos) for c in todo), desc="enrolling photos", unit="photo",
              disable=not progress) as bar:
        try:
            results = enroll_people(pipeline, {c.person_id: c.spec.photos for c in todo}, policy.gates, bar.update)
        except ImageError as exc:
            raise ConfigError(f"{exc}. Nothing was written.") from None
        for change in todo:
            result = results[change.person_id]
            report.photos += len(change.spec.photos)
            report.rejected_photos.update(result.rejected)
            if len(result.embeddings) < policy.min_photos:
                report.rejected_people[change.person_id] = (
                    f"{len(result.embeddings)} usable photos, {policy.min_photos} needed")
                continue
            best = np.argsort(result.sharpness)[::-1][: policy.max_photos]
            templates = protector.protect(np.stack([result.embeddings[i] for i in best]))
            enrolled.append(_Enrolled(change, templates, [result.sharpness[i] for i in best]))
    report.enroll_seconds = time.perf_counter() - started
    return enrolled


def _drop_duplicates(enrolled: list[_Enrolled], store: GalleryStore, model_id: str, policy: EnrollmentPolicy,
                     report: ApplyReport) -> list[_Enrolled]:
    """Refuse a face that already belongs to another id, in the store or earlier in this file.

    The refusal threshold is strict (each new face meets the whole gallery, so a loose one would
    refuse strangers); a face closer than the recognition threshold is enrolled but flagged.
    """
    existing = store.gallery_matrix(model_id, enabled_only=False)
    index = GalleryIndex(existing.templates, existing.person_ids)
    kept = []
    for item in enrolled:
        other, distance = index.nearest_other(item.templates, item.change.person_id)
        if distance < policy.duplicate_threshold:
            report.rejected_people[item.change.person_id] = (
                f"face already enrolled as {other} (distance {distance:.3f} < {policy.duplicate_threshold:.3f})")
            continue
        if policy.review_threshold is not None and distance < policy.review_threshold:
            report.review[item.change.person_id] = f"looks like {other} (distance {distance:.3f}); check it is not the same person"
        kept.append(item)
        index.add(item.templates, [item.change.person_id] * len(item.templates))
    return kept


def _record_consent(store: GalleryStore, change: Change) -> None:
    """Keep every consent given; a re-applied file does not record the same consent twice."""
    consent = change.spec.consent_record()
    if consent not in store.consents(change.person_id):
        store.add_consent(change.person_id, consent)


def apply_changes(changes: list[Change], store: GalleryStore, pipeline: FacePipeline, protector: TemplateProtector,
                  policy: EnrollmentPolicy, prune: bool, progress: bool = True) -> ApplyReport:
    report = ApplyReport()
    model_id = pipeline.manifest.id
    stored_version = store.gallery_matrix(model_id, enabled_only=False).secret_version
    if stored_version is not None and stored_version != protector.secret_version:
        raise ProtectionError(f"the store's templates use template secret version {stored_version}, the kiosk "
                              f"holds version {protector.secret_version}; finish the secret rotation first")
    enrolled = _enroll_all(changes, pipeline, protector, policy, report, progress)
    if policy.duplicate_threshold is not None:
        enrolled = _drop_duplicates(enrolled, store, model_id, policy, report)
    removals = [c for c in changes if c.action == "remove" and prune]
    with store.transaction():
        for item in enrolled:
            change = item.change
            store.upsert_person(change.spec.person(change.photo_digest))
            store.replace_templates(change.person_id, TemplateSet(item.templates, model_id, protector.protector_id,
                                                                  protector.secret_version, item.qualities))
            _record_consent(store, change)
            store.log_event("person_enrolled", change.person_id, action=change.action, templates=len(item.templates))
            report.applied[change.action] += 1
        for change in changes:
            if change.action in ("update", "disable"):
                store.upsert_person(change.spec.person(change.photo_digest))
                _record_consent(store, change)
                store.log_event("person_updated", change.person_id, changes=change.details)
                report.applied[change.action] += 1
        for change in removals:
            store.delete_rows(change.person_id, reason="removed from the gallery file")
            report.applied["remove"] += 1
    if removals:
        store.compact()
    return report
