"""Frames for benchmarks, tests and the demo: a photo placed the way a door camera sees a face, and a
still photo presented as a video, moved by a small random affine each frame as a hand holding a
print or a phone would move it."""

import cv2
import numpy as np

FRAME_SIZE = (640, 480)


def door_frame(photo: np.ndarray) -> np.ndarray:
    """A 640x480 frame with the photo's face at a door camera's distance (photo scaled to the frame height)."""
    width, height = FRAME_SIZE
    scaled = cv2.resize(photo, (height * photo.shape[1] // photo.shape[0], height), interpolation=cv2.INTER_LINEAR)
    frame = np.full((height, width, 3), 96, dtype=np.uint8)
    x0 = (width - scaled.shape[1]) // 2
    frame[:, x0:x0 + scaled.shape[1]] = scaled[:, : width - x0]
    return frame


def jittered_frames(photo_rgb: np.ndarray, count: int, seed: int, size: tuple[int, int] = (640, 480),
                    max_degrees: float = 4.0, max_scale: float = 0.05, max_shift: float = 12.0) -> list[np.ndarray]:
    """`count` frames of the photo centred on a grey background, each moved by its own random affine."""
    rng = np.random.default_rng(seed)
    width, height = size
    canvas = np.full((height, width, 3), 96, np.uint8)
    scale = min(width / photo_rgb.shape[1], height / photo_rgb.shape[0]) * 0.9
    placed = cv2.resize(photo_rgb, None, fx=scale, fy=scale)
    top, left = (height - placed.shape[0]) // 2, (width - placed.shape[1]) // 2
    canvas[top:top + placed.shape[0], left:left + placed.shape[1]] = placed
    frames = []
    for _ in range(count):
        angle = rng.uniform(-max_degrees, max_degrees)
        zoom = 1 + rng.uniform(-max_scale, max_scale)
        matrix = np.asarray(cv2.getRotationMatrix2D((width / 2, height / 2), angle, zoom), dtype=np.float64)
        matrix[:, 2] += rng.uniform(-max_shift, max_shift, size=2)
        frames.append(cv2.warpAffine(canvas, matrix, (width, height), borderValue=(96, 96, 96)))
    return frames
