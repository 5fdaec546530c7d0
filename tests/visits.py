"""Videos of visits made from real LFW photos: each visit holds one photo in front of the camera,
then the doorway is empty long enough for the visit to end."""

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kiosk.bench.frames import door_frame
from kiosk.imageio import read_image

FPS = 15


@dataclass(frozen=True)
class Visit:
    photo: Path
    seconds: float = 1.6


def write_visits_video(path: Path, visits: list[Visit], gap_seconds: float = 2.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (640, 480))
    empty = np.full((480, 640, 3), 96, dtype=np.uint8)
    for visit in visits:
        frame = cv2.cvtColor(door_frame(read_image(visit.photo)), cv2.COLOR_RGB2BGR)
        for _ in range(int(visit.seconds * FPS)):
            writer.write(frame)
        for _ in range(int(gap_seconds * FPS)):
            writer.write(empty)
    writer.release()
    return path
