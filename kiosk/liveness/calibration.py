"""Site calibration of the texture cue: its operating point from live faces at the site's own camera.

MiniFASNet's live probability depends on the camera and the light, and on the person: one webcam
calibrated on each of seven people in turn gave operating points from 0.800 to 0.998, and at 0.998
twelve of twenty live videos were refused. So the point comes from several visitors, each weighed
equally: every window of `window` consecutive frames of a face gives one median (as the kiosk
judges), and the operating point is the share `bpcer` of all medians from the bottom, each visitor's
windows counting as much as any other visitor's, however long they stood there. It never goes below
the manifest's floor, under which an attack development video that showed a sign of life would
pass. Calibration refuses when too few visitors came, or when one visitor alone moves the point by
more than MAX_SHIFT (left out, the others give another point): then the site's point would depend on
who happened to stand there, and more people are needed (or that person's light checked).
"""

from collections import deque
from dataclasses import dataclass

import numpy as np

MIN_WINDOWS = 30  # fewer live windows than this say too little about a 5% tail
# Fewer people than this: one draw of people sets the point for everyone. With five, the single-person
# points of the seven webcam clips (0.800 ... 0.998) can no longer set it alone: no visitor
# weighs more than a fifth of the windows.
MIN_VISITORS = 5
MIN_WINDOWS_PER_VISITOR = 10   # about 1 s of a face at 15 fps after the first window
MAX_SHIFT = 0.10               # one visitor left out moves the point further: it depends on that person


@dataclass(frozen=True)
class TextureCalibration:
    threshold: float        # the operating point to use
    quantile: float         # the live windows' `bpcer` quantile (visitors weighed equally), before the floor
    floor: float
    windows: int
    bpcer_at_threshold: float  # share of the recorded live windows the threshold refuses (visitors weighed equally)
    visitor_quantiles: tuple[float, ...] = ()  # each visitor's own `bpcer` quantile: the spread between them
    visitor_bpcer: tuple[float, ...] = ()      # share of each visitor's windows the threshold refuses

    @property
    def spread(self) -> float:
        return max(self.visitor_quantiles) - min(self.visitor_quantiles) if self.visitor_quantiles else 0.0

    @property
    def floored(self) -> bool:
        return self.quantile < self.floor


class WindowMedians:
    """Medians of every run of `window` consecutive frames of one face; a frame without a face ends a run."""

    def __init__(self, window: int):
        self._run: deque[float] = deque(maxlen=window)
        self.medians: list[float] = []

    def add(self, probability: float | None) -> None:
        if probability is None:
            self._run.clear()
            return
        self._run.append(probability)
        if len(self._run) == self._run.maxlen:
            self.medians.append(float(np.median(self._run)))


def calibrate_texture(visitors: list[list[float]], bpcer: float, floor: float) -> TextureCalibration:
    """The operating point that refuses the share `bpcer` of these visitors' live windows (each visitor
    weighed equally), but not below `floor`. ValueError says what to do when the visitors are too few,
    too brief, or disagree."""
    brief = [number for number, medians in enumerate(visitors, start=1) if len(medians) < MIN_WINDOWS_PER_VISITOR]
    if brief:
        raise ValueError(f"visitor{'s' if len(brief) > 1 else ''} {', '.join(map(str, brief))} showed a face for too "
                         f"short a time ({MIN_WINDOWS_PER_VISITOR} windows each are needed): record each for longer")
    if len(visitors) < MIN_VISITORS:
        raise ValueError(f"{len(visitors)} visitor{'s' if len(visitors) != 1 else ''} recorded, at least {MIN_VISITORS} "
                         f"people are needed: one person's scores do not tell how the camera sees the others "
                         f"(give --source once per person)")
    values = np.concatenate([np.asarray(medians, dtype=np.float64) for medians in visitors])
    if len(values) < MIN_WINDOWS:
        raise ValueError(f"only {len(values)} windows of a live face were recorded (at least {MIN_WINDOWS} are "
                         f"needed): record for longer, with a member of staff facing the camera")
    quantile = _pooled_quantile(visitors, bpcer)
    threshold = _operating_point(quantile, floor)
    own = tuple(float(np.quantile(np.asarray(m), bpcer, method="lower")) for m in visitors)
    without = [_operating_point(_pooled_quantile(visitors[:i] + visitors[i + 1:], bpcer), floor)
               for i in range(len(visitors))]
    shifts = [abs(point - threshold) for point in without]
    decisive = int(np.argmax(shifts))
    if shifts[decisive] > MAX_SHIFT:
        raise ValueError(f"the visitors disagree: visitor {decisive + 1} alone moves the operating point from "
                         f"{without[decisive]:.3f} to {threshold:.3f} (each visitor's own point: "
                         f"{', '.join(f'{q:.3f}' for q in own)}); record more people, and check the light on "
                         f"visitor {decisive + 1}'s face")
    refused = tuple(float(np.mean(np.asarray(m) < threshold)) for m in visitors)
    return TextureCalibration(threshold, quantile, floor, len(values), float(np.mean(refused)), own, refused)


def _pooled_quantile(visitors: list[list[float]], share: float) -> float:
    """The `share` quantile of all windows, each visitor's windows weighing as much as any other's."""
    values = np.concatenate([np.asarray(medians, dtype=np.float64) for medians in visitors])
    weights = np.concatenate([np.full(len(medians), 1 / len(medians)) for medians in visitors])
    return float(np.quantile(values, share, method="inverted_cdf", weights=weights))


def _operating_point(quantile: float, floor: float) -> float:
    return float(max(floor, np.floor(quantile * 1000) / 1000))  # rounded down: never refuse more than stated
