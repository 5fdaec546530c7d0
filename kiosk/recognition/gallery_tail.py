"""The gallery's own impostor tail: are this site's people more alike than the calibration's faces?

Thresholds are calibrated on public photos (LFW, UTKFace) taken in every pose and light; a door
sees its people the same way every day, and photos that alike bring strangers closer together:
measured on UTKFace's frontal adult chips, impostor pairs under LFW's thresholds were 28 to 57
times as many as LFW's own rate (`python main.py eval demographics`). The calibration cannot know a
site's faces; the site's gallery can: every pair of enrolled people is an impostor pair taken the
way the kiosk takes them. So the kiosk compares its templates' mutual distances with the
calibration's template-vs-template distances at the strictest rate its gallery resolves (at least
MIN_FALSE_MATCHES pairs under it), and when its people sit closer by more than the sampling noise
of so few pairs, tightens every threshold by the difference. It never loosens one.

The shift is measured at 1e-2 ... 1e-4 and applied to stricter rates too, where the gap may be
wider (on UTKFace 0.08 at 1e-3, 0.12 at 1e-4): it narrows the excess, it cannot promise to remove
it. The enrollment duplicate check refuses pairs under its own threshold (FMR 1e-6), far below the
rates read here.
"""

from dataclasses import dataclass

import numpy as np

from kiosk.manifest import ThresholdSpec
from kiosk.recognition.matching import pairwise_distances

MIN_FALSE_MATCHES = 10
MAX_TEMPLATES = 2000  # a seeded sample of larger galleries: 4 M pairs resolve 1e-4, in a few hundred ms


@dataclass(frozen=True)
class GalleryTail:
    """What the gallery check found; `shift` is subtracted from every threshold."""

    people: int
    pairs: int
    fmr: float | None       # the rate compared (None: too few people to read any)
    local: float | None     # the gallery's distance at that rate
    reference: float | None  # the calibration's
    shift: float

    def describe(self) -> str:
        if self.fmr is None:
            return (f"gallery check: {self.people} people are too few to compare their faces with the calibration's "
                    f"({self.pairs} pairs; {MIN_FALSE_MATCHES} under 1% of pairs are needed)")
        verdict = (f"this site's people are more alike than the calibration's faces: thresholds tightened by "
                   f"{self.shift:.4f}" if self.shift > 0 else "no closer than the calibration's faces")
        return (f"gallery check: {self.people} people, at FMR {self.fmr:g} their templates' distance is {self.local:.4f} "
                f"against {self.reference:.4f} calibrated ({self.pairs:,} pairs): {verdict}")


def gallery_tail(templates: np.ndarray, person_ids: np.ndarray, reference: ThresholdSpec | None,
                 seed: int = 0) -> GalleryTail:
    """Compare the gallery's template pairs of different people with `reference` (template vs template
    operating points); no reference (an older protector manifest) or too few people: no shift."""
    ids = np.asarray(person_ids, dtype=object)
    people = len(set(ids.tolist()))
    if len(ids) > MAX_TEMPLATES:
        rows = np.sort(np.random.default_rng(seed).choice(len(ids), MAX_TEMPLATES, replace=False))
        templates, ids = templates[rows], ids[rows]
    distances = pairwise_distances(templates, templates)
    upper = np.triu(ids[:, None] != ids[None, :], k=1)
    pairs = distances[upper]
    points = {} if reference is None else {reference.target_fmr: reference.value, **reference.operating_points}
    usable = [fmr for fmr in sorted(points) if np.floor(fmr * len(pairs)) >= MIN_FALSE_MATCHES]
    if not usable:
        return GalleryTail(people, len(pairs), None, None, None, 0.0)
    fmr = usable[0]
    # the distance under which the gallery holds `count` pairs, read two standard deviations of a count
    # further (Poisson): a gallery is tightened for what it shows beyond chance, not for its sampling noise
    count = np.floor(fmr * len(pairs))
    rank = min(len(pairs) - 1, int(count + 2 * np.sqrt(count)))
    local = float(np.partition(pairs, rank)[rank])
    return GalleryTail(people, len(pairs), fmr, local, points[fmr], max(0.0, points[fmr] - local))
