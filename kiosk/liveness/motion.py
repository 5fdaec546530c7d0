"""Motion cues a picture cannot give: a head turn in depth, and a mouth that opens and closes.

A head turn moves the nose across the line between the eyes: the turn index (the nose's offset
from the eyes' midpoint along the eye axis, in eye distances) changes by about 0.25 per 15 degrees.
A print held still or swaying keeps it within +-0.07 for three frames in a row (both development
sets); a print tilted hard can push it further for a frame or two, so a turn must last (0.20,
about 12 degrees, three frames), and it must change the face's shape:
the landmarks of a turned head cannot be mapped onto those of the first frame by one homography
(a plane-to-plane map), while a tilted print's always can. Small sway is never judged: it is too
small to tell a head from a plane, which is why no verdict rests on it.

The mouth cue measures the lips' inner gap against the face's height (eyes to chin), smoothed over
a few frames: talking and smiling change it by 0.10-0.22, a print held by hand by at most 0.026.
"""

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.recognition.layout import LandmarkLayout

TURN_POINTS = ("right_eye_outer", "left_eye_outer", "nose_tip")
MOUTH_POINTS = ("upper_lip_inner", "lower_lip_inner", "chin")


@dataclass(frozen=True)
class MotionRule:
    """Chosen on the `liveness` development videos (a live turn of 0.20-0.25 leaves 0.07-0.09
    unexplained by a homography; landmark noise on faces held still stays under 0.03), reported on
    `liveness-extra`."""

    min_turn: float = 0.20        # a turn (about 12 degrees): the turn index moved this far from the first frame ...
    sustain_frames: int = 3       # ... for this many frames in a row, the same way
    depth_residual: float = 0.05  # and a homography leaves this much unexplained (eye distances): a head
    flat_residual: float = 0.03   # it explains the turn this well: a flat picture tilted
    mouth_range: float = 0.05     # the mouth opening changed this much (share of the face's height)
    mouth_smoothing: int = 5      # frames whose median is one mouth reading


@dataclass(frozen=True)
class Turn:
    at_ms: int
    direction: int   # +1: the nose moved to the image's right (the person's own left), -1 the other way
    residual: float  # what the best homography leaves unexplained, in eye distances

    def in_depth(self, rule: MotionRule) -> bool:
        return self.residual >= rule.depth_residual

    def flat(self, rule: MotionRule) -> bool:
        return self.residual < rule.flat_residual


def turn_index(layout: LandmarkLayout, landmarks: np.ndarray) -> float:
    """The nose's offset from the eyes' midpoint along the eye axis, in eye distances; positive when
    the nose is towards the image's right. Independent of the head's roll and of its size."""
    right_eye, left_eye, nose = layout.points(landmarks, TURN_POINTS)
    axis = left_eye - right_eye
    length_squared = float(axis @ axis)
    if length_squared <= 0:
        return 0.0
    return float((nose - (left_eye + right_eye) / 2) @ axis / length_squared)


def plane_residual(before: np.ndarray, after: np.ndarray, eye_distance: float) -> float:
    """RMS distance, in eye distances, that the best homography from `before` to `after` leaves."""
    source, target = before[:, :2].astype(np.float64), after[:, :2].astype(np.float64)
    homography, _ = cv2.findHomography(source, target, 0)
    if homography is None or eye_distance <= 0:
        return 0.0
    mapped = cv2.perspectiveTransform(source[None], homography)[0]
    return float(np.sqrt(np.mean(np.sum((mapped - target) ** 2, axis=1)))) / eye_distance


class HeadMotion:
    """Turns and mouth movement of one track's face, measured from the visit's first frame."""

    def __init__(self, layout: LandmarkLayout, rule: MotionRule = MotionRule()):
        layout.require(points=TURN_POINTS + MOUTH_POINTS)
        self.layout = layout
        self.rule = rule
        self.turns: list[Turn] = []
        self._neutral: tuple[np.ndarray, float] | None = None  # first landmarks and their turn index
        self._run = 0            # frames in a row turned the same way, past min_turn
        self._direction = 0
        self._armed = True       # back near the neutral pose since the last turn
        self._mouth: deque[float] = deque(maxlen=rule.mouth_smoothing)
        self._mouth_low = np.inf
        self._mouth_high = -np.inf

    def update(self, landmarks: np.ndarray, timestamp_ms: int) -> Turn | None:
        """Feed one frame; returns the turn it completes, if any."""
        self._update_mouth(landmarks)
        turn = turn_index(self.layout, landmarks)
        if self._neutral is None:
            self._neutral = (landmarks, turn)
            return None
        change = turn - self._neutral[1]
        if abs(change) < self.rule.min_turn / 2:
            self._armed, self._run = True, 0
            return None
        direction = 1 if change > 0 else -1
        if abs(change) < self.rule.min_turn or not self._armed:
            self._run = 0
            return None
        self._run = self._run + 1 if direction == self._direction else 1
        self._direction = direction
        if self._run < self.rule.sustain_frames:
            return None
        right_eye, left_eye = self.layout.points(landmarks, TURN_POINTS[:2])
        residual = plane_residual(self._neutral[0], landmarks, float(np.linalg.norm(left_eye - right_eye)))
        self.turns.append(Turn(timestamp_ms, direction, residual))
        self._armed, self._run = False, 0
        return self.turns[-1]

    def _update_mouth(self, landmarks: np.ndarray) -> None:
        upper, lower, chin = self.layout.points(landmarks, MOUTH_POINTS)
        right_eye, left_eye = self.layout.points(landmarks, TURN_POINTS[:2])
        height = float(np.linalg.norm(chin - (left_eye + right_eye) / 2))
        if height <= 0:
            return
        self._mouth.append(float(np.linalg.norm(upper - lower)) / height)
        if len(self._mouth) == self._mouth.maxlen:
            reading = float(np.median(self._mouth))
            self._mouth_low, self._mouth_high = min(self._mouth_low, reading), max(self._mouth_high, reading)

    @property
    def turned_in_depth(self) -> bool:
        return any(turn.in_depth(self.rule) for turn in self.turns)

    @property
    def turned_flat(self) -> bool:
        return any(turn.flat(self.rule) for turn in self.turns)

    @property
    def mouth_moved(self) -> bool:
        return self._mouth_high - self._mouth_low >= self.rule.mouth_range
