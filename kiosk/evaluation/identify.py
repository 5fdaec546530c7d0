"""1:N open-set identification on LFW, decided as the kiosk decides (`eval identify`).

Seeded split: of the people with two or more images, 70% are enrolled with their first image;
probes are their other images (mated) and every image of everyone else (non-mated). Templates are
protected, probes cross the keyed layer, and the threshold is the one the kiosk picks for that
gallery size (`threshold_for_gallery` with the default config).

- FNIR: mated probes not identified as the right person below the threshold;
- FPIR: non-mated probes whose nearest template is below the threshold;
- rank-1: mated probes whose nearest template is their own person's, whatever the distance.

A visit is three photos of one person: mated visits from enrolled people with three other photos,
non-mated ones from people outside the gallery with three photos. Fused: the mean of the three
unit probes, at the fused threshold; voted: each photo on its own, two of three naming the same
person; through the kiosk: the three photos fed as frames to the kiosk's own `Visit` (its quality
weights and hints, its continuity check, its min_frames and thresholds), and what it decides.
Photos per person: people with four photos or more enrolled with their first one, two or three,
matched by the nearest template or by the mean of the templates, each at the threshold for its
gallery's count of templates (every template is a comparison), probed with the same photos.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import numpy as np

from kiosk.config import RecognitionConfig
from kiosk.evaluation.calibration import fuse
from kiosk.evaluation.lfw import EncodedSet, identity_of
from kiosk.manifest import EmbedderManifest, ProtectorManifest, ThresholdSpec
from kiosk.protection import AdversarialProtector
from kiosk.recognition.faces import DetectedFace
from kiosk.recognition.gallery_tail import gallery_tail
from kiosk.recognition.matching import GalleryIndex, comparable
from kiosk.recognition.quality import evidence_weight
from kiosk.runtime.decisions import Decider, Outcome, hint_for, threshold_for_gallery
from kiosk.runtime.policy import gallery_policy
from kiosk.runtime.visit import FrameEvidence, Gallery, Visit, VisitPolicy
from kiosk.store.records import Person

ENROLLED_SHARE = 0.7


@dataclass(frozen=True)
class Rates:
    """Open-set figures of one way of deciding."""

    mated: int
    non_mated: int
    fnir: float
    fpir: float
    rank1: float

    @classmethod
    def of(cls, mated_ids: np.ndarray, mated_found: tuple[np.ndarray, np.ndarray],
           non_mated_found: tuple[np.ndarray, np.ndarray], threshold: float) -> "Rates":
        (nearest, distance), (_, stranger_distance) = mated_found, non_mated_found
        right = nearest == mated_ids
        return cls(len(mated_ids), len(stranger_distance), float(np.mean(~(right & (distance < threshold)))),
                   float(np.mean(stranger_distance < threshold)), float(np.mean(right)))


@dataclass(frozen=True)
class IdentifyReport:
    embedder: str
    enrolled: int
    threshold: float
    fused_threshold: float
    target_fmr: float
    gallery_check: str
    single: Rates
    fused: Rates
    voted: Rates
    kiosk: Rates                 # the three photos fed to the kiosk's Visit as frames
    kiosk_frames: "VisitFrames"
    templates: dict[str, Rates]  # 1, 2, 3 photos a person: nearest template, or their mean


@dataclass(frozen=True)
class VisitFrames:
    """What the kiosk's Visit made of the mated visits' photos."""

    photos: int
    hinted: int        # photos with a quality hint
    counted_hinted: int  # ... that still added evidence (weight above 0)
    restarts: int      # continuity restarts within one person's visit


def _nearest(index: GalleryIndex, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    found = [index.nearest(probe[None]) for probe in probes]
    return np.array([person for person, _ in found], dtype=object), np.array([d for _, d in found])


def _visits(rows_by_person: dict[str, list[int]], people: list[str], skip_first: int) -> list[tuple[str, np.ndarray]]:
    """Consecutive groups of three photos per person, after the `skip_first` enrolled ones."""
    visits = []
    for person in people:
        rows = rows_by_person[person][skip_first:]
        visits += [(person, np.array(rows[i:i + 3])) for i in range(0, len(rows) - 2, 3)]
    return visits


def _vote(index: GalleryIndex, probes: np.ndarray, visits: list[tuple[str, np.ndarray]],
          threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Two of three photos naming the same person below the threshold: that person, else no one."""
    names, distances = [], []
    for _, rows in visits:
        found = [index.nearest(probes[row][None]) for row in rows]
        accepted = [person for person, distance in found if distance < threshold]
        leader = max(set(accepted), key=accepted.count) if accepted else None
        wins = leader is not None and accepted.count(leader) >= 2
        names.append(leader if wins else None)
        distances.append(min(d for p, d in found if p == leader) if wins else np.inf)
    return np.array(names, dtype=object), np.array(distances)


