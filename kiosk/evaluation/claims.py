"""Claim + face against 1:N, at gallery sizes a site may reach (`eval identify`, its claim lines).

Galleries of 1,000 to 100,000 people: the real LFW people with two or more photos (first photo
enrolled) among synthetic people drawn from the real template distribution (kiosk/bench/scale.py),
all protected. Probes: each real person's second photo (mated), and every person of LFW with a
single photo (strangers, never enrolled). Single photos, as the kiosk's first frame decides.

- 1:N: the nearest template at the threshold the kiosk picks for the gallery's size
  (`threshold_for_gallery`, defaults: 0.5 false accepts a day over 200 visits); past the strictest
  calibrated point the strictest is used and the strangers' rate exceeds the budget (said).
- Claim + face: the probe against the claimed person's template only, at the 1:1 threshold for the
  same budget per visit (0.25%: one comparison), and at the door's `claim_fmr`. A stranger without
  a card or code is never compared with anyone; the measured risk is the impostor with a stolen
  card: every stranger's photo against every real enrolled person's template.
Caveat: LFW is part of the calibration set, so the 1:1 rates are in-sample; `eval demographics`
measures how calibration transfers to faces it did not see (28-57x nominal on UTKFace).
"""

import secrets
from dataclasses import dataclass

import numpy as np

from kiosk.bench.scale import synthetic_embeddings
from kiosk.config import RecognitionConfig
from kiosk.evaluation.lfw import EncodedSet, identity_of
from kiosk.manifest import ProtectorManifest, ThresholdSpec
from kiosk.protection import AdversarialProtector
from kiosk.recognition.matching import pairwise_distances
from kiosk.runtime.decisions import threshold_for_gallery
from kiosk.runtime.policy import claim_policy


@dataclass(frozen=True)
class ScaleComparison:
    people: int
    identify_threshold: float
    identify_fnir: float
    identify_fpir: float      # strangers accepted as someone
    claim_threshold: float    # 1:1 at the same false-accept budget per visit
    claim_fmr: float          # the calibrated point behind it
    claim_fnir: float
    stolen_card_pass: float   # a stranger holding an enrolled person's card, at that threshold


@dataclass(frozen=True)
class ClaimReport:
    real_people: int
    strangers: int
    impostor_pairs: int
    budget: float                     # false accepts per visit the defaults allow
    sizes: list[ScaleComparison]
    door_fmr: float                   # the door's claim_fmr
    door_threshold: float
    door_fnir: float
    door_stolen_card_pass: float


def _real_split(encoded: EncodedSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows: first photo of each person with two usable photos, their second photo, single-photo people."""
    rows: dict[str, list[int]] = {}
    for row in np.flatnonzero(encoded.ok):
        rows.setdefault(identity_of(encoded.names[row]), []).append(int(row))
    twice = [r for r in rows.values() if len(r) >= 2]
    once = [r[0] for r in rows.values() if len(r) == 1]
    return np.array([r[0] for r in twice]), np.array([r[1] for r in twice]), np.array(once)


def _nearest(gallery: np.ndarray, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    index = faiss.IndexFlatL2(gallery.shape[1])
    index.add(np.ascontiguousarray(gallery, dtype=np.float32))
    squared, rows = index.search(np.ascontiguousarray(probes, dtype=np.float32), 1)
    return rows[:, 0], np.sqrt(np.maximum(squared[:, 0], 0))


def compare_claims(encoded: EncodedSet, protector_manifest: ProtectorManifest, single: ThresholdSpec,
                   recognition: RecognitionConfig, sizes: list[int], door_fmr: float,
                   seed: int = 2026) -> ClaimReport:
    protector = AdversarialProtector(protector_manifest, secrets.token_bytes(32), 1, provider="cpu")
    enrolled_rows, mated_rows, stranger_rows = _real_split(encoded)
    templates = protector.protect(encoded.templates[enrolled_rows])
    mated = protector.probe_space(encoded.probes[mated_rows])
    strangers = protector.probe_space(encoded.probes[stranger_rows])
    # synthetic people follow the enrolled people's templates only: strangers' photos never shape them
    unit_templates = encoded.templates[enrolled_rows] / np.linalg.norm(encoded.templates[enrolled_rows], axis=1,
                                                                       keepdims=True)
    rng = np.random.default_rng(seed)
    budget = recognition.false_accepts_per_day / recognition.attempts_per_day
    own = np.linalg.norm(mated - templates, axis=1)           # each probe against its own (claimed) template
    impostor = pairwise_distances(strangers, templates)       # every stranger with every real person's card

    def claim_rates(threshold: float) -> tuple[float, float]:
        return float(np.mean(own >= threshold)), float(np.mean(impostor < threshold))

    claim_threshold = claim_policy(single, None, recognition, budget).single_threshold  # as a claim door would
    claim_point = max(rate for rate in {single.target_fmr, *single.operating_points} if rate <= budget)
    claim_fnir, stolen = claim_rates(claim_threshold)
    rows = []
    for size in sizes:
        real = min(size, len(templates))
        synthetic = protector.protect(synthetic_embeddings(unit_templates, size - real, rng)) if size > real else \
            np.empty((0, templates.shape[1]), np.float32)
        gallery = np.concatenate([templates[:real], synthetic])
        threshold = threshold_for_gallery(single, recognition.false_accepts_per_day, recognition.attempts_per_day, size)
        nearest_row, distance = _nearest(gallery, mated[:real])
        _, stranger_distance = _nearest(gallery, strangers)
        identified = (nearest_row == np.arange(real)) & (distance < threshold)
        rows.append(ScaleComparison(size, threshold, float(np.mean(~identified)),
                                    float(np.mean(stranger_distance < threshold)), claim_threshold, claim_point,
                                    claim_fnir, stolen))
    door_threshold = claim_policy(single, None, recognition, door_fmr).single_threshold
    door_fnir, door_stolen = claim_rates(door_threshold)
    return ClaimReport(len(templates), len(strangers), int(impostor.size), budget, rows, door_fmr, door_threshold,
                       door_fnir, door_stolen)


def claim_lines(report: ClaimReport) -> list[str]:
    lines = [f"claim + face against 1:N ({report.real_people:,} real LFW people, one photo enrolled, among synthetic "
             f"people; {report.strangers:,} single-photo strangers; single photos; budget "
             f"{100 * report.budget:.2f}% false accepts per visit)"]
    for row in report.sizes:
        lines.append(f"claim + face at {row.people:,} people: FNIR {100 * row.claim_fnir:.1f}% at FPIR "
                     f"{100 * report.budget:.2f}% (1:1 at FMR {row.claim_fmr:g}; a stolen card passed "
                     f"{100 * row.stolen_card_pass:.2f}%); 1:N: FNIR {100 * row.identify_fnir:.1f}% "
                     f"(strangers accepted {100 * row.identify_fpir:.2f}%)")
    lines.append(f"  an impostor with a stolen card at the door's 1:1 threshold (claim_fmr {report.door_fmr:g}, "
                 f"{report.door_threshold:.4f}): passes {100 * report.door_stolen_card_pass:.4f}% of "
                 f"{report.impostor_pairs:,} impostor pairs; the holder's own face refused "
                 f"{100 * report.door_fnir:.1f}% (single photo)")
    return lines
