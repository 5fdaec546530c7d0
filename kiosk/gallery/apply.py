"""Apply a gallery plan: enroll from photos through the real pipeline, then write it all in one
transaction (kiosk/enrollment.write_enrollments, the path every enrollment takes). Nothing is
written until every photo has been read; a crash or a kill leaves the store as it was before, or
with the whole change."""

import time
from collections import Counter
from dataclasses import dataclass, field

from tqdm import tqdm

from kiosk.enrollment import Candidate, EnrollmentPolicy, enroll_people, write_enrollments
from kiosk.errors import ConfigError, ImageError
from kiosk.gallery.plan import Change
from kiosk.gallery.target import GalleryTarget
from kiosk.protection import TemplateProtector
from kiosk.recognition.pipeline import FacePipeline


@dataclass
class ApplyReport:
    applied: Counter = field(default_factory=Counter)
    rejected_people: dict[str, str] = field(default_factory=dict)
    rejected_photos: dict[str, str] = field(default_factory=dict)
    review: dict[str, str] = field(default_factory=dict)
    few_photos: dict[str, str] = field(default_factory=dict)
    photos: int = 0
    enroll_seconds: float = 0.0

    @property
    def photos_per_second(self) -> float:
        return self.photos / self.enroll_seconds if self.enroll_seconds else 0.0


def _candidates(changes: list[Change], pipeline: FacePipeline, policy: EnrollmentPolicy, report: ApplyReport,
                progress: bool) -> list[Candidate]:
    """Every photo of the people to enroll read, checked and embedded (before anything is written)."""
    todo = [c for c in changes if c.needs_enrollment]
    started = time.perf_counter()
    with tqdm(total=sum(len(c.person_spec.photos) for c in todo), desc="enrolling photos", unit="photo",
              disable=not progress) as bar:
        try:
            results = enroll_people(pipeline, {c.person_id: c.person_spec.photos for c in todo}, policy.gates, bar.update)
        except ImageError as exc:
            raise ConfigError(f"{exc}. Nothing was written.") from None
    report.enroll_seconds = time.perf_counter() - started
    for change in todo:
        report.photos += len(change.person_spec.photos)
        report.rejected_photos.update(results[change.person_id].rejected)
    return [Candidate(c.person_spec.person(c.photo_digest), c.person_spec.consent_record(), results[c.person_id], c.action)
            for c in todo]


def apply_changes(changes: list[Change], store: GalleryTarget, pipeline: FacePipeline, protector: TemplateProtector,
                  policy: EnrollmentPolicy, prune: bool, progress: bool = True) -> ApplyReport:
    report = ApplyReport()
    candidates = _candidates(changes, pipeline, policy, report, progress)
    removals = [c for c in changes if c.action == "remove" and prune]

    def updates_and_removals(store: GalleryTarget) -> None:
        for change in changes:
            if change.action in ("update", "disable"):
                store.upsert_person(change.person_spec.person(change.photo_digest))
                consent = change.person_spec.consent_record()
                if consent not in store.consents(change.person_id):
                    store.add_consent(change.person_id, consent)
                store.log_event("person_updated", change.person_id, changes=change.details)
                report.applied[change.action] += 1
        for change in removals:
            store.delete_rows(change.person_id, reason="removed from the gallery file")
            report.applied["remove"] += 1

    written = write_enrollments(store, protector, pipeline.manifest.id, policy, candidates, updates_and_removals)
    actions = {c.person.id: c.action for c in candidates}
    report.applied.update(actions[person_id] for person_id in written.enrolled)
    report.rejected_people.update(written.refused)
    report.review.update(written.review)
    report.few_photos.update(written.few_photos)
    if removals:
        store.compact()
    return report
