"""Similarity alignment of named face points onto a chip template (dlib's get_face_chip, in numpy)."""

import cv2
import numpy as np

from kiosk.manifest import AlignmentSpec


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares rotation + uniform scale + translation (Umeyama, 1991) mapping source onto target.

    Returns the 2x3 matrix for cv2.warpAffine. Reflections are excluded, as a face cannot be mirrored.
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if source.shape != target.shape or source.ndim != 2 or source.shape[1] != 2 or len(source) < 2:
        raise ValueError(f"expected two (K, 2) point sets with K >= 2, got {source.shape} and {target.shape}")
    src_mean, dst_mean = source.mean(axis=0), target.mean(axis=0)
    src_c, dst_c = source - src_mean, target - dst_mean
    covariance = dst_c.T @ src_c / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(singular) @ sign) / src_c.var(axis=0).sum()
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


class FaceAligner:
    """Warps a face onto a chip template (the embedder manifest's, or the quality chip's).

    Large faces are first reduced with an area filter around the face, as dlib does, so that the
    bilinear warp does not alias: a 600 px face sampled straight to 150 px loses fine detail unevenly.
    """

    def __init__(self, alignment: AlignmentSpec, chip_size: int):
        self.chip_size = chip_size
        self.point_names = alignment.point_names
        given = np.array(list(alignment.template.values()), dtype=np.float64)
        if alignment.units == "pixels":
            self.template = given
        else:
            pad = alignment.padding
            self.template = (pad + given) / (2 * pad + 1) * chip_size

    def transform(self, points: np.ndarray) -> np.ndarray:
        """2x3 matrix that maps image coordinates of the named points onto the chip template."""
        return similarity_transform(points, self.template)

    def align(self, image: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Return the (S, S, 3) uint8 chip for a face whose alignment points are `points` (K, 2)."""
        matrix = self.transform(points)
        scale = float(np.hypot(matrix[0, 0], matrix[0, 1]))
        if scale < 0.5:
            image, matrix = self._reduce(image, matrix, scale)
        return cv2.warpAffine(image, matrix, (self.chip_size, self.chip_size),
                              flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)

    def _reduce(self, image: np.ndarray, matrix: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        """Crop the chip's footprint, shrink it with INTER_AREA to about twice the chip, adjust the matrix."""
        inverse = cv2.invertAffineTransform(matrix)
        corners = np.array([[0, 0], [self.chip_size, 0], [0, self.chip_size], [self.chip_size, self.chip_size]])
        footprint = corners @ inverse[:, :2].T + inverse[:, 2]
        height, width = image.shape[:2]
        x0, y0 = np.clip(np.floor(footprint.min(axis=0)).astype(int), 0, [width, height])
        x1, y1 = np.clip(np.ceil(footprint.max(axis=0)).astype(int), 0, [width, height])
        if x1 - x0 < 2 or y1 - y0 < 2:
            return image, matrix
        shrink = 2.0 * scale
        crop = image[y0:y1, x0:x1]
        reduced = cv2.resize(crop, (max(1, round((x1 - x0) * shrink)), max(1, round((y1 - y0) * shrink))),
                             interpolation=cv2.INTER_AREA)
        fx = reduced.shape[1] / crop.shape[1]
        fy = reduced.shape[0] / crop.shape[0]
        # image point p -> reduced point ((p - origin) * f); compose with the original mapping.
        to_reduced = np.array([[fx, 0, -x0 * fx], [0, fy, -y0 * fy], [0, 0, 1]])
        adjusted = np.vstack([matrix, [0, 0, 1]]) @ np.linalg.inv(to_reduced)
        return reduced, adjusted[:2]
