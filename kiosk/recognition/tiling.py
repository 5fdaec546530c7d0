"""Small faces: a second detection pass on overlapping crops, each seen large.

MediaPipe's short-range detector sees the whole frame at 128x128, so a face that is a small part of
the photo (an HR portrait of the whole person, a group shot, a full-body photo) shrinks to a few
pixels and is missed, whatever the photo's own size: a 40 px face in a 1000 px photo is as lost as a
160 px face in a 4000 px one. When a photo shows no face, it is searched again in crops of a half, a
third, a quarter, a sixth ... of its long side, each overlapping its neighbours by half (so a face
smaller than half a crop lies whole in one of them), from the coarsest level down, stopping at the
first level that finds faces. Crops of large photos go down to MIN_CROP_SIDE pixels; every photo
goes down to a sixth at least, and a crop smaller than MIN_CROP_SIDE is upscaled to it, so the
landmarker has pixels enough for the mesh. Landmarks are moved back into the photo's coordinates; a
face found in two crops is kept once (the larger find).
"""

from collections.abc import Callable

import cv2
import numpy as np

from kiosk.recognition.faces import DetectedFace, box_iou

MIN_CROP_SIDE = 320   # crops are searched at least this large (smaller ones are upscaled)
MIN_LEVELS = 6        # every photo is searched down to crops of a sixth of its long side
SAME_FACE_IOU = 0.3


def crop_grid(height: int, width: int, parts: int) -> list[tuple[int, int, int, int]]:
    """Square-ish crops (y0, x0, y1, x1) of side long_side / parts, overlapping by half."""
    side = int(np.ceil(max(height, width) / parts))
    step = max(1, side // 2)
    ys = sorted({min(y, max(0, height - side)) for y in range(0, max(1, height - side // 2), step)})
    xs = sorted({min(x, max(0, width - side)) for x in range(0, max(1, width - side // 2), step)})
    return [(y, x, min(height, y + side), min(width, x + side)) for y in ys for x in xs]


def _levels(long_side: int) -> list[int]:
    """Crop counts along the long side: 2, 3, 4, 6, 8 ... while crops keep MIN_CROP_SIDE pixels,
    and at least down to a sixth."""
    levels, parts = [], 2
    while parts <= MIN_LEVELS or long_side / parts >= MIN_CROP_SIDE:
        levels.append(parts)
        parts += 1 if parts < 4 else 2
    return levels


def _in_photo(face: DetectedFace, y0: int, x0: int, scale: float) -> DetectedFace:
    """A face found in a crop upscaled by `scale`, in the photo's coordinates."""
    landmarks = face.landmarks / np.float32(scale)
    landmarks[:, 0] += x0
    landmarks[:, 1] += y0
    return DetectedFace(landmarks, face.pose, face.blendshapes)


def _unique(faces: list[DetectedFace]) -> list[DetectedFace]:
    kept: list[DetectedFace] = []
    for face in sorted(faces, key=lambda f: -f.area):
        if all(box_iou(face.box, other.box) < SAME_FACE_IOU for other in kept):
            kept.append(face)
    return kept


def _search_crop(detect: Callable[[np.ndarray], list[DetectedFace]], crop: np.ndarray, y0: int,
                 x0: int) -> list[DetectedFace]:
    scale = max(1.0, MIN_CROP_SIDE / max(crop.shape[:2]))
    if scale > 1.0:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    return [_in_photo(face, y0, x0, scale) for face in detect(np.ascontiguousarray(crop))]


def detect_small_faces(detect: Callable[[np.ndarray], list[DetectedFace]], rgb: np.ndarray) -> list[DetectedFace]:
    """Faces the whole-frame pass missed, in the photo's own coordinates."""
    height, width = rgb.shape[:2]
    for parts in _levels(max(height, width)):
        found = [face for y0, x0, y1, x1 in crop_grid(height, width, parts)
                 for face in _search_crop(detect, rgb[y0:y1, x0:x1], y0, x0)]
        if found:
            return _unique(found)
    return []
