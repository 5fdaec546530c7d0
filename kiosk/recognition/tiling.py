"""Small faces in big photos: a second detection pass on overlapping full-resolution crops.

MediaPipe's short-range detector sees the whole frame at 128x128, so a face that is a small part of
a large photo (an HR portrait of the whole person, a group shot, a 4000 px camera file) shrinks to a
few pixels and is missed. When a large photo shows no face, it is searched again in crops of a half,
a third, a quarter ... of its long side, each overlapping its neighbours by half (so a face smaller
than half a crop lies whole in one of them), from the coarsest level down, stopping at the first
level that finds faces. Landmarks are moved back into the photo's coordinates; a face found in two
crops is kept once (the larger find).
"""

from collections.abc import Callable

import numpy as np

from kiosk.recognition.faces import DetectedFace, box_iou

MIN_PHOTO_SIDE = 960   # smaller photos hold their faces large enough for the first pass
MIN_CROP_SIDE = 320    # crops smaller than this hold no face the first pass would not have found
SAME_FACE_IOU = 0.3


def crop_grid(height: int, width: int, parts: int) -> list[tuple[int, int, int, int]]:
    """Square-ish crops (y0, x0, y1, x1) of side long_side / parts, overlapping by half."""
    side = int(np.ceil(max(height, width) / parts))
    step = max(1, side // 2)
    ys = sorted({min(y, max(0, height - side)) for y in range(0, max(1, height - side // 2), step)})
    xs = sorted({min(x, max(0, width - side)) for x in range(0, max(1, width - side // 2), step)})
    return [(y, x, min(height, y + side), min(width, x + side)) for y in ys for x in xs]


def _moved(face: DetectedFace, y0: int, x0: int) -> DetectedFace:
    landmarks = face.landmarks.copy()
    landmarks[:, 0] += x0
    landmarks[:, 1] += y0
    return DetectedFace(landmarks, face.pose, face.blendshapes)


def _unique(faces: list[DetectedFace]) -> list[DetectedFace]:
    kept: list[DetectedFace] = []
    for face in sorted(faces, key=lambda f: -f.area):
        if all(box_iou(face.box, other.box) < SAME_FACE_IOU for other in kept):
            kept.append(face)
    return kept


def detect_small_faces(detect: Callable[[np.ndarray], list[DetectedFace]], rgb: np.ndarray) -> list[DetectedFace]:
    """Faces the whole-frame pass missed in a large photo, in the photo's own coordinates."""
    height, width = rgb.shape[:2]
    if max(height, width) < MIN_PHOTO_SIDE:
        return []
    parts = 2
    while max(height, width) / parts >= MIN_CROP_SIDE:
        found = [_moved(face, y0, x0) for y0, x0, y1, x1 in crop_grid(height, width, parts)
                 for face in detect(np.ascontiguousarray(rgb[y0:y1, x0:x1]))]
        if found:
            return _unique(found)
        parts += 1 if parts < 4 else 2
    return []
