"""MediaPipe FaceLandmarker: face detection plus 478 landmarks, blendshapes and head pose."""

import logging

import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions
from mediapipe.tasks.python.vision import FaceLandmarker, FaceLandmarkerOptions, RunningMode

from kiosk.checksums import verify_sha256
from kiosk.errors import ModelError
from kiosk.manifest import LandmarkerManifest
from kiosk.native_logs import native_stderr_silenced
from kiosk.recognition.faces import DetectedFace

log = logging.getLogger(__name__)


class FaceLandmarkDetector:
    """Finds faces and their landmarks in RGB uint8 frames.

    IMAGE mode treats every call on its own (photos); VIDEO mode tracks faces between calls, which
    is faster and steadier for a stream but needs strictly increasing timestamps. Close it (or use
    `with`) so MediaPipe releases its graph before the interpreter exits.
    """

    def __init__(self, manifest: LandmarkerManifest, *, video: bool = False, max_faces: int = 4,
                 min_detection_confidence: float = 0.5, blendshapes: bool = False):
        if not manifest.path.exists():
            raise ModelError(f"{manifest.path} is missing; run `python main.py models build` first")
        verify_sha256(manifest.path, manifest.sha256, manifest.id)
        self.manifest = manifest
        self.video = video
        options = FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(manifest.path)),
            running_mode=RunningMode.VIDEO if video else RunningMode.IMAGE,
            num_faces=max_faces,
            min_face_detection_confidence=min_detection_confidence,
            min_face_presence_confidence=min_detection_confidence,
            output_face_blendshapes=blendshapes,
            output_facial_transformation_matrixes=True,
        )
        self._last_timestamp_ms = -1
        with native_stderr_silenced():
            self._landmarker = FaceLandmarker.create_from_options(options)
            self._warm_up()

    def _warm_up(self) -> None:
        """One inference on a blank frame, so the first real frame is not slow and logs nothing."""
        blank = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.zeros((64, 64, 3), dtype=np.uint8))
        if self.video:
            self._landmarker.detect_for_video(blank, 0)
            self._last_timestamp_ms = 0
        else:
            self._landmarker.detect(blank)

    def detect(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> list[DetectedFace]:
        """All faces in the frame, landmarks in pixels. VIDEO mode needs the frame's timestamp."""
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an RGB uint8 (H, W, 3) frame, got {rgb.dtype} {rgb.shape}")
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        if self.video:
            if timestamp_ms is None:
                raise ValueError("VIDEO mode needs each frame's timestamp_ms")
            # MediaPipe rejects a timestamp that does not increase; a repeated one means the same instant.
            timestamp_ms = max(int(timestamp_ms), self._last_timestamp_ms + 1)
            self._last_timestamp_ms = timestamp_ms
            result = self._landmarker.detect_for_video(image, timestamp_ms)
        else:
            result = self._landmarker.detect(image)
        height, width = rgb.shape[:2]
        scale = np.array([width, height, width], dtype=np.float32)
        faces = []
        for index, landmarks in enumerate(result.face_landmarks):
            points = np.array([(p.x, p.y, p.z) for p in landmarks], dtype=np.float32) * scale
            pose = (np.asarray(result.facial_transformation_matrixes[index], dtype=np.float32)
                    if result.facial_transformation_matrixes else None)
            shapes = ({c.category_name: float(c.score) for c in result.face_blendshapes[index]}
                      if result.face_blendshapes else None)
            faces.append(DetectedFace(points, pose, shapes))
        return faces

    def close(self) -> None:
        self._landmarker.close()

    def __enter__(self) -> "FaceLandmarkDetector":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
