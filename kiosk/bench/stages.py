"""Per-stage latency of the recognition core on real photos: medians and p95 over repeated runs."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kiosk.faces import central_face
from kiosk.imageio import decode_image
from kiosk.pipeline import FacePipeline

FRAME_SIZE = (640, 480)


@dataclass(frozen=True)
class StageTiming:
    stage: str
    unit: str
    samples: int
    median_ms: float
    p95_ms: float


def _time_calls(stage: str, unit: str, calls: list[Callable[[], object]], repeats: int, per: int = 1) -> StageTiming:
    """Run every call `repeats` times after one warm-up pass; times are per `per` items."""
    for call in calls:
        call()
    samples = []
    for _ in range(repeats):
        for call in calls:
            started = time.perf_counter()
            call()
            samples.append((time.perf_counter() - started) * 1000 / per)
    values = np.array(samples)
    return StageTiming(stage, unit, len(values), float(np.median(values)), float(np.percentile(values, 95)))


def door_frame(photo: np.ndarray) -> np.ndarray:
    """A 640x480 frame with the photo's face at a door camera's distance (photo scaled to the frame height)."""
    width, height = FRAME_SIZE
    scaled = cv2.resize(photo, (height * photo.shape[1] // photo.shape[0], height), interpolation=cv2.INTER_LINEAR)
    frame = np.full((height, width, 3), 96, dtype=np.uint8)
    x0 = (width - scaled.shape[1]) // 2
    frame[:, x0:x0 + scaled.shape[1]] = scaled[:, : width - x0]
    return frame


def _protector_timings(embeddings: np.ndarray, provider: str, repeats: int) -> list[StageTiming]:
    """Protect (adversarial network + keyed layer) and 1:N match per template, with throwaway secrets."""
    from kiosk.matching import nearest_person
    from kiosk.store.access import protector_for
    from kiosk.store.keys import KioskSecrets

    protector = protector_for(KioskSecrets.generate(), embeddings.shape[1], provider=provider)
    batch = np.resize(embeddings, (32, embeddings.shape[1]))
    gallery = protector.protect(np.resize(embeddings, (1000, embeddings.shape[1])))
    ids = np.array([f"p{i}" for i in range(len(gallery))], dtype=object)
    return [
        _time_calls("protect batch 1", "template", [lambda e=e: protector.protect(e[None]) for e in embeddings], repeats),
        _time_calls("protect batch 32", "template", [lambda: protector.protect(batch)], repeats * 2, per=32),
        _time_calls("match 1:1000", "probe", [lambda e=e: nearest_person(protector.probe_space(e[None]), gallery, ids)
                                              for e in embeddings], repeats),
    ]


def liveness_timings(video: Path, provider: str, frames: int = 90) -> list[StageTiming]:
    """Each liveness cue's cost per frame on a real live video (and what blendshapes add to landmarks)."""
    from kiosk.evaluation.liveness import video_frames
    from kiosk.liveness.fusion import LivenessPolicy, LivenessSession
    from kiosk.liveness.texture import TextureLivenessModel
    from kiosk.manifest import load_landmarker_manifest, load_liveness_manifest
    from kiosk.landmarks import FaceLandmarkDetector

    clip = [(rgb, at) for (rgb, at), _ in zip(video_frames(video), range(frames))]
    timings, faces = [], []
    for blendshapes in (False, True):
        with FaceLandmarkDetector(load_landmarker_manifest(), video=True, max_faces=1, blendshapes=blendshapes) as detector:
            found = [detector.detect(rgb, at) for rgb, at in clip]  # tracking warms up on the clip once
            label = "landmarks VIDEO + blendshapes" if blendshapes else "landmarks VIDEO (same clip)"
            timings.append(_time_calls(label, "frame", [lambda r=rgb, a=at: detector.detect(r, a + 10**6)
                                                        for rgb, at in clip[:30]], 1))
            faces = found
    usable = [(rgb, at, f[0]) for (rgb, at), f in zip(clip, faces) if f]
    texture = TextureLivenessModel(load_liveness_manifest(), provider, threads=1)
    session = LivenessSession(LivenessPolicy(), texture)
    clock = iter(range(0, 10**9, 40))  # the cues keep history: time must move forward across passes
    timings += [
        _time_calls("liveness: texture (2 nets)", "frame", [lambda r=rgb, f=face: texture.live_probability(r, f.box)
                                                           for rgb, _, face in usable], 1),
        _time_calls("liveness: blink (EAR)", "frame",
                    [lambda f=face: session.blinks.update(f.landmarks, f.blendshapes, next(clock)) for *_, face in usable], 1),
        _time_calls("liveness: motion (homography)", "frame",
                    [lambda f=face: session.motion.update(f.landmarks, next(clock)) for *_, face in usable], 1),
        _time_calls("liveness: all cues + fusion", "frame",
                    [lambda r=rgb, f=face, a=at: LivenessSession(LivenessPolicy(), texture).update(f, r, a)
                     for rgb, at, face in usable[:30]], 1),
    ]
    return timings


def run_benchmark(photo_files: list[Path], repeats: int = 5, provider: str = "auto",
                  live_video: Path | None = None) -> tuple[list[StageTiming], str]:
    """Time decode, landmarks (IMAGE and VIDEO mode), alignment and embedding on the given photos."""
    encoded = [p.read_bytes() for p in photo_files]
    photos = [decode_image(data, str(p)) for data, p in zip(encoded, photo_files)]
    frames = [door_frame(photo) for photo in photos]
    timings = [_time_calls("decode JPEG", "photo", [lambda d=d: decode_image(d) for d in encoded], repeats)]
    with FacePipeline.from_manifests(provider=provider) as pipeline:
        timings.append(_time_calls("landmarks IMAGE mode, 4 faces", "640x480 frame",
                                   [lambda f=f: pipeline.detector.detect(f) for f in frames], repeats))
        faces = [central_face(pipeline.detector.detect(f), f.shape) for f in frames]
        usable = [(f, face) for f, face in zip(frames, faces) if face is not None]
        timings.append(_time_calls("align + quality", "face",
                                   [lambda f=f, face=face: pipeline.align(f, face) for f, face in usable], repeats))
        chips = np.stack([pipeline.align(f, face).chip for f, face in usable])
        embedder = pipeline.embedder
        flip = " (with mirror)" if embedder.manifest.flip_average else ""
        timings.append(_time_calls(f"embed batch 1{flip}", "face",
                                   [lambda c=c: embedder.embed(c[None]) for c in chips], repeats))
        batch = np.resize(chips, (32, *chips.shape[1:]))
        timings.append(_time_calls(f"embed batch 32{flip}", "face", [lambda: embedder.embed(batch, 32)],
                                   repeats * 2, per=32))
        provider_used = embedder.provider
        timings += _protector_timings(embedder.embed(chips), provider, repeats)
    with FacePipeline.from_manifests(video=True, max_faces=1, provider=provider) as tracker:
        clock = iter(range(0, 10**9, 33))
        sequence = [f for f in frames for _ in range(10)]  # a person standing still for ten frames each
        timings.append(_time_calls("landmarks VIDEO mode, 1 face", "640x480 frame",
                                   [lambda f=f: tracker.detector.detect(f, next(clock)) for f in sequence], 1))
    if live_video is not None:
        timings += liveness_timings(live_video, provider)
    return timings, provider_used
