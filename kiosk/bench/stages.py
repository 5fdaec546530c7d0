"""Per-stage latency of the recognition core on real photos: medians and p95 over repeated runs."""

from functools import partial
from pathlib import Path

import numpy as np

from kiosk.bench.frames import door_frame
from kiosk.bench.liveness import liveness_timings
from kiosk.bench.timing import StageTiming, time_calls
from kiosk.imageio import decode_image
from kiosk.providers import ProviderChoice
from kiosk.recognition.embedder import Role
from kiosk.recognition.faces import central_face
from kiosk.recognition.pipeline import FacePipeline


def _match(protector, embedding: np.ndarray, gallery: np.ndarray, ids: np.ndarray):
    from kiosk.recognition.matching import nearest_person

    return nearest_person(protector.probe_space(embedding[None]), gallery, ids)


def _detect_next(detector, frame: np.ndarray, clock):
    return detector.detect(frame, next(clock))


def _protector_timings(manifest, embeddings: np.ndarray, provider: ProviderChoice, repeats: int) -> list[StageTiming]:
    """Protect (adversarial network + keyed layer) and 1:N match per template, with throwaway secrets."""
    from kiosk.protection import protector_for
    from kiosk.store.keys import KioskSecrets

    protector = protector_for(KioskSecrets.generate(), manifest, provider=provider)
    batch = np.resize(embeddings, (32, embeddings.shape[1]))
    gallery = protector.protect(np.resize(embeddings, (1000, embeddings.shape[1])))
    ids = np.array([f"p{i}" for i in range(len(gallery))], dtype=object)
    return [
        time_calls("protect batch 1", "template", [partial(protector.protect, e[None]) for e in embeddings], repeats),
        time_calls("protect batch 32", "template", [partial(protector.protect, batch)], repeats * 2, per=32),
        time_calls("match 1:1000", "probe", [partial(_match, protector, e, gallery, ids)
                                              for e in embeddings], repeats),
    ]


def run_benchmark(photo_files: list[Path], repeats: int = 5, provider: ProviderChoice = "auto",
                  live_video: Path | None = None) -> tuple[list[StageTiming], str]:
    """Time decode, landmarks (IMAGE and VIDEO mode), alignment and embedding on the given photos."""
    encoded = [p.read_bytes() for p in photo_files]
    photos = [decode_image(data, str(p)) for data, p in zip(encoded, photo_files)]
    frames = [door_frame(photo) for photo in photos]
    timings = [time_calls("decode JPEG", "photo", [partial(decode_image, d) for d in encoded], repeats)]
    with FacePipeline.from_manifests(provider=provider) as pipeline:
        timings.append(time_calls("landmarks IMAGE mode, 4 faces", "640x480 frame",
                                   [partial(pipeline.detector.detect, f) for f in frames], repeats))
        faces = [central_face(pipeline.detector.detect(f), f.shape) for f in frames]
        usable = [(f, face) for f, face in zip(frames, faces) if face is not None]
        timings.append(time_calls("align + quality", "face",
                                   [partial(pipeline.align, f, face) for f, face in usable], repeats))
        chips = np.stack([pipeline.align(f, face).chip for f, face in usable])
        embedder = pipeline.embedder
        policy = embedder.manifest.mirror_average
        roles: tuple[tuple[Role, bool], ...] = (("probe", policy.probes), ("template", policy.templates))
        for role, mirrored in roles:
            flip = " (with mirror)" if mirrored else ""
            timings.append(time_calls(f"embed {role} batch 1{flip}", "face",
                                       [partial(embedder.embed, c[None], role) for c in chips], repeats))
        batch = np.resize(chips, (32, *chips.shape[1:]))
        timings.append(time_calls(f"embed template batch 32{' (with mirror)' if policy.templates else ''}", "face",
                                   [partial(embedder.embed, batch, "template", 32)], repeats * 2, per=32))
        provider_used = embedder.provider
        timings += _protector_timings(embedder.manifest, embedder.embed(chips, "template"), provider, repeats)
    with FacePipeline.from_manifests(video=True, max_faces=1, provider=provider) as tracker:
        clock = iter(range(0, 10**9, 33))
        sequence = [f for f in frames for _ in range(10)]  # a person standing still for ten frames each
        timings.append(time_calls("landmarks VIDEO mode, 1 face", "640x480 frame",
                                   [partial(_detect_next, tracker.detector, f, clock) for f in sequence], 1))
    if live_video is not None:
        timings += liveness_timings(live_video, provider)
    return timings, provider_used
