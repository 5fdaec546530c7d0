"""Frames for benchmarks and tests: a photo placed the way a door camera sees a face."""

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
