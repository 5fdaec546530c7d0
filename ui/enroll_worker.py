"""Enrollment capture in a worker thread: guides the person frame by frame from the quality
measures, keeps a few good and varied frames, and embeds them; or enrolls from photo files."""

import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from kiosk.config import KioskConfig
from kiosk.recognition.quality import QualityProblem
from ui.engine_worker import to_qimage

FRONTAL_FRAMES = 3
TURNED_FRAMES = 2
TURN_DEG = (6.0, 25.0)
PATIENCE_FRAMES = 45  # after the frontal frames, how long to wait for a turned one (about 3 s): optional


def guidance(problems: list[QualityProblem], kept_frontal: int) -> str:
    """The text key to show: what the person should do next."""
    if QualityProblem.TOO_SMALL in problems:
        return "come_closer"
    if QualityProblem.TURNED_AWAY in problems:
        return "look_at_camera"
    if QualityProblem.BLURRED in problems:
        return "hold_still"
    if QualityProblem.TOO_DARK in problems or QualityProblem.TOO_BRIGHT in problems:
        return "more_light"
    return "turn_slightly" if kept_frontal >= FRONTAL_FRAMES else "good_frame"


class EnrollWorker(QObject):
    frame = Signal(object, str, int)      # QImage, guidance text key, frames kept
    done = Signal(object, object, dict)   # embeddings (N, D), sharpness list, rejected photos
    failed = Signal(str)

    def __init__(self, config: KioskConfig, source: str | None = None, photos: list[Path] | None = None):
        super().__init__()
        self.config, self.source, self.photos = config, source, photos
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        from kiosk.errors import FacegateError
        from kiosk.recognition.pipeline import FacePipeline

        try:
            if self.photos is not None:
                self._from_photos(FacePipeline)
            else:
                self._from_stream(FacePipeline)
        except FacegateError as exc:
            self.failed.emit(str(exc))

    def _from_photos(self, pipeline_class) -> None:
        from kiosk.enrollment import enroll_photos

        with pipeline_class.from_config(self.config) as pipeline:
            result = enroll_photos(pipeline, self.photos, self.config.recognition.quality.gates())
        embeddings = np.stack(result.embeddings) if result.embeddings else np.empty((0, 128), np.float32)
        self.done.emit(embeddings, result.sharpness, result.rejected)

    def _from_stream(self, pipeline_class) -> None:
        from kiosk.sources import open_source

        gates = self.config.recognition.quality.gates()
        chips, sharpness = [], []
        frontal = turned = waited = 0
        source = open_source(self.source)
        with pipeline_class.from_config(self.config, video=True) as pipeline:
            for frame in source.frames():
                if self._stop.is_set():
                    break
                aligned = pipeline.detect_and_align(frame.rgb, frame.timestamp_ms)
                if not aligned:
                    self.frame.emit(to_qimage(frame.rgb), "center_face", len(chips))
                    continue
                face = max(aligned, key=lambda a: a.face.area)
                problems = face.quality.problems(gates)
                yaw = abs(face.quality.yaw_deg)
                if not problems and frontal < FRONTAL_FRAMES and yaw < TURN_DEG[0]:
                    frontal += 1
                    chips.append(face.chip)
                    sharpness.append(face.quality.sharpness)
                elif not problems and frontal >= FRONTAL_FRAMES and TURN_DEG[0] <= yaw <= TURN_DEG[1]:
                    turned += 1
                    chips.append(face.chip)
                    sharpness.append(face.quality.sharpness)
                self.frame.emit(to_qimage(frame.rgb), guidance(problems, frontal), len(chips))
                if frontal >= FRONTAL_FRAMES:
                    waited += 1
                    if turned >= TURNED_FRAMES or waited >= PATIENCE_FRAMES:
                        break
            source.close()
            if len(chips) < FRONTAL_FRAMES:
                self.failed.emit("not enough good frames: ask the person to face the camera in good light")
                return
            self.done.emit(pipeline.embedder.embed(np.stack(chips), "template"), sharpness, {})
