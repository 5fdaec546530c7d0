"""Site calibration of the texture cue: its operating point from live faces at the site's own camera.

MiniFASNet's live probability depends on the camera and the light: on ordinary webcams about a fifth
of live 15-frame windows fall below the shipped 0.95. So staff stand in front of the kiosk's camera
for a while, every window of `window` consecutive frames of a face gives one median (as the kiosk
judges), and the operating point is the share `bpcer` of those medians from the bottom: that share
of live windows would be refused at this site. It never goes below the manifest's floor, under
which an attack development video that showed a sign of life would pass.
"""

from collections import deque
from dataclasses import dataclass

import numpy as np

MIN_WINDOWS = 30  # fewer live windows than this say too little about a 5% tail


@dataclass(frozen=True)
class TextureCalibration:
    threshold: float        # the operating point to use
    quantile: float         # the live windows' `bpcer` quantile, before the floor
    floor: float
    windows: int
    bpcer_at_threshold: float  # share of the recorded live windows the threshold refuses

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


def calibrate_texture(medians: list[float], bpcer: float, floor: float) -> TextureCalibration:
    """The operating point that refuses the share `bpcer` of these live windows, but not below `floor`."""
    if len(medians) < MIN_WINDOWS:
        raise ValueError(f"only {len(medians)} windows of a live face were recorded (at least {MIN_WINDOWS} are "
                         f"needed): record for longer, with a member of staff facing the camera")
    values = np.asarray(medians)
    quantile = float(np.quantile(values, bpcer, method="lower"))
    threshold = max(floor, np.floor(quantile * 1000) / 1000)  # rounded down: never refuse more than stated
    return TextureCalibration(threshold, quantile, floor, len(values), float(np.mean(values < threshold)))
