"""One liveness verdict per visit from the cues: live, spoof suspected, or not yet decided.

The face is live once (a) it showed a sign of life a picture cannot give (a blink confirmed by the
eye geometry, a mouth that opened or closed, or a head turn in depth; or, where the config asks for
one, the whole active challenge) and (b) the texture network's median over the last frames is at or
above its operating point. Nothing thin ends a visit early: it is refused early only on positive
evidence (a turn that one homography explains, as a tilted print's does; a failed challenge step),
otherwise evidence is collected until the time limit. When no sign of life has come by itself
within `prompt_after_ms`, the screen asks for one action drawn at random (turn left, turn right,
look up; blink or smile where the site adds them), and from then on only that action, seen in depth, is a sign of life: a
print cannot make it, and a recording makes it only when the draw happens to match what it shows.
A blink, a mouth or a smile shows through the holes of a cut-out print worn over a face; a site that
fears one sets `depth_required`: only a turn or look in depth is then a sign of life, and the prompt
is drawn from those.
"""

from collections import deque
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from kiosk.liveness.challenge import Challenge, Step
from kiosk.liveness.eyes import BlinkDetector, BlinkRule
from kiosk.liveness.motion import HeadMotion, MotionRule
from kiosk.liveness.surface import SurfaceMotion
from kiosk.liveness.texture import TextureLivenessModel
from kiosk.recognition.faces import DetectedFace
from kiosk.recognition.layout import LandmarkLayout


class Verdict(str, Enum):
    PENDING = "pending"
    LIVE = "live"
    SPOOF = "spoof"


class Prompt(str, Enum):
    """What the screen asks of the person while the verdict is pending: a challenge step."""

    BLINK = "blink"
    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"
    LOOK_UP = "look_up"
    SMILE = "smile"


# The actions a prompt is drawn from by default: those judged in depth. Smile is not among them: its
# blendshape rose 0.27-0.31 on four hand-held prints of a smiling person in `liveness-extra` (at most
# 0.05 on the first set's), so it did not carry over. Nor is blink: every recording of a face blinks
# within seconds, so a replay answers a drawn blink whatever was drawn (a screen replay at texture 0.95
# did). A site may still add either (liveness.prompt_actions); a blink stays a sign of life passively.
PROMPT_ACTIONS = (Step.TURN_LEFT, Step.TURN_RIGHT, Step.LOOK_UP)


@dataclass(frozen=True)
class LivenessPolicy:
    texture_threshold: float = 0.95  # operating point of the texture cue (live probability)
    texture_window: int = 15         # frames whose median is compared with it
    texture_min_frames: int = 5
    timeout_ms: int = 6000           # no verdict by then: spoof suspected
    prompt_after_ms: int = 1500      # ask for one drawn action when no sign of life came by itself
    prompt_actions: tuple[Step, ...] = PROMPT_ACTIONS  # what that action is drawn from
    depth_required: bool = False     # only a turn or look in depth is a sign of life (not a blink, mouth, smile)
    challenge: tuple[Step, ...] = ()
    challenge_step_ms: int = 4000
    blink: BlinkRule = BlinkRule()
    motion: MotionRule = MotionRule()


@dataclass(frozen=True)
class LivenessState:
    verdict: Verdict
    reason: str = ""
    prompt: Prompt | None = None
    texture: float | None = None  # current median live probability


