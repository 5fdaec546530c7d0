"""Liveness on the shared development set, in ISO/IEC 30107-3 terms, cue by cue and fused.

APCER: share of attack presentations accepted as live, per attack type. BPCER: share of bona fide
(live) presentations rejected. A video is judged from its first face within the policy's time
limit, as the kiosk would; a still photo has one frame, so only the texture cue can judge it.
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
from kiosk.sources import VideoCaptureSource

CUES = ("texture", "blink", "motion", "fused")


@dataclass(frozen=True)
class Presentation:
    path: str
    label: str   # live | spoof
    attack: str  # "" for live
    description: str

    @property
    def is_video(self) -> bool:
        return self.path.lower().endswith((".mp4", ".avi", ".mov", ".mkv"))

    @property
    def group(self) -> str:
        """The row of the summary table: medium and attack type."""
        medium = "video" if self.is_video else "still"
        return f"{medium}: {self.attack or 'bona fide'}"


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
    depth_moves: int = 0
    flat_moves: int = 0
    texture_trace: tuple[tuple[float, float], ...] = ()  # (seconds from the first face, median live probability)


def read_labels(root: Path) -> list[Presentation]:
    labels = root / "labels.csv"
    if not labels.exists():
        raise FacegateError(f"{labels} is missing: the liveness set lives in ../shared/data/liveness "
                            f"(FACEGATE_DATA points elsewhere)")
    with labels.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for number, row in enumerate(rows, start=2):
        if row.get("label") not in ("live", "spoof"):
            raise FacegateError(f"{labels}:{number}: label must be live or spoof, got {row.get('label')!r}")
        if not (root / row["path"]).exists():
            raise FacegateError(f"{labels}:{number}: {row['path']} does not exist")
    return [Presentation(r["path"], r["label"], r["attack"], r["description"]) for r in rows]


def judge_video(presentation: Presentation, root: Path, landmarker: LandmarkerManifest,
                texture: TextureLivenessModel, policy: LivenessPolicy) -> Outcome:
    """Run the fused session over the video; each cue alone is read from the same session."""
    session = LivenessSession(policy, texture)
    first_ms = None
    frames = 0
    live_at = None
    trace = []  # (seconds from the first face, texture median)
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
            else:
                session.observe(face, rgb, timestamp_ms)  # each cue alone is judged over the whole time limit
            if session.texture_median is not None:
                trace.append(((timestamp_ms - first_ms) / 1000, session.texture_median))
            if session.state.verdict is Verdict.LIVE and live_at is None:
                live_at = (timestamp_ms - first_ms) / 1000
    if frames == 0:
        raise FacegateError(f"{presentation.path}: no face found in any frame")
    accepted = {
        "texture": any(value >= policy.texture_threshold for _, value in trace),
        "blink": bool(session.blinks.blinks),
        "motion": not session.motion.moves_like_a_plane,
        "fused": session.state.verdict is Verdict.LIVE,
    }
    return Outcome(presentation, accepted, frames, live_at, session.state.reason or
                   ("no verdict before the video ended" if session.state.verdict is Verdict.PENDING else ""),
                   session.texture_median, len(session.blinks.blinks), session.motion.depth_moves,
                   session.motion.flat_moves, tuple(trace))


def judge_still(presentation: Presentation, root: Path, detector: FaceLandmarkDetector,
                texture: TextureLivenessModel, policy: LivenessPolicy) -> Outcome:
    rgb = read_image(root / presentation.path)
    face = largest_face(detector.detect(rgb))
    if face is None:
        raise FacegateError(f"{presentation.path}: no face found")
    probability = texture.live_probability(rgb, face.box)
    accepted = probability >= policy.texture_threshold
    return Outcome(presentation, {"texture": accepted, "fused": accepted}, 1, None,
                   "" if accepted else f"texture {probability:.2f}", probability)


def evaluate(root: Path, landmarker: LandmarkerManifest, texture: TextureLivenessModel, policy: LivenessPolicy,
             progress: Callable[[Presentation], None] | None = None) -> list[Outcome]:
    outcomes = []
    presentations = read_labels(root)
    with FaceLandmarkDetector(landmarker, video=False, max_faces=1) as still_detector:
        for presentation in presentations:
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
