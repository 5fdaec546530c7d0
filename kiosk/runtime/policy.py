"""The thresholds and evidence rules a kiosk decides with, for its gallery: one place, so that the kiosk
and the evaluations that report what it would do (`eval identify`) can never drift apart.

Per comparison the false-match rate shrinks with the number of templates (`threshold_for_gallery`);
a fixed `recognition.threshold` overrides it (never looser than the calibrated 1:1 one); the gallery
check (kiosk/recognition/gallery_tail.py) then tightens both by what the site's own faces show.
"""

import logging

import numpy as np

from kiosk.config import RecognitionConfig
from kiosk.manifest import ThresholdSpec
from kiosk.recognition.gallery_tail import GalleryTail, gallery_tail
from kiosk.runtime.decisions import threshold_for_gallery
from kiosk.runtime.visit import VisitPolicy

log = logging.getLogger(__name__)


def gallery_policy(single: ThresholdSpec, fused: ThresholdSpec | None, template_pairs: ThresholdSpec | None,
                   recognition: RecognitionConfig, templates: np.ndarray,
                   person_ids: np.ndarray) -> tuple[VisitPolicy, GalleryTail]:
    """The visit policy for a gallery of these templates (clean probes against protected templates)."""
    rates = (recognition.false_accepts_per_day, recognition.attempts_per_day, len(templates))
    threshold = threshold_for_gallery(single, *rates)
    if recognition.threshold is not None:
        if recognition.threshold > single.value:
            log.warning("recognition.threshold %.4f is looser than the calibrated %.4f (FMR %g): using %.4f",
                        recognition.threshold, single.value, single.target_fmr, single.value)
        threshold = min(recognition.threshold, single.value)
    fused_threshold = threshold if fused is None or recognition.threshold else threshold_for_gallery(fused, *rates)
    tail = gallery_tail(templates, person_ids, template_pairs)
    threshold -= tail.shift
    policy = VisitPolicy(single_threshold=threshold, fused_threshold=min(threshold, fused_threshold - tail.shift),
                         continuity=single.value, min_frames=recognition.min_frames, max_frames=recognition.max_frames)
    return policy, tail


def claim_policy(single: ThresholdSpec, fused: ThresholdSpec | None, recognition: RecognitionConfig,
                 claim_fmr: float) -> VisitPolicy:
    """After a claim the face meets one person's templates: the 1:1 thresholds at `claim_fmr`."""
    one = single.at_fmr(claim_fmr)
    return VisitPolicy(single_threshold=one, fused_threshold=min(one, fused.at_fmr(claim_fmr)) if fused else one,
                       continuity=single.value, min_frames=recognition.min_frames, max_frames=recognition.max_frames)
