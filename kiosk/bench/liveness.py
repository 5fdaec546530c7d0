"""What each liveness cue costs per frame, on a real live video."""

from contextlib import closing
from functools import partial
from pathlib import Path

from kiosk.bench.timing import StageTiming, time_calls
from kiosk.providers import ProviderChoice


def _blink(session, face, clock) -> object:
    return session.blinks.update(face.landmarks, face.blendshapes, next(clock))


def _motion(session, face, clock) -> object:
    return session.motion.update(face.landmarks, next(clock))


def _fused(texture, layout, face, rgb, at) -> object:
    from kiosk.liveness.fusion import LivenessPolicy, LivenessSession

    return LivenessSession(LivenessPolicy(), texture, layout).update(face, rgb, at)


def liveness_timings(video: Path, provider: ProviderChoice, frames: int = 90) -> list[StageTiming]:
    """Each liveness cue's cost per frame on a real live video (and what blendshapes add to landmarks)."""
    from kiosk.liveness.fusion import LivenessPolicy, LivenessSession
    from kiosk.liveness.texture import TextureLivenessModel
    from kiosk.manifest import load_landmarker_manifest, load_liveness_manifest
    from kiosk.recognition.landmarks import FaceLandmarkDetector
    from kiosk.recognition.layout import LandmarkLayout
    from kiosk.sources import VideoCaptureSource

    with closing(VideoCaptureSource(str(video))) as source:
        clip = [(frame.rgb, frame.timestamp_ms) for frame, _ in zip(source.frames(), range(frames))]
    timings, faces = [], []
    for blendshapes in (False, True):
        with FaceLandmarkDetector(load_landmarker_manifest(), video=True, max_faces=1, blendshapes=blendshapes) as detector:
            found = [detector.detect(rgb, at) for rgb, at in clip]  # tracking warms up on the clip once
            label = "landmarks VIDEO + blendshapes" if blendshapes else "landmarks VIDEO (same clip)"
            timings.append(time_calls(label, "frame", [partial(detector.detect, rgb, at + 10**6)
                                                        for rgb, at in clip[:30]], 1))
            faces = found
    usable = [(rgb, at, f[0]) for (rgb, at), f in zip(clip, faces) if f]
    texture = TextureLivenessModel(load_liveness_manifest(), provider, threads=1)
    layout = LandmarkLayout(load_landmarker_manifest())
    session = LivenessSession(LivenessPolicy(), texture, layout)
    clock = iter(range(0, 10**9, 40))  # the cues keep history: time must move forward across passes
    timings += [
        time_calls("liveness: texture (2 nets)", "frame", [partial(texture.live_probability, rgb, face.box)
                                                           for rgb, _, face in usable], 1),
        time_calls("liveness: blink (EAR)", "frame",
                    [partial(_blink, session, face, clock) for *_, face in usable], 1),
        time_calls("liveness: motion (turn, mouth)", "frame",
                    [partial(_motion, session, face, clock) for *_, face in usable], 1),
        time_calls("liveness: all cues + fusion", "frame",
                    [partial(_fused, texture, layout, face, rgb, at) for rgb, at, face in usable[:30]], 1),
    ]
    return timings
