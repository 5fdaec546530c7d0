"""The engine in a worker thread: it owns the models, its own store connection and the camera, and
sends each processed frame to the GUI as a signal. The Qt event loop never waits on a model."""

import threading
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from kiosk.config import KioskConfig
from kiosk.runtime.decisions import Decision, Hint


@dataclass(frozen=True)
class FrameView:
    """What the kiosk screen needs from one frame."""

    image: QImage
    box: tuple[float, float, float, float] | None
    hint: Hint | None
    decision: Decision | None
    faces: int


def to_qimage(rgb: np.ndarray) -> QImage:
    height, width = rgb.shape[:2]
    return QImage(np.ascontiguousarray(rgb).data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


class EngineWorker(QObject):
    """Run with `thread = QThread(); worker.moveToThread(thread); thread.started.connect(worker.run)`."""

    frame_ready = Signal(object)      # FrameView
    camera_event = Signal(str, str)   # kind, detail
    provider_known = Signal(str)
    failed = Signal(str)
    finished = Signal()

    def __init__(self, config: KioskConfig, source: str):
        super().__init__()
        self.config, self.source = config, source
        self._stop = threading.Event()
        self._reload = threading.Event()
        self.frames_shown = 0

    def stop(self) -> None:
        """Thread-safe: the loop ends after the frame it is on."""
        self._stop.set()

    def reload_gallery(self) -> None:
        """Thread-safe: the worker rereads people and templates before its next frame."""
        self._reload.set()

    def run(self) -> None:
        from kiosk.errors import FacegateError
        from kiosk.recognition.pipeline import FacePipeline
        from kiosk.runtime.capture import CaptureThread
        from kiosk.runtime.door_factory import build_outputs
        from kiosk.runtime.doors import DoorDispatcher
        from kiosk.runtime.kiosk import KioskRunner
        from kiosk.sources import STREAM_SCHEMES, open_source
        from kiosk.store.access import open_store, protector_for

        try:
            store, secrets = open_store(self.config.store.resolved_path, self.config.store.keys)
            pipeline = FacePipeline.from_config(self.config, video=True)
        except FacegateError as exc:
            self.failed.emit(str(exc))
            self.finished.emit()
            return
        live = self.source.isdigit() or self.source.startswith(STREAM_SCHEMES)
        door = self.config.doors[0]
        runner: KioskRunner | None = None
        dispatcher = DoorDispatcher(build_outputs(door), lambda d, o, e: runner and runner.door_failure(d, o, e))
        runner = KioskRunner(self.config, store, pipeline,
                             protector_for(secrets, pipeline.manifest, self.config.models.protector,
                                           self.config.models.provider), dispatcher, door)
        self.provider_known.emit(pipeline.embedder.provider)

        def on_camera(event) -> None:
            runner.source_event(event)
            self.camera_event.emit(event.kind, event.detail)

        capture = CaptureThread(lambda: open_source(self.source), live=live, on_event=on_camera,
                                realtime=not live).start()
        try:
            for frame in capture.frames():
                if self._stop.is_set():
                    break
                if self._reload.is_set():
                    self._reload.clear()
                    runner.reload_gallery()
                status = runner.process(frame)
                self.frames_shown += 1
                self.frame_ready.emit(FrameView(to_qimage(frame.rgb), status.box, status.hint, status.decision,
                                                status.faces))
        finally:
            capture.stop()
            dispatcher.close()
            pipeline.close()
            store.close()
            self.finished.emit()
