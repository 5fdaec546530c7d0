"""Active challenge: actions asked in an order (or, as a prompt, one action) drawn afresh per visit.

A recorded video cannot know what will be asked, and each step has its own time limit, so a replay
has to happen to show the right action at the right moment. A turn or a look counts only in depth
(see motion.py): a print tilted or bent by hand cannot do one; a smile is the smile blendshapes
rising, which no print did.
"""

import secrets
from dataclasses import dataclass, field
from enum import Enum

from kiosk.liveness.motion import MotionRule, Turn


class Step(str, Enum):
    BLINK = "blink"
    TURN_LEFT = "turn_left"    # the person's own left: the nose moves to the image's right
    TURN_RIGHT = "turn_right"
    LOOK_UP = "look_up"
    SMILE = "smile"


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
        """All the steps, in an order nobody can predict."""
        order = list(steps)
        secrets.SystemRandom().shuffle(order)
        return cls(order, step_ms, rule)

    @classmethod
    def one_of(cls, actions: tuple[Step, ...], step_ms: int, rule: MotionRule = MotionRule()) -> "Challenge":
        """One action drawn from `actions`, as nobody can predict."""
        return cls([secrets.choice(actions)], step_ms, rule)

    @property
    def current(self) -> Step | None:
        return None if self.failed or not self.steps else self.steps[0]

    @property
    def passed(self) -> bool:
        return not self.steps and not self.failed

    def update(self, blinks: list[int], turns: list[Turn], timestamp_ms: int, looks: list[Turn] | None = None,
               smiles: list[int] | None = None) -> None:
        """`blinks`, `turns`, `looks` and `smiles` are everything seen so far in the visit; only what
        came after the current step began counts for it."""
        step = self.current
        if step is None:
            return
        if self.started_ms is None:
            self.started_ms = timestamp_ms
            return
        since = self.started_ms

        def moved(moves: list[Turn], direction: int) -> bool:
            return any(m.at_ms > since and m.in_depth(self.rule) and m.direction == direction for m in moves)

        seen = {Step.BLINK: lambda: any(at > since for at in blinks),
                Step.TURN_LEFT: lambda: moved(turns, 1), Step.TURN_RIGHT: lambda: moved(turns, -1),
                Step.LOOK_UP: lambda: moved(looks or [], -1),
                Step.SMILE: lambda: any(at > since for at in smiles or [])}[step]()
        if seen:
            self.done.append(self.steps.pop(0))
            self.started_ms = None  # the next step starts from the next frame
        elif timestamp_ms - since > self.step_ms:
            self.failed = True