def _through_visits(index: GalleryIndex, enrolled: list[str], probes: np.ndarray, encoded: EncodedSet,
                    visits: list[tuple[str, np.ndarray]], policy: VisitPolicy,
                    recognition: RecognitionConfig) -> tuple[tuple[np.ndarray, np.ndarray], VisitFrames]:
    """Each visit's photos as consecutive frames of one track (a photo without a face is a frame
    without one), decided by the kiosk's Visit: who it grants (distance 0) or no one (inf)."""
    gates = recognition.quality.gates()
    people = {person: Person(person, person) for person in enrolled}
    names, distances = [], []
    photos = hinted = counted = restarts = 0
    for _, rows in visits:
        gallery = Gallery(index, policy, Decider("eval", 0, people))
        visit, granted = Visit(0, 0, liveness=None), None
        for frame, row in enumerate(r for r in rows if encoded.ok[r]):
            quality = encoded.face_quality(row)
            hint, weight = hint_for(quality, gates), evidence_weight(quality, gates)
            photos, hinted, counted = photos + 1, hinted + (hint is not None), counted + (hint is not None and weight > 0)
            step = visit.step(FrameEvidence(at_ms=frame * 100, face=_NO_LANDMARKS, rgb=_NO_PIXELS, faces_in_view=1,
                                            hint=hint, probe=partial(_row, probes, row), weight=weight), gallery,
                              datetime(2026, 12, 7, 9))
            restarts += step.restarted
            if step.decision is not None:
                granted = step.decision.person_id if step.decision.outcome is Outcome.GRANTED else None
                break
        names.append(granted)
        distances.append(0.0 if granted is not None else np.inf)
    return (np.array(names, dtype=object), np.array(distances)), VisitFrames(photos, hinted, counted, restarts)


def _row(matrix: np.ndarray, row: int) -> np.ndarray:
    return matrix[row]


_NO_LANDMARKS = DetectedFace(np.zeros((1, 3), np.float32))  # a Visit without liveness reads no landmarks or pixels
_NO_PIXELS = np.zeros((1, 1, 3), np.uint8)


