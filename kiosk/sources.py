"""Frame sources: image files, video files, a camera index or a network stream, as RGB frames."""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from kiosk.errors import FacegateError, SourceError
from kiosk.imageio import read_image

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "udp://", "tcp://")


@dataclass(frozen=True)
class Frame:
    """One RGB uint8 frame and when it was taken (ms; from the file's clock for recorded video)."""

    rgb: np.ndarray
    timestamp_ms: int
    index: int
    origin: str


class FrameSource(Protocol):
    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


class ImageFilesSource:
    """Photos in a fixed order; a photo that cannot be read is a SourceError naming the file."""

    def __init__(self, paths: list[Path], interval_ms: int = 1000):
        if not paths:
            raise SourceError("no image files given")
        self.paths = paths
        self.interval_ms = interval_ms

    def frames(self) -> Iterator[Frame]:
        for index, path in enumerate(self.paths):
            try:
                rgb = read_image(path)
            except FacegateError as exc:
                raise SourceError(str(exc)) from exc
            yield Frame(rgb, index * self.interval_ms, index, str(path))

    def close(self) -> None:
        pass


class VideoCaptureSource:
    """A video file, a camera (by index) or a network stream, read through OpenCV's FFmpeg backend."""

    def __init__(self, target: str | int, timeout_ms: int = 5000):
        self.target = target
        self.live = not (isinstance(target, str) and Path(target).is_file())
        if isinstance(target, str) and target.startswith(STREAM_SCHEMES):
            # A stream that stops sending makes read() fail after timeout_ms instead of hanging.
            self._capture = cv2.VideoCapture(target, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms,
                                                                     cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms])
        else:
            self._capture = cv2.VideoCapture(target)
        if not self._capture.isOpened():
            kind = "camera" if isinstance(target, int) else "stream" if self.live else "video file"
            raise SourceError(f"cannot open {kind} {target!r}: check that it exists and that no other program holds it")

    def frames(self) -> Iterator[Frame]:
        index = 0
        started = time.monotonic()
        while True:
            ok, bgr = self._capture.read()
            if not ok:
                return
            if self.live:
                timestamp_ms = int((time.monotonic() - started) * 1000)
            else:
                timestamp_ms = int(round(self._capture.get(cv2.CAP_PROP_POS_MSEC)))
            yield Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), timestamp_ms, index, str(self.target))
            index += 1

    def close(self) -> None:
        self._capture.release()


def open_source(spec: str) -> FrameSource:
    """`0` -> camera 0; `rtsp://...` -> stream; a video or image file; a folder -> its images, sorted."""
    if spec.isdigit():
        return VideoCaptureSource(int(spec))
    if spec.startswith(STREAM_SCHEMES):
        return VideoCaptureSource(spec)
    path = Path(spec)
    if path.is_dir():
        return ImageFilesSource(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
    if not path.exists():
        raise SourceError(f"{spec}: no such file, folder, camera index or stream URL")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageFilesSource([path])
    return VideoCaptureSource(str(path))
