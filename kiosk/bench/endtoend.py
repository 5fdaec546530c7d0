"""The kiosk's own work per frame on a video made from LFW photos, with one and with four faces in
view; enrollment throughput; and how long a visitor waits for the first decision.

End to end is `KioskRunner.process` itself (landmarks to vote, with audit writes on decisions);
the per-stage rows repeat its calls one by one on the same frames, so the two can be compared.
"""

import contextlib
import cProfile
import io
import pstats
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import cv2
import numpy as np
import yaml

from kiosk.bench.frames import FRAME_SIZE, door_frame
from kiosk.bench.timing import StageTiming
from kiosk.enrollment import enroll_people, enroll_photos
from kiosk.imageio import decode_image, read_image
from kiosk.recognition.pipeline import FacePipeline
from kiosk.sources import Frame

FPS = 15


@dataclass(frozen=True)
class Visitor:
    enrollment_photos: list[Path]
    visit_photo: Path


def grid_frame(photos: list[np.ndarray]) -> np.ndarray:
    """Four people in view: door frames of four photos tiled 2 x 2 in one 640x480 frame."""
    width, height = FRAME_SIZE
    tiles = [cv2.resize(door_frame(photo), (width // 2, height // 2)) for photo in photos[:4]]
    return np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:4])])


def visit_video(visitors: list[Visitor], faces_in_view: int, seconds_each: float) -> list[bytes]:
    """Each visit's frames, JPEG-compressed and decoded as a camera stream would be (decode is timed)."""
    photos = [read_image(v.visit_photo) for v in visitors]
    frames = []
    for start in range(0, len(photos), faces_in_view):
        group = photos[start:start + faces_in_view]
        if len(group) < faces_in_view:
            break
        frame = door_frame(group[0]) if faces_in_view == 1 else grid_frame(group)
        jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])[1]
        frames += [jpeg.tobytes()] * int(seconds_each * FPS)
    return frames


@contextlib.contextmanager
def _kiosk(folder: Path, visitors: list[Visitor], liveness: bool, max_faces: int):
    """A store with the visitors enrolled from their other photos (the one enrollment path), and a
    kiosk session on it (the one way a kiosk is assembled)."""
    from kiosk.config import load_config
    from kiosk.enrollment import Candidate, EnrollmentPolicy, write_enrollments
    from kiosk.protection import protector_for
    from kiosk.runtime.session import KioskSession
    from kiosk.store.access import open_store
    from kiosk.store.keys import KeySourceConfig, KioskSecrets, save_secrets
    from kiosk.store.records import Consent, Person

    config_path = folder / "kiosk.yaml"
    config_path.write_text(yaml.safe_dump({
        "store": {"path": str(folder / "gallery.db"), "keys": {"file": str(folder / "keys.json")}},
        "liveness": {"enabled": liveness}, "recognition": {"max_faces": max_faces}, "attendance": {"enabled": False},
        "doors": [{"name": "main", "outputs": []}]}))
    config = load_config(config_path)
    save_secrets(KeySourceConfig(file=folder / "keys.json"), KioskSecrets.generate())
    store, secrets = open_store(config.store.resolved_path, config.store.keys, create=True)
    with store, FacePipeline.from_config(config) as photos:
        protector = protector_for(secrets, photos.manifest, provider=config.models.provider)
        results = enroll_people(photos, {f"v{i}": v.enrollment_photos for i, v in enumerate(visitors)},
                                config.recognition.quality.gates())
        write_enrollments(store, protector, photos.manifest.id, EnrollmentPolicy.from_config(config, protector),
                          [Candidate(Person(f"v{i}", v.visit_photo.parent.name), Consent("benchmark", date.today(),
                                     "benchmark"), results[f"v{i}"]) for i, v in enumerate(visitors)])
    with KioskSession(config) as session:
        yield session.runner


def _decoded(jpeg: bytes) -> np.ndarray:
    """A frame as a camera stream delivers it: JPEG decoded to RGB."""
    return decode_image(jpeg, "benchmark frame")


def _summary(stage: str, samples: list[float]) -> StageTiming:
    values = np.array(samples)
    return StageTiming(stage, "frame", len(values), float(np.median(values)), float(np.percentile(values, 95)))


def frame_timings(visitors: list[Visitor], faces_in_view: int, liveness: bool, profile: bool = False,
                  seconds_each: float = 2.0) -> tuple[list[StageTiming], dict, str]:
    """Per-stage and end-to-end milliseconds per frame; decisions and first-decision latency; a profile."""
    video = visit_video(visitors, faces_in_view, seconds_each)
    with tempfile.TemporaryDirectory() as scratch, _kiosk(Path(scratch), visitors, liveness,
                                                           max(2, faces_in_view)) as runner:
        pipeline = runner.pipeline
        stages: dict[str, list[float]] = {name: [] for name in (
            "decode JPEG", "landmarks VIDEO", "track + align + quality", "embed (acting face)",
            "protect-space probe", "fuse + match (GalleryIndex)")}
        end_to_end, decisions, first_decision = [], [], []
        profiler = cProfile.Profile() if profile else None
        for index, jpeg in enumerate(video):
            at_ms = index * 1000 // FPS
            if index % int(seconds_each * FPS) == 0:
                pending = True  # a new visit: its first decision is the one timed
            started = time.perf_counter()
            rgb = _decoded(jpeg)
            stages["decode JPEG"].append((time.perf_counter() - started) * 1000)
            frame = Frame(rgb, at_ms, index, "benchmark")
            if profiler:
                profiler.enable()
            started = time.perf_counter()
            status = runner.process(frame)
            elapsed = (time.perf_counter() - started) * 1000
            if profiler:
                profiler.disable()
            end_to_end.append(elapsed)
            if status.decision is not None:
                decisions.append(status.decision.outcome.value)
                if pending:
                    first_decision.append(status.decision.visit_ms + elapsed)
                    pending = False
        _stage_by_stage(runner, pipeline, video, stages)
        pipelined = _pipelined(runner, video)
    label = f"{faces_in_view} face{'s' if faces_in_view > 1 else ''}{', liveness on' if liveness else ''}"
    timings = [_summary(f"{label}: {name}", values) for name, values in stages.items() if values]
    timings.append(_summary(f"{label}: END TO END, one frame start to end (process)", end_to_end))
    timings.append(_summary(f"{label}: END TO END, two stages overlapped (run)", pipelined))
    summary = {"frames": len(video), "decisions": decisions,
               "first_decision_ms": float(np.median(first_decision)) if first_decision else None,
               "sustained_fps": round(1000 / float(np.median(pipelined)), 1),
               "overlapped_ms": round(float(np.median(end_to_end)) - float(np.median(pipelined)), 2)}
    return timings, summary, _profile_text(profiler) if profiler else ""