def identify(encoded: EncodedSet, embedder: EmbedderManifest, protector_manifest: ProtectorManifest,
             thresholds: tuple[ThresholdSpec, ThresholdSpec], recognition: RecognitionConfig,
             seed: int = 20261202) -> IdentifyReport:
    """The report for one descriptor on every LFW image (failed detections are probes that fail)."""
    protector = AdversarialProtector(protector_manifest, secrets.token_bytes(32), 1, provider="cpu")
    usable = encoded.ok
    templates = np.full_like(encoded.templates, np.nan)
    templates[usable] = protector.protect(encoded.templates[usable])
    probes = np.full_like(encoded.probes, 10.0)  # a failed photo is far from everyone: never identified
    probes[usable] = protector.probe_space(encoded.probes[usable])
    clean_probes = comparable(encoded.probes, embedder.metric)

    rows_by_person: dict[str, list[int]] = {}
    for row, name in enumerate(encoded.names):
        rows_by_person.setdefault(identity_of(name), []).append(row)
    repeated = sorted(p for p, rows in rows_by_person.items() if len(rows) >= 2)
    order = np.random.default_rng(seed).permutation(len(repeated))
    enrolled = sorted(repeated[i] for i in order[: int(round(ENROLLED_SHARE * len(repeated)))])
    enrolled = [p for p in enrolled if usable[rows_by_person[p][0]]]  # enrollment refuses a photo without a face
    strangers = sorted(set(rows_by_person) - set(enrolled))

    single_spec, fused_spec = thresholds
    false_accepts_per_day, attempts_per_day = recognition.false_accepts_per_day, recognition.attempts_per_day
    first = [rows_by_person[p][0] for p in enrolled]
    policy, tail = gallery_policy(single_spec, fused_spec, protector_manifest.template_pairs, recognition,
                                  templates[first], np.array(enrolled, dtype=object))  # the kiosk's own
    threshold, fused_threshold = policy.single_threshold, policy.fused_threshold
    index = GalleryIndex(templates[first], np.array(enrolled, dtype=object))
    mated_rows = [row for p in enrolled for row in rows_by_person[p][1:]]
    mated_ids = np.array([identity_of(encoded.names[row]) for row in mated_rows], dtype=object)
    stranger_rows = [row for p in strangers for row in rows_by_person[p]]
    single = Rates.of(mated_ids, _nearest(index, probes[mated_rows]), _nearest(index, probes[stranger_rows]), threshold)

    mated_visits, stranger_visits = _visits(rows_by_person, enrolled, 1), _visits(rows_by_person, strangers, 0)

    def fused_probes(visits):
        return np.stack([protector.probe_space(fuse(clean_probes[rows][usable[rows]])[None])[0]
                         if usable[rows].any() else np.full(embedder.dim, 10.0, np.float32) for _, rows in visits])

    visit_ids = np.array([person for person, _ in mated_visits], dtype=object)
    fused = Rates.of(visit_ids, _nearest(index, fused_probes(mated_visits)),
                     _nearest(index, fused_probes(stranger_visits)), fused_threshold)
    voted = Rates.of(visit_ids, _vote(index, probes, mated_visits, threshold),
                     _vote(index, probes, stranger_visits, threshold), threshold)
    mated_kiosk, frames = _through_visits(index, enrolled, probes, encoded, mated_visits, policy, recognition)
    stranger_kiosk, _ = _through_visits(index, enrolled, probes, encoded, stranger_visits, policy, recognition)
    kiosk = Rates.of(visit_ids, mated_kiosk, stranger_kiosk, np.inf)
    return IdentifyReport(embedder.id, len(enrolled), threshold, fused_threshold,
                          false_accepts_per_day / (attempts_per_day * len(enrolled)), tail.describe(), single, fused,
                          voted, kiosk, frames,
                          _template_policies(templates, probes, rows_by_person, enrolled, stranger_rows, encoded,
                                             false_accepts_per_day, attempts_per_day, single_spec,
                                             protector_manifest.template_pairs))


def _template_policies(templates: np.ndarray, probes: np.ndarray, rows_by_person: dict[str, list[int]],
                       enrolled: list[str], stranger_rows: list[int], encoded: EncodedSet,
                       false_accepts_per_day: float, attempts_per_day: int,
                       spec: ThresholdSpec, template_pairs: ThresholdSpec | None) -> dict[str, Rates]:
    """People with four usable photos or more, enrolled with their first one, two or three photos
    (nearest template; or the mean of two or three, at the threshold for as many templates as people),
    probed with the same photos (the fourth on) and strangers, each gallery at its own threshold and
    gallery check, as the kiosk would set them."""
    people = [p for p in enrolled if len(rows_by_person[p]) >= 4 and not np.isnan(templates[rows_by_person[p][:3], 0]).any()]
    ids = np.array(people, dtype=object)
    mated_rows = [row for p in people for row in rows_by_person[p][3:]]
    mated_ids = np.array([identity_of(encoded.names[row]) for row in mated_rows], dtype=object)
    galleries = {}
    for count in (1, 2, 3):
        photos = np.stack([templates[rows_by_person[p][:count]] for p in people])
        galleries[f"{count} nearest"] = (photos.reshape(-1, photos.shape[-1]), np.repeat(ids, count))
        if count > 1:
            means = photos.mean(axis=1)
            galleries[f"{count} mean"] = (means / np.linalg.norm(means, axis=1, keepdims=True), ids)
    rates = {}
    for name, (matrix, owners) in galleries.items():
        threshold = threshold_for_gallery(spec, false_accepts_per_day, attempts_per_day, len(owners)) - gallery_tail(
            matrix, owners, template_pairs).shift
        index = GalleryIndex(matrix, owners)
        rates[name] = Rates.of(mated_ids, _nearest(index, probes[mated_rows]), _nearest(index, probes[stranger_rows]),
                               threshold)
    return rates
