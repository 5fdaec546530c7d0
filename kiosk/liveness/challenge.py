"""Active challenge: blink, turn left, turn right, in an order drawn afresh for every visit.

A recorded video cannot know the order in advance, and each step has its own time limit, so a
replay has to happen to show the right action at the right moment for every step.
"""

import secrets
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

NOSE_TIP = 1
OUTER_EYE_CORNERS = (33, 263)


class Step(str, Enum):
    BLINK = "blink"
    TURN_LEFT = "turn_left"    # the person's own left: the nose moves to the image's right
    TURN_RIGHT = "turn_right"


def head_turn(landmarks: np.ndarray) -> float:
    """Nose tip left or right of the eyes' midpoint, in eye distances (about 0.25 per 15 degrees);
    positive when the nose is on the image's right."""
    left, right = landmarks[OUTER_EYE_CORNERS[0], :2], landmarks[OUTER_EYE_CORNERS[1], :2]
    eye_distance = float(np.linalg.norm(right - left))
    if eye_distance <= 0:
        return 0.0
    return float((landmarks[NOSE_TIP, 0] - (left[0] + right[0]) / 2) / eye_distance)


@dataclass
class Challenge:
    """The steps still to do; `update` moves on when the current one is seen in time."""

    steps: list[Step]
    step_ms: int
    min_turn: float = 0.25
    started_ms: int | None = None
    _neutral_turn: float | None = None  # the pose the visit began with; turns are measured from it
    _start_blinks: int = 0
    failed: bool = False
    done: list[Step] = field(default_factory=list)

    @classmethod
    def drawn(cls, steps: list[Step], step_ms: int) -> "Challenge":
        order = list(steps)
        secrets.SystemRandom().shuffle(order)
        return cls(order, step_ms)

    @property
    def current(self) -> Step | None:
        return None if self.failed or not self.steps else self.steps[0]

    @property
    def passed(self) -> bool:
        return not self.steps and not self.failed

    def update(self, landmarks: np.ndarray, blinks: int, timestamp_ms: int) -> None:
        if self.current is None:
            return
        turn = head_turn(landmarks)
        if self._neutral_turn is None:
            self._neutral_turn = turn
        if self.started_ms is None:
            self.started_ms, self._start_blinks = timestamp_ms, blinks
            return
        step = self.current
        seen = ((step is Step.BLINK and blinks > self._start_blinks)
                or (step is Step.TURN_LEFT and turn - self._neutral_turn >= self.min_turn)
                or (step is Step.TURN_RIGHT and self._neutral_turn - turn >= self.min_turn))
        if seen:
            self.done.append(self.steps.pop(0))
            self.started_ms = None  # the next step starts from the next frame's pose
        elif timestamp_ms - self.started_ms > self.step_ms:
            self.failed = True
