"""Typed per-face results that check themselves, and the rules for which face acts."""

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class DetectedFace:
    """One face as the landmarker sees it, in the pixel coordinates of the frame it came from.

    landmarks: (K, 3) float32 x, y in pixels, z in the same scale as x (relative depth).
    pose: (4, 4) facial transformation matrix (head pose), or None if the landmarker gave none.
    blendshapes: name -> score in [0, 1] (eye blinks, jaw open ...), empty if not requested.
    """

    landmarks: np.ndarray
    pose: np.ndarray | None = None
    blendshapes: dict[str, float] | None = None

    def __post_init__(self) -> None:
        if self.landmarks.ndim != 2 or self.landmarks.shape[1] != 3:
            raise ValueError(f"landmarks: expected shape (K, 3), got {self.landmarks.shape}")
        if self.pose is not None and self.pose.shape != (4, 4):
            raise ValueError(f"pose: expected shape (4, 4), got {self.pose.shape}")

    @cached_property
    def box(self) -> tuple[float, float, float, float]:
        """Tight box around the landmarks: x0, y0, x1, y1."""
        x0, y0 = self.landmarks[:, :2].min(axis=0)
        x1, y1 = self.landmarks[:, :2].max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    @property
    def center(self) -> np.ndarray:
        x0, y0, x1, y1 = self.box
        return np.array([(x0 + x1) / 2, (y0 + y1) / 2])

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return (x1 - x0) * (y1 - y0)


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def largest_face(faces: list[DetectedFace]) -> DetectedFace | None:
    """The kiosk's rule: the closest person (the largest face) is the one who acts."""
    return max(faces, key=lambda face: face.area, default=None)


def central_face(faces: list[DetectedFace], frame_shape: tuple[int, ...]) -> DetectedFace | None:
    """LFW's rule: the labelled person is the face nearest the image centre."""
    middle = np.array([frame_shape[1] / 2, frame_shape[0] / 2])
    return min(faces, key=lambda face: float(np.linalg.norm(face.center - middle)), default=None)
