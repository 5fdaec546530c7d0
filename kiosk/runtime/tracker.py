"""Faces followed across frames by the overlap of their boxes, so one visit is one track."""

from dataclasses import dataclass

from kiosk.recognition.faces import DetectedFace, box_iou


@dataclass
class Track:
    """Where a face is and when it was seen; what the kiosk knows of the person is its Visit's."""

    track_id: int
    box: tuple[float, float, float, float]
    last_seen_ms: int
    first_seen_ms: int = 0


class FaceTracker:
    """Greedy IoU matching; a track that is not seen for `timeout_ms` is over (the visit ended)."""

    def __init__(self, min_iou: float = 0.3, timeout_ms: int = 700):
        self.min_iou = min_iou
        self.timeout_ms = timeout_ms
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    def update(self, faces: list[DetectedFace], timestamp_ms: int) -> list[Track]:
        """The track of each face, in the order of `faces`; new faces start new tracks."""
        self.tracks = {tid: t for tid, t in self.tracks.items() if timestamp_ms - t.last_seen_ms <= self.timeout_ms}
        free = dict(self.tracks)
        assigned = []
        for face in faces:
            box = face.box
            best = max(free.values(), key=lambda t: box_iou(t.box, box), default=None)
            if best is not None and box_iou(best.box, box) >= self.min_iou:
                del free[best.track_id]
                track = best
            else:
                track = Track(self._next_id, box, timestamp_ms, first_seen_ms=timestamp_ms)
                self.tracks[track.track_id] = track
                self._next_id += 1
            track.box, track.last_seen_ms = box, timestamp_ms
            assigned.append(track)
        return assigned
