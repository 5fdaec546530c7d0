"""Videos of visits made from real LFW photos: each visit holds one photo in front of the camera,
then the doorway is empty long enough for the visit to end; as a file, or as a network camera."""

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


class MjpegCamera:
    """A network camera on loopback (MJPEG over HTTP, in real time) that can be unplugged and plugged
    back; it shows each (JPEG, seconds) of its scene in turn, round and round, to every viewer."""

    def __init__(self, scene: list[tuple[bytes, float]], port: int, fps: int = 15):
        self.port, self.serving = port, False
        camera = self
        frames = [jpeg for jpeg, seconds in scene for _ in range(max(1, round(seconds * fps)))]

        class Stream(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    index = 0
                    while camera.serving:
                        jpeg = frames[index % len(frames)]
                        index += 1
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                                         % len(jpeg) + jpeg + b"\r\n")
                        time.sleep(1 / fps)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self._handler = Stream

    def plug(self) -> None:
        self.serving = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def unplug(self) -> None:
        self.serving = False
        self.server.shutdown()
        self.server.server_close()
