"""A still photo presented as a video: the photo moved by a small random affine jitter each frame,
as a hand holding a print or a phone would move it."""

import cv2
import numpy as np


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
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, zoom)
        matrix[:, 2] += rng.uniform(-max_shift, max_shift, size=2)
        frames.append(cv2.warpAffine(canvas, matrix, (width, height), borderValue=(96, 96, 96)))
    return frames
