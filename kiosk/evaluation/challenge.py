"""`eval liveness --challenge`: does a recorded action answer the challenge it matches, and only that one?

The windows where live recordings perform an action (turn left, turn right, look up, smile, blink)
are annotated by eye in tests/expectations/liveness_actions.csv (set, file, seconds, actions). Each
window is offered as the answer to each action the kiosk can draw (the config's prompt_actions), through the kiosk's own cues
and Challenge (kiosk/liveness/): the action asked when the window starts, the window's length to
do it. A matching answer is an action the window shows; a mismatched one is any other, and passing
it is what a replayed recording gets when the draw is not what it shows. Every print and replay
video is offered every action over its first `limit_s` seconds: none may pass. A trial passes as
the kiosk would judge it: the action seen, and then the texture cue at its operating point (a replay
shows its person's real actions: only texture can refuse it), through the kiosk's own
LivenessSession with the asked action as its drawn one; the report also says how many attacks the
action judge alone would have passed.
"""

import csv
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from kiosk.errors import FacegateError
from kiosk.evaluation.liveness import Presentation
from kiosk.liveness.challenge import Challenge, Step
from kiosk.liveness.fusion import LivenessPolicy, LivenessSession, Verdict
from kiosk.liveness.surface import SurfaceMotion
from kiosk.liveness.texture import TextureLivenessModel
from kiosk.manifest import LandmarkerManifest
from kiosk.paths import PROJECT_ROOT
from kiosk.recognition.faces import largest_face
from kiosk.recognition.landmarks import FaceLandmarkDetector
from kiosk.recognition.layout import LandmarkLayout
from kiosk.sources import VideoCaptureSource

ACTIONS_FILE = PROJECT_ROOT / "tests" / "expectations" / "liveness_actions.csv"

# landmarks, blendshapes, timestamp, texture, what one plane leaves of the surface's motion since the first frame
Face = tuple[np.ndarray, dict[str, float] | None, int, float, float | None]


@dataclass(frozen=True)
class ActionWindow:
    dataset: str
    path: str
    start_s: float
    end_s: float
    actions: frozenset[Step]


@dataclass(frozen=True)
class Trial:
    """One window (or attack video) offered as the answer to one drawn action."""

    dataset: str
    path: str
    window: tuple[float, float]
    asked: Step
    kind: str      # matching | mismatched | attack
    passed: bool   # the action seen and then the texture at its operating point, as the kiosk requires
    acted: bool    # the action seen, whatever the texture


