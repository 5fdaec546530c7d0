"""Liveness on the shared development sets, in ISO/IEC 30107-3 terms, cue by cue and fused.

APCER: share of attack presentations accepted as live, per attack type. BPCER: share of bona fide
(live) presentations rejected. A video is judged from its first face within the policy's time
limit, as the kiosk would; a still photo has one frame, so only the texture cue can judge it. A
file in which no face is ever found is a row of its own, never an abort: a live one counts as
refused, an attack as not accepted.
"""

import csv
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from kiosk.errors import FacegateError
from kiosk.imageio import read_image
from kiosk.liveness.fusion import LivenessPolicy, LivenessSession, Verdict
from kiosk.liveness.texture import TextureLivenessModel
from kiosk.manifest import LandmarkerManifest
from kiosk.recognition.faces import largest_face
from kiosk.recognition.landmarks import FaceLandmarkDetector
from kiosk.recognition.layout import LandmarkLayout
from kiosk.sources import VideoCaptureSource

CUES = ("texture", "blink", "mouth", "turn", "fused")
NO_FACE = "no face found in any frame"


@dataclass(frozen=True)
class Presentation:
    dataset: str  # the folder's name: results are reported per set and for the union
    path: str
    label: str    # live | spoof
    attack: str   # "" for live
    description: str

    @property
    def is_video(self) -> bool:
        return self.path.lower().endswith((".mp4", ".avi", ".mov", ".mkv"))

    @property
    def group(self) -> str:
        """The row of the summary table: medium and attack type."""
        medium = "video" if self.is_video else "still"
        return f"{medium}: {self.attack or 'bona fide'}"


@dataclass(frozen=True)
class TracePoint:
    seconds: float          # from the first face
    texture: float          # median live probability over the window
    sign_of_life: bool      # a blink, mouth movement or turn in depth seen by then


@dataclass
class Outcome:
    """What each cue made of one presentation; accepted = judged live."""

    presentation: Presentation
    accepted: dict[str, bool]
    frames: int
    seconds_to_live: float | None = None
    reason: str = ""
    texture_median: float | None = None
    blinks: int = 0
    turns: int = 0                    # turns in depth
    trace: tuple[TracePoint, ...] = ()


def read_labels(root: Path) -> list[Presentation]:
    labels = root / "labels.csv"
    if not labels.exists():
        raise FacegateError(f"{labels} is missing: the liveness sets live in ../shared/data/liveness and "
                            f"../shared/data/liveness-extra (FACEGATE_DATA points elsewhere)")
    with labels.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for number, row in enumerate(rows, start=2):
        if row.get("label") not in ("live", "spoof"):
            raise FacegateError(f"{labels}:{number}: label must be live or spoof, got {row.get('label')!r}")
        if not (root / row["path"]).exists():
            raise FacegateError(f"{labels}:{number}: {row['path']} does not exist")
    return [Presentation(root.name, r["path"], r["label"], r["attack"], r["description"]) for r in rows]


def _no_face(presentation: Presentation) -> Outcome:
    return Outcome(presentation, dict.fromkeys(CUES if presentation.is_video else ("texture", "fused"), False), 0,
                   reason=NO_FACE)