@dataclass
class LivenessSession:
    """The cues of one visit (one track); feed it every frame of the acting face."""

    policy: LivenessPolicy
    texture_model: TextureLivenessModel | None
    layout: LandmarkLayout
    started_ms: int | None = None
    drawn: Challenge | None = None   # the action drawn when passive evidence was not enough
    blinks: BlinkDetector = field(init=False)
    motion: HeadMotion = field(init=False)
    surface: SurfaceMotion = field(init=False)
    challenge: Challenge | None = field(init=False)
    textures: deque = field(init=False)
    state: LivenessState = LivenessState(Verdict.PENDING)

    def __post_init__(self) -> None:
        self.blinks = BlinkDetector(self.layout, self.policy.blink)
        self.motion = HeadMotion(self.layout, self.policy.motion)
        self.surface = SurfaceMotion(self.layout)
        self.challenge = (Challenge.drawn(list(self.policy.challenge), self.policy.challenge_step_ms,
                                          self.policy.motion) if self.policy.challenge else None)
        self.textures = deque(maxlen=self.policy.texture_window)

    @property
    def texture_median(self) -> float | None:
        if self.texture_model is None:
            return 1.0
        if len(self.textures) < self.policy.texture_min_frames:
            return None
        return float(np.median(self.textures))

    @property
    def sign_of_life(self) -> bool:
        if self.challenge is not None:
            return self.challenge.passed
        if self.drawn is not None:  # asked: only the drawn action answers
            return self.drawn.passed
        if self.policy.depth_required:
            return self.motion.turned_in_depth or any(look.in_depth(self.policy.motion) for look in self.motion.looks)
        return bool(self.blinks.blinks) or self.motion.mouth_moved or self.motion.turned_in_depth

    @property
    def wants_texture(self) -> bool:
        """The texture network still has something to say: no verdict yet."""
        return self.texture_model is not None and self.state.verdict is Verdict.PENDING

    def update(self, face: DetectedFace, rgb: np.ndarray, timestamp_ms: int,
               texture: float | None = None) -> LivenessState:
        """Feed one frame; once the verdict is in, it stands for the rest of the visit. `texture` is the
        frame's live probability where another stage computed it already (the kiosk does it beside the
        next frame's landmarks); else it is computed here."""
        if self.state.verdict is not Verdict.PENDING:
            return self.state
        if texture is None and self.wants_texture:
            assert self.texture_model is not None
            texture = self.texture_model.live_probability(rgb, face.box)
        return self.add(face.landmarks, face.blendshapes, texture, timestamp_ms, self.read_surface(face, rgb))

    def read_surface(self, face: DetectedFace, rgb: np.ndarray) -> float | None:
        """Track the face's surface in this frame; what one plane leaves of its motion since the first."""
        return self.surface.read(rgb, face.landmarks)

    def add(self, landmarks: np.ndarray, blendshapes: dict[str, float] | None, texture: float | None,
            timestamp_ms: int, surface: float | None = None) -> LivenessState:
        """Feed one frame's cues (the evaluation replays recorded ones through here)."""
        if self.state.verdict is not Verdict.PENDING:
            return self.state
        self.observe(landmarks, blendshapes, texture, timestamp_ms, surface)
        self.state = self._judge(timestamp_ms)
        return self.state

    def observe(self, landmarks: np.ndarray, blendshapes: dict[str, float] | None, texture: float | None,
                timestamp_ms: int, surface: float | None = None) -> None:
        """Update every cue without judging (the evaluation follows each cue past the verdict)."""
        if self.started_ms is None:
            self.started_ms = timestamp_ms
        if texture is not None:
            self.textures.append(texture)
        self.blinks.update(landmarks, blendshapes, timestamp_ms)
        self.motion.update(landmarks, timestamp_ms, blendshapes, surface)
        for challenge in (self.challenge, self.drawn):
            if challenge is not None:
                challenge.update(self.blinks.blinks, self.motion.turns, timestamp_ms, self.motion.looks,
                                 self.motion.smiles)

    def _judge(self, timestamp_ms: int) -> LivenessState:
        texture = self.texture_median
        if self.challenge is not None and self.challenge.failed:
            return LivenessState(Verdict.SPOOF, f"challenge step {self.challenge.steps[0].value} not done in time",
                                 texture=texture)
        if self.motion.turned_flat:
            return LivenessState(Verdict.SPOOF, "the face turned like a flat picture", texture=texture)
        texture_ok = texture is not None and texture >= self.policy.texture_threshold
        if self.sign_of_life and texture_ok:
            return LivenessState(Verdict.LIVE, texture=texture)
        elapsed = timestamp_ms - (self.started_ms if self.started_ms is not None else timestamp_ms)
        if elapsed >= self.policy.timeout_ms:
            reason = (f"looks like a screen or a print (texture {texture:.2f})" if not texture_ok and texture is not None
                      else "no blink, expression or head turn")
            return LivenessState(Verdict.SPOOF, reason, texture=texture)
        return LivenessState(Verdict.PENDING, prompt=self._prompt(elapsed), texture=texture)

    def _prompt(self, elapsed_ms: int) -> Prompt | None:
        if self.challenge is not None:
            return Prompt(self.challenge.current.value) if self.challenge.current else None
        if self.drawn is None and elapsed_ms >= self.policy.prompt_after_ms and not self.sign_of_life \
                and self.policy.prompt_actions:
            self.drawn = Challenge.one_of(self.policy.prompt_actions, self.policy.timeout_ms - elapsed_ms,
                                          self.policy.motion)
        if self.drawn is not None and self.drawn.current is not None:
            return Prompt(self.drawn.current.value)
        return None
