"""1:N matching of probes against a gallery matrix (Euclidean, exact, with BLAS)."""

import numpy as np


def pairwise_distances(probes: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """(P, G) Euclidean distances, via |a|^2 + |b|^2 - 2ab so the work is one matrix product."""
    if len(gallery) == 0 or len(probes) == 0:
        return np.empty((len(probes), len(gallery)), dtype=np.float32)
    squared = (np.einsum("ij,ij->i", probes, probes)[:, None] + np.einsum("ij,ij->i", gallery, gallery)[None, :]
               - 2.0 * probes @ gallery.T)
    return np.sqrt(np.maximum(squared, 0.0))


def nearest_person(probes: np.ndarray, gallery: np.ndarray, person_ids: np.ndarray) -> tuple[str | None, float]:
    """The person whose templates come closest to any probe, and that distance (None if empty)."""
    distances = pairwise_distances(probes, gallery)
    if distances.size == 0:
        return None, float("inf")
    row, column = np.unravel_index(int(np.argmin(distances)), distances.shape)
    return str(person_ids[column]), float(distances[row, column])


def nearest_other_person(probes: np.ndarray, gallery: np.ndarray, person_ids: np.ndarray,
                         exclude: str) -> tuple[str | None, float]:
    """nearest_person among everyone but `exclude`: the duplicate check of an enrollment."""
    others = person_ids != exclude
    return nearest_person(probes, gallery[others], person_ids[others]) if others.any() else (None, float("inf"))