class _DecodedFeed:
    """A recorded visit as the kiosk's frame feed, decoded beforehand (in the kiosk the capture
    thread decodes: the 'decode JPEG' row), handed over as fast as the kiosk takes them."""

    def __init__(self, video: list[bytes], clock_ms: int):
        self.decoded = [_decoded(jpeg)
                        for jpeg in video]
        self.clock_ms, self._stopped = clock_ms, False

    def frames(self):
        for index, rgb in enumerate(self.decoded):
            if self._stopped:
                return
            yield Frame(rgb, self.clock_ms + index * 1000 // FPS, index, "benchmark")

    def stop(self) -> None:
        self._stopped = True


def _pipelined(runner, video: list[bytes]) -> list[float]:
    """Wall time between decided frames when the landmarks of the next frame overlap this one's visit
    (the cost per frame the kiosk sustains)."""
    runner.visits.clear()
    runner.tracker = type(runner.tracker)()
    decided: list[float] = []
    runner.run(_DecodedFeed(video, clock_ms=2 * 10**7), lambda status: decided.append(time.perf_counter()))
    return list(np.diff(decided) * 1000)


def _stage_by_stage(runner, pipeline: FacePipeline, video: list[bytes], stages: dict[str, list[float]]) -> None:
    """The calls process() makes, one by one, on a fresh tracker (so VIDEO mode tracks as before)."""
    from kiosk.runtime.tracker import FaceTracker

    tracker = FaceTracker()
    clock = 10**7  # after the first pass, so VIDEO mode accepts the timestamps
    evidence = None
    for index, jpeg in enumerate(video):
        rgb = _decoded(jpeg)
        at_ms = clock + index * 1000 // FPS
        started = time.perf_counter()
        faces = pipeline.detector.detect(rgb, at_ms)
        stages["landmarks VIDEO"].append(_since(started))
        if not faces:
            continue
        started = time.perf_counter()
        tracker.update(faces, at_ms)
        acting = max(range(len(faces)), key=lambda i: faces[i].area)
        aligned = pipeline.align(rgb, faces[acting])
        stages["track + align + quality"].append(_since(started))
        started = time.perf_counter()
        embedding = pipeline.embedder.embed(aligned.chip[None], "probe")
        stages["embed (acting face)"].append(_since(started))
        started = time.perf_counter()
        probe = runner.protector.probe_space(embedding)
        stages["protect-space probe"].append(_since(started))
        started = time.perf_counter()
        evidence = probe[0] if evidence is None else evidence + probe[0]
        runner.gallery.index.nearest((evidence / np.linalg.norm(evidence))[None])
        stages["fuse + match (GalleryIndex)"].append(_since(started))


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _profile_text(profiler: cProfile.Profile, lines: int = 14) -> str:
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(lines)
    text = buffer.getvalue()
    return text[text.find("   ncalls"):].rstrip()


def enrollment_throughput(photos: list[Path]) -> dict:
    """Photos per second through the enrollment path (read, detect, align, gates, embed, protect), one
    person per photo as a gallery apply of that many people, and one photo at a time for comparison."""
    from kiosk.config import KioskConfig
    from kiosk.protection import protector_for
    from kiosk.store.keys import KioskSecrets

    config = KioskConfig()
    with FacePipeline.from_config(config) as pipeline:
        protector = protector_for(KioskSecrets.generate(), pipeline.manifest, provider=config.models.provider)
        gates = config.recognition.quality.gates()
        enroll_photos(pipeline, photos[:4], gates)  # warm-up
        started = time.perf_counter()
        for photo in photos:
            enroll_photos(pipeline, [photo], gates)
        one_at_a_time = time.perf_counter() - started
        started = time.perf_counter()
        results = enroll_people(pipeline, {str(i): [photo] for i, photo in enumerate(photos)}, gates)
        accepted = [e for r in results.values() for e in r.embeddings]
        if accepted:
            protector.protect(np.stack(accepted))
        seconds = time.perf_counter() - started
    return {"photos": len(photos), "accepted": len(accepted), "seconds": round(seconds, 2),
            "photos_per_second": round(len(photos) / seconds, 1),
            "one_at_a_time_photos_per_second": round(len(photos) / one_at_a_time, 1)}
