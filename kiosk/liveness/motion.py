"""Motion cues a picture cannot give: a head turn in depth, and a mouth that opens and closes.

A head turn moves the nose across the line between the eyes: the turn index (the nose's offset
from the eyes' midpoint along the eye axis, in eye distances) changes by about 0.25 per 15 degrees.
A print held still or swaying keeps it within +-0.07 for three frames in a row (both development
sets); a print tilted hard can push it further for a frame or two, so a turn must last (0.20,
about 12 degrees, three frames), and it must show depth: the points of the face's surface, tracked
in the image (`SurfaceMotion`), cannot be mapped from the first frame by one homography (a
plane-to-plane map), while a tilted print's or a worn cut-out's always can. The landmarks cannot
judge that: the landmarker fits a 3D face to a turned flat picture too. Small sway is never judged:
it is too small to tell a head from a plane, which is why no verdict rests on it.

Looking up or down moves the nose across the eye line the other way: the pitch index (the nose's
offset from the eyes' midpoint perpendicular to the eye axis, in eye distances; about 0.45 facing
the camera) falls by about 0.15 for a look up of 15 degrees. A look counts like a turn: 0.12 (about
11 degrees) for three frames, and the surface no longer moving as one plane.

The mouth cue measures the lips' inner gap against the face's height (eyes to chin), smoothed over
a few frames: talking and smiling change it by 0.10-0.22, a print held by hand by at most 0.026.
A smile is the smile blendshapes' mean rising above the visit's first frames: by 0.27-0.88 for the
people who smiled in the `liveness` set, by at most 0.05 for every print and replay there.
"""

from collections import deque
from dataclasses import dataclass

import numpy as np

from kiosk.recognition.layout import LandmarkLayout

TURN_POINTS = ("right_eye_outer", "left_eye_outer", "nose_tip")
MOUTH_POINTS = ("upper_lip_inner", "lower_lip_inner", "chin")
SMILE_SMOOTHING = 3  # frames whose mean is one smile reading


@dataclass(frozen=True)
class MotionRule:
    """Chosen on the `liveness` development videos and cut-outs made from them (when a live turn or
    look completes, one plane leaves 0.057-0.17 eye distances unexplained on the face's surface; on
    a cut-out print worn over a turning face, 0.017-0.020), reported on `liveness-masks`."""

    min_turn: float = 0.20        # a turn (about 12 degrees): the turn index moved this far from the first frame ...
    sustain_frames: int = 3       # ... for this many frames in a row, the same way
    depth_residual: float = 0.04  # and one plane leaves this much of the surface's motion unexplained (eye
    flat_residual: float = 0.03   # distances): a head; it explains it this well: a flat picture turned
    mouth_range: float = 0.05     # the mouth opening changed this much (share of the face's height)
    mouth_smoothing: int = 5      # frames whose median is one mouth reading
    min_look: float = 0.12        # a look up or down (about 11 degrees): the pitch index moved this far
    min_smile: float = 0.20       # the smile blendshapes rose this far above the visit's first frames


@dataclass(frozen=True)
class Turn:
    """A turn (yaw) or a look up or down (pitch) of the head, from the visit's first frame."""

    at_ms: int
    direction: int          # yaw: +1 the nose moved to the image's right (the person's own left); pitch: -1 up, +1 down
    residual: float | None  # what one plane leaves of the surface's motion, in eye distances; None: no reading

    def in_depth(self, rule: MotionRule) -> bool:
        return self.residual is not None and self.residual >= rule.depth_residual

    def flat(self, rule: MotionRule) -> bool:
        return self.residual is not None and self.residual < rule.flat_residual


def turn_index(layout: LandmarkLayout, landmarks: np.ndarray) -> float:
    """The nose's offset from the eyes' midpoint along the eye axis, in eye distances; positive when
    the nose is towards the image's right. Independent of the head's roll and of its size."""
    right_eye, left_eye, nose = layout.points(landmarks, TURN_POINTS)
    axis = left_eye - right_eye
    length_squared = float(axis @ axis)
    if length_squared <= 0:
        return 0.0
    return float((nose - (left_eye + right_eye) / 2) @ axis / length_squared)