def read_windows(path: Path = ACTIONS_FILE) -> list[ActionWindow]:
    if not path.exists():
        raise FacegateError(f"{path} is missing: it is part of the checkout (the annotated action windows)")
    windows = []
    with path.open(newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            try:
                actions = frozenset(Step(action) for action in row["actions"].split())
                windows.append(ActionWindow(row["set"], row["path"], float(row["start_s"]), float(row["end_s"]), actions))
            except (KeyError, ValueError) as exc:
                raise FacegateError(f"{path}:{number}: {exc}") from None
    return windows


def faces_in(video: Path, start_s: float, end_s: float, landmarker: LandmarkerManifest,
             texture: TextureLivenessModel) -> list[Face]:
    """The largest face of each frame between the two times, as the kiosk's landmarker sees it, with
    its texture cue and its surface tracked from the window's first face (where a visit would start)."""
    faces = []
    surface = SurfaceMotion(LandmarkLayout(landmarker))
    with closing(VideoCaptureSource(str(video))) as source, \
            FaceLandmarkDetector(landmarker, video=True, max_faces=1, blendshapes=True) as detector:
        for frame in source.frames():
            if frame.timestamp_ms > end_s * 1000:
                break
            face = largest_face(detector.detect(frame.rgb, frame.timestamp_ms))
            if face is not None and frame.timestamp_ms >= start_s * 1000:
                faces.append((face.landmarks, face.blendshapes, frame.timestamp_ms,
                              texture.live_probability(frame.rgb, face.box), surface.read(frame.rgb, face.landmarks)))
    return faces


def answers(faces: list[Face], asked: Step, step_ms: int, layout: LandmarkLayout, policy: LivenessPolicy,
            texture: TextureLivenessModel) -> tuple[bool, bool]:
    """Whether these frames, from their first, answer a challenge asking for `asked` in `step_ms`, as
    the kiosk's own LivenessSession judges a visit whose drawn action is `asked` (the action, then the
    texture at its operating point; a turn like a flat picture refused at once): (the kiosk would pass
    it; the action alone was seen within the window, whatever the verdict)."""
    drawn = Challenge([asked], step_ms, policy.motion)
    session = LivenessSession(replace(policy, timeout_ms=step_ms), texture, layout, drawn=drawn)
    verdict = Verdict.PENDING
    for landmarks, blendshapes, timestamp_ms, live, depth in faces:
        if verdict is Verdict.PENDING:
            verdict = session.add(landmarks, blendshapes, live, timestamp_ms, depth).verdict
        else:
            session.observe(landmarks, blendshapes, live, timestamp_ms, depth)  # the cues after the verdict
    return verdict is Verdict.LIVE, drawn.passed


def challenge_trials(data_roots: list[Path], attacks: list[tuple[Path, Presentation]], landmarker: LandmarkerManifest,
                     texture: TextureLivenessModel, policy: LivenessPolicy, limit_s: float,
                     windows: list[ActionWindow] | None = None,
                     progress: Callable[[str], None] | None = None) -> list[Trial]:
    """Every annotated window against every action, and every attack video against every action."""
    layout = LandmarkLayout(landmarker)
    roots = {root.name: root for root in data_roots}
    trials = []
    for window in windows if windows is not None else read_windows():
        if window.dataset not in roots:
            continue
        if progress:
            progress(f"{window.dataset}/{window.path} {window.start_s:g}-{window.end_s:g} s")
        faces = faces_in(roots[window.dataset] / window.path, window.start_s, window.end_s, landmarker, texture)
        step_ms = int((window.end_s - window.start_s) * 1000)
        for asked in policy.prompt_actions:
            trials.append(Trial(window.dataset, window.path, (window.start_s, window.end_s), asked,
                                "matching" if asked in window.actions else "mismatched",
                                *answers(faces, asked, step_ms, layout, policy, texture)))
    for root, attack in attacks:
        if progress:
            progress(f"{attack.dataset}/{attack.path}")
        faces = faces_in(root / attack.path, 0.0, limit_s, landmarker, texture)
        for asked in policy.prompt_actions:
            trials.append(Trial(attack.dataset, attack.path, (0.0, limit_s), asked, "attack",
                                *answers(faces, asked, int(limit_s * 1000), layout, policy, texture)))
    return trials


def challenge_report(trials: list[Trial]) -> tuple[dict, list[str]]:
    """Live windows by the action judge (does the answer count?), with the kiosk's full verdict beside
    it; attacks by the kiosk's full verdict, with the action judge alone beside it."""
    def count(kind: str, passed: Callable[[Trial], bool]) -> tuple[int, int]:
        chosen = [t for t in trials if t.kind == kind]
        return sum(passed(t) for t in chosen), len(chosen)

    def acted(t: Trial) -> bool:
        return t.acted

    def passed(t: Trial) -> bool:
        return t.passed

    matching, mismatched, attacks = count("matching", acted), count("mismatched", acted), count("attack", passed)
    matching_full, attacks_acted = count("matching", passed), count("attack", acted)
    lines = [f"challenge: matching answers passed {matching[0]}/{matching[1]}, mismatched answers passed "
             f"{mismatched[0]}/{mismatched[1]}, prints and replays passed {attacks[0]}/{attacks[1]}",
             f"  (with the texture cue as the kiosk also requires, matching answers passed {matching_full[0]}/"
             f"{matching_full[1]}; the action alone, texture aside, was seen in {attacks_acted[0]}/{attacks_acted[1]} "
             f"attack trials)"]
    lines += [f"  {t.kind:<10} {t.dataset}/{t.path} {t.window[0]:g}-{t.window[1]:g} s asked {t.asked.value}: "
              f"action {'seen' if t.acted else 'not seen'}, {'PASSED' if t.passed else 'not passed'} with the texture"
              for t in trials if (t.kind == "matching") != t.acted or t.passed != t.acted]
    data = {"matching": matching, "mismatched": mismatched, "attacks": attacks, "matching_with_texture": matching_full,
            "attacks_action_alone": attacks_acted,
            "trials": [{"set": t.dataset, "path": t.path, "window": t.window, "asked": t.asked.value, "kind": t.kind,
                        "passed": t.passed, "acted": t.acted} for t in trials]}
    return data, lines
