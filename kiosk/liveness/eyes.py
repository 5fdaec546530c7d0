"""Blink cue: the eye aspect ratio (EAR) of the 478-point mesh, confirmed by the blink blendshapes.

EAR = (|p2-p6| + |p3-p5|) / (2 |p1-p4|) over six points round each eye (Soukupova and Cech, 2016).
It falls by more than half when the lids close, whatever the eye's size, so a blink is a dip
below a fraction of the person's own open-eye baseline and back. The blendshape score alone is
a learned guess that a printed face with narrow eyes can raise; the geometry must agree.
"""

from collections import deque
from dataclasses import dataclass

import numpy as np

# MediaPipe mesh indices: outer corner, two upper-lid points, inner corner, two lower-lid points.
LEFT_EYE = (33, 160, 158, 133, 153, 144)
RIGHT_EYE = (362, 385, 387, 263, 373, 380)


def eye_aspect_ratio(landmarks: np.ndarray) -> float:
    """Mean EAR of both eyes from (K, 2+) landmark positions."""
    ratios = []
    for eye in (LEFT_EYE, RIGHT_EYE):
        p = landmarks[list(eye), :2]
        width = float(np.linalg.norm(p[0] - p[3]))
        ratios.append(float((np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])) / (2 * width)) if width > 0 else 0.0)
    return float(np.mean(ratios))


def blink_score(blendshapes: dict[str, float] | None) -> float:
    if not blendshapes:
        return 0.0
    return (blendshapes.get("eyeBlinkLeft", 0.0) + blendshapes.get("eyeBlinkRight", 0.0)) / 2


@dataclass(frozen=True)
class BlinkRule:
    closed_ratio: float = 0.6      # closed: EAR below this share of the open-eye baseline ...
    open_ratio: float = 0.85       # ... and open again above this share
    min_blendshape: float = 0.35   # the blendshapes must agree that the lids are closed
    baseline_ms: int = 1500        # the baseline is the 80th percentile of EAR over this time
    max_closed_ms: int = 1000      # longer than this is eyes held shut, not a blink


class BlinkDetector:
    """Counts blinks in a stream of faces of one track."""

    def __init__(self, rule: BlinkRule = BlinkRule()):
        self.rule = rule
        self._history: deque[tuple[int, float]] = deque()
        self._closed_since: int | None = None
        self.blinks: list[int] = []  # timestamps of completed blinks

    def update(self, landmarks: np.ndarray, blendshapes: dict[str, float] | None, timestamp_ms: int) -> bool:
        """Feed one frame; True when it completes a blink."""
        ear = eye_aspect_ratio(landmarks)
        self._history.append((timestamp_ms, ear))
        while self._history and timestamp_ms - self._history[0][0] > self.rule.baseline_ms:
            self._history.popleft()
        baseline = float(np.percentile([value for _, value in self._history], 80))
        if self._closed_since is None:
            if ear < self.rule.closed_ratio * baseline and blink_score(blendshapes) >= self.rule.min_blendshape:
                self._closed_since = timestamp_ms
            return False
        if ear > self.rule.open_ratio * baseline:
            closed_for = timestamp_ms - self._closed_since
            self._closed_since = None
            if closed_for <= self.rule.max_closed_ms:
                self.blinks.append(timestamp_ms)
                return True
        return False