def pitch_index(layout: LandmarkLayout, landmarks: np.ndarray) -> float:
    """The nose's offset from the eyes' midpoint perpendicular to the eye axis, in eye distances;
    smaller when the head looks up. Independent of the head's roll and of its size."""
    right_eye, left_eye, nose = (point[:2] for point in layout.points(landmarks, TURN_POINTS))
    axis = left_eye - right_eye
    length_squared = float(axis @ axis)
    if length_squared <= 0:
        return 0.0
    normal = np.array([-axis[1], axis[0]])
    return float((nose - (left_eye + right_eye) / 2) @ normal / length_squared)


class _Axis:
    """Moves of one head angle away from the visit's first frame: a move is `minimum` or more, the same
    way, for `sustain` frames in a row; the next counts only after coming back near the start."""

    def __init__(self, minimum: float, sustain: int):
        self.minimum, self.sustain = minimum, sustain
        self.neutral: float | None = None
        self._run, self._direction, self._armed = 0, 0, True

    def update(self, index: float) -> int:
        """Feed one frame's index; the direction (+1 / -1) of the move it completes, else 0."""
        if self.neutral is None:
            self.neutral = index
            return 0
        change = index - self.neutral
        if abs(change) < self.minimum / 2:
            self._armed, self._run = True, 0
            return 0
        direction = 1 if change > 0 else -1
        if abs(change) < self.minimum or not self._armed:
            self._run = 0
            return 0
        self._run = self._run + 1 if direction == self._direction else 1
        self._direction = direction
        if self._run < self.sustain:
            return 0
        self._armed, self._run = False, 0
        return direction


class HeadMotion:
    """Turns, looks up and down, mouth movement and smiles of one track's face, from the visit's first frame."""

    def __init__(self, layout: LandmarkLayout, rule: MotionRule = MotionRule()):
        layout.require(points=TURN_POINTS + MOUTH_POINTS)
        self.layout = layout
        self.rule = rule
        self.turns: list[Turn] = []
        self.looks: list[Turn] = []    # up (-1) and down (+1)
        self.smiles: list[int] = []    # when a smile reached min_smile
        self._yaw = _Axis(rule.min_turn, rule.sustain_frames)
        self._pitch = _Axis(rule.min_look, rule.sustain_frames)
        self._mouth: deque[float] = deque(maxlen=rule.mouth_smoothing)
        self._mouth_low = np.inf
        self._mouth_high = -np.inf
        self._smile: deque[float] = deque(maxlen=SMILE_SMOOTHING)
        self._smile_start: float | None = None
        self._smiling = False

    def update(self, landmarks: np.ndarray, timestamp_ms: int, blendshapes: dict[str, float] | None = None,
               surface: float | None = None) -> Turn | None:
        """Feed one frame, with what one plane leaves of the surface's motion since the first frame
        (`SurfaceMotion.residual`; None: no reading); returns the turn it completes, if any (looks
        and smiles are kept too)."""
        self._update_mouth(landmarks)
        self._update_smile(blendshapes, timestamp_ms)
        yaw = self._yaw.update(turn_index(self.layout, landmarks))
        pitch = self._pitch.update(pitch_index(self.layout, landmarks))
        if pitch:
            self.looks.append(Turn(timestamp_ms, pitch, surface))
        if not yaw:
            return None
        self.turns.append(Turn(timestamp_ms, yaw, surface))
        return self.turns[-1]

    def _update_smile(self, blendshapes: dict[str, float] | None, timestamp_ms: int) -> None:
        if blendshapes is None:
            return
        self._smile.append((self.layout.blendshape(blendshapes, "smile_left")
                            + self.layout.blendshape(blendshapes, "smile_right")) / 2)
        if len(self._smile) < SMILE_SMOOTHING:
            return
        reading = float(np.mean(self._smile))
        if self._smile_start is None:
            self._smile_start = reading
        rise = reading - self._smile_start
        if rise >= self.rule.min_smile and not self._smiling:
            self.smiles.append(timestamp_ms)
        self._smiling = rise >= self.rule.min_smile / 2 if self._smiling else rise >= self.rule.min_smile

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
        """A turn or a look that one plane explains: a flat picture (or a cut-out worn) turned."""
        return any(turn.flat(self.rule) for turn in self.turns + self.looks)

    @property
    def mouth_moved(self) -> bool:
        return self._mouth_high - self._mouth_low >= self.rule.mouth_range
