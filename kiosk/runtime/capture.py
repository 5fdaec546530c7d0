"""Capture in its own thread: never blocks, newest frame wins, a stalled or lost source is reopened.

The consumer (the worker that owns the models) reads with a timeout; when it falls behind, older
frames are dropped and counted, so the kiosk always decides on what the camera sees now.
"""

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from kiosk.errors import SourceError
from kiosk.sources import Frame, FrameSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceEvent:
    """Capture news for the audit log and the screen: lost, recovered, ended."""

    kind: str  # "source_lost" | "source_recovered" | "source_ended"
    detail: str


@dataclass
class CaptureStats:
    frames: int = 0
    dropped: int = 0
    reconnects: int = 0


class CaptureThread:
    """Reads frames from `open_source()` into a one-slot queue; reconnects with back-off.

    `live` sources (cameras, streams) are reopened after a failure or a stall; a recorded file
    that ends simply ends the stream. `on_event` is called from the capture thread.
    """

    def __init__(self, open_source: Callable[[], FrameSource], *, live: bool,
                 backoff_s: tuple[float, float] = (0.5, 10.0), on_event: Callable[[SourceEvent], None] | None = None,
                 pace: bool = False, realtime: bool = False):
        self._open = open_source
        self.live = live
        self.backoff_s = backoff_s
        self._on_event = on_event or (lambda event: None)
        self._pace = pace
        self._realtime = realtime  # play a recorded file at its own speed, as a camera would deliver it
        self._queue: queue.Queue[Frame] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._ended = threading.Event()
        self.stats = CaptureStats()
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)

    def start(self) -> "CaptureThread":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.request_stop()
        self._thread.join(timeout=5)

    def request_stop(self) -> None:
        """Ask the stream to end without waiting (safe in a signal handler): `frames()` returns soon."""
        self._stop.set()

    @property
    def ended(self) -> bool:
        return self._ended.is_set() and self._queue.empty()

    def frames(self, timeout_s: float = 0.5) -> Iterator[Frame]:
        """The newest frames until the source ends or stop() is called."""
        while not self._stop.is_set():
            try:
                yield self._queue.get(timeout=timeout_s)
            except queue.Empty:
                if self.ended:
                    return

    def _offer(self, frame: Frame) -> None:
        """Put without blocking; a full slot means the consumer is behind, so the older frame goes."""
        if self._pace:  # recorded files: wait for the consumer instead of dropping, as a camera would not
            while not self._stop.is_set():
                try:
                    self._queue.put(frame, timeout=0.1)
                    return
                except queue.Full:
                    continue
        try:
            self._queue.put_nowait(frame)
        except queue.Full:
            try:
                self._queue.get_nowait()
                self.stats.dropped += 1
            except queue.Empty:
                pass
            self._queue.put_nowait(frame)

    def _run(self) -> None:
        delay = self.backoff_s[0]
        lost = False
        while not self._stop.is_set():
            try:
                source = self._open()
            except SourceError as exc:
                if not self.live:
                    self._on_event(SourceEvent("source_ended", str(exc)))
                    break
                if not lost:
                    lost = True
                    self._on_event(SourceEvent("source_lost", str(exc)))
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff_s[1])
                continue
            if lost:
                lost = False
                self.stats.reconnects += 1
                self._on_event(SourceEvent("source_recovered", "reconnected"))
            delay = self.backoff_s[0]
            ended_cleanly = self._pump(source)
            source.close()
            if not self.live:
                self._on_event(SourceEvent("source_ended", "end of file" if ended_cleanly else "read failed"))
                break
            lost = True
            self._on_event(SourceEvent("source_lost", "the stream ended or stalled" if ended_cleanly else "read failed"))
        self._ended.set()

    def _pump(self, source: FrameSource) -> bool:
        """Move frames until the source ends (True) or fails (False). A stalled stream ends its read
        through the source's own read timeout (OpenCV's FFmpeg options), never by closing it from
        another thread, which OpenCV does not survive."""
        started = time.monotonic()
        try:
            for frame in source.frames():
                if self._realtime:
                    self._stop.wait(max(0.0, frame.timestamp_ms / 1000 - (time.monotonic() - started)))
                self.stats.frames += 1
                self._offer(frame)
                if self._stop.is_set():
                    break
            return True
        except Exception as exc:  # a driver error is a lost source, not a crash of the kiosk
            log.warning("capture failed: %s", exc)
            return False
