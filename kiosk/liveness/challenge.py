"""Active challenge: blink, turn left, turn right, in an order drawn afresh for every visit.

A recorded video cannot know the order in advance, and each step has its own time limit, so a
replay has to happen to show the right action at the right moment for every step. A turn counts
only in depth (see motion.py): a tilted print cannot do one.
"""

import secrets
from dataclasses import dataclass, field
from enum import Enum

from kiosk.liveness.motion import MotionRule, Turn


class Step(str, Enum):
    BLINK = "blink"
    TURN_LEFT = "turn_left"    # the person's own left: the nose moves to the image's right
    TURN_RIGHT = "turn_right"


@dataclass
class Challenge:
    """The steps still to do; `update` moves on when the current one is seen in time."""

    steps: list[Step]
    step_ms: int
    rule: MotionRule = MotionRule()
    started_ms: int | None = None
    failed: bool = False
    done: list[Step] = field(default_factory=list)

    @classmethod
    def drawn(cls, steps: list[Step], step_ms: int, rule: MotionRule = MotionRule()) -> "Challenge":
        order = list(steps)
        secrets.SystemRandom().shuffle(order)
        return cls(order, step_ms, rule)

    @property
    def current(self) -> Step | None:
        return None if self.failed or not self.steps else self.steps[0]

    @property
    def passed(self) -> bool:
        return not self.steps and not self.failed

    def update(self, blinks: list[int], turns: list[Turn], timestamp_ms: int) -> None:
        """`blinks` and `turns` are everything seen so far in the visit; only those after the
        current step began count for it."""
        step = self.current
        if step is None:
            return
        if self.started_ms is None:
            self.started_ms = timestamp_ms
            return
        since = self.started_ms
        seen = ((step is Step.BLINK and any(at > since for at in blinks))
                or (step is not Step.BLINK and any(
                    turn.at_ms > since and turn.in_depth(self.rule)
                    and turn.direction == (1 if step is Step.TURN_LEFT else -1) for turn in turns)))
        if seen:
            self.done.append(self.steps.pop(0))
            self.started_ms = None  # the next step starts from the next frame
        elif timestamp_ms - since > self.step_ms:
            self.failed = True
