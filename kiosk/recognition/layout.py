"""Named places on a landmarker's face mesh, read from its manifest: the engine holds no mesh index.

A point is the mean of one or more landmarks (an eye centre is the midpoint of its corners); a
contour is an ordered set (the six points round an eye for its aspect ratio); blendshapes are
named by role (blink_left) and mapped to the landmarker's own category names.
"""

import numpy as np

from kiosk.errors import ModelError
from kiosk.manifest import LandmarkerManifest


class LandmarkLayout:
    """Looks up named points and contours in (K, 2+) landmark arrays of one landmarker."""

    def __init__(self, manifest: LandmarkerManifest):
        self.manifest = manifest
        self._points = {name: np.asarray(indices, dtype=np.intp) for name, indices in manifest.points.items()}
        self._contours = {name: np.asarray(indices, dtype=np.intp) for name, indices in manifest.contours.items()}

    def _indices(self, table: dict[str, np.ndarray], name: str, kind: str) -> np.ndarray:
        try:
            return table[name]
        except KeyError:
            raise ModelError(f"{self.manifest.id}: its manifest names no {kind} {name!r}; "
                             f"known: {', '.join(sorted(table))}") from None

    def point(self, landmarks: np.ndarray, name: str) -> np.ndarray:
        """(2,) image position of a named point."""
        return landmarks[self._indices(self._points, name, "point"), :2].mean(axis=0)

    def points(self, landmarks: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
        """(K, 2) image positions of named points, in the order given."""
        return np.stack([self.point(landmarks, name) for name in names])

    def contour(self, landmarks: np.ndarray, name: str) -> np.ndarray:
        """(K, 2) image positions of a named contour's landmarks, in their order."""
        return landmarks[self._indices(self._contours, name, "contour"), :2]

    def require(self, points: tuple[str, ...] = (), contours: tuple[str, ...] = ()) -> None:
        """Fail at start-up, naming what is missing, rather than on the first face."""
        for name in points:
            self._indices(self._points, name, "point")
        for name in contours:
            self._indices(self._contours, name, "contour")

    def blendshape(self, blendshapes: dict[str, float] | None, role: str) -> float:
        """The score of a blendshape by its role (0 where the landmarker gave none)."""
        if not blendshapes:
            return 0.0
        return blendshapes.get(self.manifest.blendshapes.get(role, role), 0.0)
