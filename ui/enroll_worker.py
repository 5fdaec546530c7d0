"""Enrollment work off the Qt event loop: capture (camera or video, guided frame by frame by the
engine's CaptureGuide), photo files, and saving through the engine's one enrollment path."""

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from kiosk.config import KioskConfig
from kiosk.enrollment import Candidate, EnrollmentPolicy, write_enrollments
from ui.engine_worker import to_qimage


class EnrollWorker(QObject):
    frame = Signal(object, str, int)  # QImage, guidance text key, frames kept
    done = Signal(object)             # PhotoEnrollment: embeddings, sharpness, rejected photos
    failed = Signal(str)

    def __init__(self, config: KioskConfig, source: str | None = None, photos: list[Path] | None = None):
        super().__init__()
        self.config, self.source, self.photos = config, source, photos
        self._stop = threading.Event()
        self._capturing = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def start_capture(self) -> None:
        """From the Start button: until then the camera is only shown, and nothing is kept."""
        self._capturing.set()

    def run(self) -> None:
        from kiosk.errors import FacegateError

        try:
            self.done.emit(self._from_photos() if self.photos is not None else self._from_stream())
        except FacegateError as exc:
            self.failed.emit(str(exc))

    def _from_photos(self):
        from kiosk.enrollment import enroll_photos
        from kiosk.recognition.pipeline import FacePipeline

        with FacePipeline.from_config(self.config) as pipeline:
            return enroll_photos(pipeline, self.photos, self.config.recognition.quality.gates())

    def _from_stream(self):
        from kiosk.enrollment import CaptureGuide, PhotoEnrollment
        from kiosk.recognition.pipeline import FacePipeline
        from kiosk.sources import open_source

        guide = CaptureGuide(self.config.recognition.quality.gates())
        source = open_source(self.source)
        try:
            with FacePipeline.from_config(self.config, video=True) as pipeline:
                for frame in source.frames():
                    if self._stop.is_set():
                        break
                    if not self._capturing.is_set():  # a passer-by in front of the camera is never taken
                        self.frame.emit(to_qimage(frame.rgb), "press_start", 0)
                        continue
                    key = guide.take(pipeline.detect_and_align(frame.rgb, frame.timestamp_ms))
                    self.frame.emit(to_qimage(frame.rgb), key, len(guide.chips))
                    if guide.done:
                        break
                return guide.enrollment(pipeline) if guide.enough else PhotoEnrollment()
        finally:
            source.close()


class SaveWorker(QObject):
    """Protect and write one person through write_enrollments (the store's write lock is taken
    there, so the screen never waits on it)."""

    done = Signal(object)  # EnrollmentReport
    failed = Signal(str)

    def __init__(self, store, protector, model_id: str, policy: EnrollmentPolicy, candidate: Candidate):
        super().__init__()
        self.store, self.protector, self.model_id = store, protector, model_id
        self.policy, self.candidate = policy, candidate

    def run(self) -> None:
        from kiosk.errors import FacegateError

        try:
            self.done.emit(write_enrollments(self.store, self.protector, self.model_id, self.policy, [self.candidate]))
        except FacegateError as exc:
            self.failed.emit(str(exc))
