"""The engine in a worker thread: it owns the models, its own store connection and the camera, and
sends each processed frame to the GUI as a signal. The Qt event loop never waits on a model."""

import logging
import queue
import threading
from dataclasses import dataclass, replace

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from kiosk.config import KioskConfig
from kiosk.runtime.capture import CaptureThread
from kiosk.runtime.decisions import Decision, Hint

log = logging.getLogger(__name__)


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
    """Run with `thread = QThread(); worker.moveToThread(thread); thread.started.connect(worker.run)`.

    Frames reach the screen through a latest-only slot: the worker keeps the newest view and signals
    once; a screen that is behind skips to the newest frame instead of queueing old ones."""

    frame_ready = Signal()            # a new view is waiting: take it with latest_view()
    camera_event = Signal(str, str)   # kind, detail
    panel_event = Signal(str, str)    # the access-control panel: its link and what it asks to show
    provider_known = Signal(str)
    failed = Signal(str)
    finished = Signal()

    def __init__(self, config: KioskConfig, source: str):
        super().__init__()
        self.config, self.source = config, source
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._latest: FrameView | None = None
        self._latest_lock = threading.Lock()
        self._capture: CaptureThread | None = None
        self._typed_pins: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.frames_shown = 0

    def present_pin(self, pin: str) -> None:
        """Thread-safe: a PIN typed on the keypad reaches the runner before its next frame."""
        self._typed_pins.put(pin)

    def stop(self) -> None:
        """Thread-safe: the loop ends after the frame it is on, or at once while no frame comes (no
        camera, a camera lost): the capture is told to end too."""
        self._stop.set()
        capture = self._capture
        if capture is not None:
            capture.request_stop()

    def reload_gallery(self) -> None:
        """Thread-safe: the worker rereads people and templates before its next frame."""
        self._reload.set()

    def latest_view(self) -> "FrameView | None":
        """The newest frame's view (None if the screen already took it)."""
        with self._latest_lock:
            view, self._latest = self._latest, None
        return view

    def _offer(self, view: FrameView) -> None:
        """Replace the waiting view; a decision it carried is never dropped, it rides on the newer one."""
        with self._latest_lock:
            waiting = self._latest is not None
            if waiting and view.decision is None and self._latest.decision is not None:
                view = replace(view, decision=self._latest.decision)
            self._latest = view
        if not waiting:
            self.frame_ready.emit()

    def run(self) -> None:
        from kiosk.errors import FacegateError
        from kiosk.runtime.session import KioskSession

        try:
            with KioskSession(self.config) as session:
                runner = session.runner
                self.provider_known.emit(runner.pipeline.embedder.provider)
                session.inbox.listen(lambda event: self.panel_event.emit(event.kind, event.detail)
                                     if event.kind.startswith("panel_") else None)
                capture = session.capture(self.source, realtime=True,
                                          also=lambda event: self.camera_event.emit(event.kind, event.detail))
                self._capture = capture
                if self._stop.is_set():  # stopped while the models loaded
                    capture.request_stop()
                for frame in capture.frames():
                    if self._stop.is_set():
                        break
                    if self._reload.is_set():
                        self._reload.clear()
                        runner.reload_gallery()
                    while not self._typed_pins.empty():
                        runner.present_pin(self._typed_pins.get())
                    status = runner.process(frame)
                    self.frames_shown += 1
                    self._offer(FrameView(to_qimage(frame.rgb), status.box, status.hint, status.decision, status.faces))
                runner.finish_visits()  # a grant still waiting for the live verdict is recorded as left
                runner.write_waiting_records()  # and what waited for another process's write lock is written
        except FacegateError as exc:
            self.failed.emit(f"The kiosk cannot run: {exc}")
        except Exception as exc:  # a bug: said on the screen, kept in the log with its traceback
            log.exception("the kiosk engine stopped")
            self.failed.emit(f"The kiosk stopped on an unexpected error ({type(exc).__name__}: {exc}). The log has "
                             f"the details; restart the kiosk, and report it if it comes back.")
        finally:
            self.finished.emit()
