"""Depth from motion in the image itself: does one plane explain how the face's surface moved?

The landmarker fits a 3D face to whatever it sees, so a flat picture turned far enough gets landmarks
that look like a turned head (a cut-out print worn over a face, turned 20 degrees, left a landmark
residual as large as a live turn's). The pixels cannot pretend: points on a flat print move exactly
as one homography moves them, while on a head the nose, cheeks and jaw move apart (parallax). So
corners on the face's surface, away from the eyes and the mouth (which show through the holes of a
cut-out and move by themselves), are tracked from the visit's first frame with optical flow, checked
forwards and backwards, and when the head has turned, the homography that best maps the first
positions onto the current ones says how much the surface moved out of one plane.
"""

import cv2
import numpy as np

from kiosk.recognition.layout import LandmarkLayout

# parts that move by themselves or show through a cut-out's holes, each left out as its hull grown this much
HOLES = {"left_eye_lids": 1.8, "right_eye_lids": 1.8, "lips": 1.3}
MAX_CORNERS = 150
MIN_TRACKS = 12        # fewer surviving points than this: no reading
ROUND_TRIP_PX = 1.0    # a point tracked forwards and back must land within this of where it started
WINDOW, LEVELS = (21, 21), 3  # optical flow: window and pyramid levels


def grown_hull_mask(shape: tuple[int, ...], points: np.ndarray, growth: float) -> np.ndarray:
    """A mask of the points' convex hull grown `growth` times about their centre."""
    centre = points.mean(axis=0)
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull((centre + (points - centre) * growth).astype(np.int32)), 255)
    return mask


class SurfaceMotion:
    """Corners of one face's surface, tracked from the first frame it is fed."""

    def __init__(self, layout: LandmarkLayout):
        layout.require(points=("right_eye", "left_eye"), contours=tuple(HOLES))
        self.layout = layout
        self._previous: np.ndarray | None = None
        self._start = np.empty((0, 2), np.float32)  # where the surviving points were in the first frame
        self._now = np.empty((0, 2), np.float32)    # where they are now

    def update(self, rgb: np.ndarray, landmarks: np.ndarray) -> None:
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if self._previous is None:
            self._start = self._now = self._corners(gray, landmarks)
        elif len(self._now):
            forward, found, _ = cv2.calcOpticalFlowPyrLK(self._previous, gray, self._now.reshape(-1, 1, 2), None,
                                                         winSize=WINDOW, maxLevel=LEVELS)
            back, found_back, _ = cv2.calcOpticalFlowPyrLK(gray, self._previous, forward, None,
                                                           winSize=WINDOW, maxLevel=LEVELS)
            kept = ((found.ravel() == 1) & (found_back.ravel() == 1)
                    & (np.linalg.norm(back.reshape(-1, 2) - self._now, axis=1) < ROUND_TRIP_PX))
            self._start, self._now = self._start[kept], forward.reshape(-1, 2)[kept]
        self._previous = gray

    def _corners(self, gray: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Corners inside the face, away from the eyes and the mouth."""
        points = landmarks[:, :2]
        mask = grown_hull_mask(gray.shape, points, 1.0)
        for part, growth in HOLES.items():
            mask[grown_hull_mask(gray.shape, self.layout.contour(landmarks, part), growth) > 0] = 0
        eyes = self.layout.points(landmarks, ("right_eye", "left_eye"))
        spacing = max(3.0, float(np.linalg.norm(eyes[1] - eyes[0])) / 12)
        corners = cv2.goodFeaturesToTrack(gray, MAX_CORNERS, 0.01, spacing, mask=mask)
        return np.empty((0, 2), np.float32) if corners is None else corners.reshape(-1, 2).astype(np.float32)

    def read(self, rgb: np.ndarray, landmarks: np.ndarray) -> float | None:
        """Track this frame, then what one plane leaves of the surface's motion, in this face's eye distances."""
        self.update(rgb, landmarks)
        right_eye, left_eye = self.layout.points(landmarks, ("right_eye", "left_eye"))
        return self.residual(float(np.linalg.norm(left_eye - right_eye)))

    def residual(self, eye_distance: float) -> float | None:
        """Median distance, in eye distances, between where the surface points are and where the best
        plane (a homography from the first frame) puts them; None with too few points left."""
        if len(self._now) < MIN_TRACKS or eye_distance <= 0:
            return None
        start, now = self._start.astype(np.float64), self._now.astype(np.float64)
        plane, _ = cv2.findHomography(start, now, 0)
        if plane is None:
            return None
        mapped = cv2.perspectiveTransform(start[None], plane)[0]
        return float(np.median(np.linalg.norm(mapped - now, axis=1))) / eye_distance