def judge_video(presentation: Presentation, root: Path, landmarker: LandmarkerManifest,
                texture: TextureLivenessModel, policy: LivenessPolicy) -> Outcome:
    """Run the fused session over the video; each cue alone is read from the same session."""
    session = LivenessSession(policy, texture, LandmarkLayout(landmarker))
    first_ms = None
    frames = 0
    live_at = None
    trace = []
    with closing(VideoCaptureSource(str(root / presentation.path))) as source, \
            FaceLandmarkDetector(landmarker, video=True, max_faces=1, blendshapes=True) as detector:
        for frame in source.frames():
            rgb, timestamp_ms = frame.rgb, frame.timestamp_ms
            face = largest_face(detector.detect(rgb, timestamp_ms))
            if face is None:
                continue
            first_ms = timestamp_ms if first_ms is None else first_ms
            if timestamp_ms - first_ms > policy.timeout_ms:
                break
            frames += 1
            if session.state.verdict is Verdict.PENDING:
                session.update(face, rgb, timestamp_ms)
            else:  # each cue alone is judged over the whole time limit
                session.observe(face.landmarks, face.blendshapes, texture.live_probability(rgb, face.box), timestamp_ms,
                                session.read_surface(face, rgb))
            seconds = (timestamp_ms - first_ms) / 1000
            if session.texture_median is not None:
                trace.append(TracePoint(seconds, session.texture_median, session.sign_of_life))
            if session.state.verdict is Verdict.LIVE and live_at is None:
                live_at = seconds
    if frames == 0:
        return _no_face(presentation)
    accepted = {
        "texture": any(point.texture >= policy.texture_threshold for point in trace),
        "blink": bool(session.blinks.blinks),
        "mouth": session.motion.mouth_moved,
        "turn": session.motion.turned_in_depth,
        "fused": session.state.verdict is Verdict.LIVE,
    }
    reason = session.state.reason or ("no verdict before the video ended" if session.state.verdict is Verdict.PENDING
                                      else "")
    return Outcome(presentation, accepted, frames, live_at, reason, session.texture_median, len(session.blinks.blinks),
                   sum(turn.in_depth(policy.motion) for turn in session.motion.turns), tuple(trace))


def judge_still(presentation: Presentation, root: Path, detector: FaceLandmarkDetector,
                texture: TextureLivenessModel, policy: LivenessPolicy) -> Outcome:
    rgb = read_image(root / presentation.path)
    face = largest_face(detector.detect(rgb))
    if face is None:
        return _no_face(presentation)
    probability = texture.live_probability(rgb, face.box)
    accepted = probability >= policy.texture_threshold
    return Outcome(presentation, {"texture": accepted, "fused": accepted}, 1, None,
                   "" if accepted else f"texture {probability:.2f}", probability)


def evaluate(roots: list[Path], landmarker: LandmarkerManifest, texture: TextureLivenessModel, policy: LivenessPolicy,
             progress: Callable[[Presentation], None] | None = None) -> list[Outcome]:
    """Every presentation of every set (labels are all checked before the first video is read)."""
    presentations = [(root, presentation) for root in roots for presentation in read_labels(root)]
    outcomes = []
    with FaceLandmarkDetector(landmarker, video=False, max_faces=1) as still_detector:
        for root, presentation in presentations:
            if progress:
                progress(presentation)
            if presentation.is_video:
                outcomes.append(judge_video(presentation, root, landmarker, texture, policy))
            else:
                outcomes.append(judge_still(presentation, root, still_detector, texture, policy))
    return outcomes


def error_rates(outcomes: list[Outcome]) -> dict[str, dict[str, tuple[int, int]]]:
    """group -> cue -> (errors, presentations): accepted attacks (APCER) or rejected live ones (BPCER)."""
    table: dict[str, dict[str, list[int]]] = {}
    for outcome in outcomes:
        row = table.setdefault(outcome.presentation.group, {})
        for cue, accepted in outcome.accepted.items():
            error = accepted if outcome.presentation.label == "spoof" else not accepted
            counts = row.setdefault(cue, [0, 0])
            counts[0] += int(error)
            counts[1] += 1
    return {group: {cue: (c[0], c[1]) for cue, c in row.items()} for group, row in sorted(table.items())}


def texture_floor(outcomes: list[Outcome]) -> float | None:
    """The lowest texture operating point that keeps every attack video the policy refused refused:
    just above the highest texture median any of them reached while it already showed a sign of
    life (a replay carries its person's blinks and turns; only texture stops it). None if none did."""
    reached = [point.texture for outcome in outcomes if outcome.presentation.label == "spoof"
               and outcome.presentation.is_video and not outcome.accepted["fused"]
               for point in outcome.trace if point.sign_of_life]
    return max(reached) if reached else None
