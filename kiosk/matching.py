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


class GalleryIndex:
    """The kiosk's 1:N search: exact Euclidean nearest template, by FAISS's flat L2 index.

    Exact, so no recall to trade; FAISS fuses the distance and the minimum over the whole matrix
    in SIMD code, where NumPy's matrix-vector product plus argmin reads the matrix twice (100k
    templates: 2.4 ms against 5.7 ms; 1M: 21 ms against 43 ms; `python main.py bench --part scale`).
    One probe at a time is searched on one thread: FAISS's OpenMP threads cost more than they save
    for a single query on two cores, and the worker's other stages need the cores.
    """

    def __init__(self, templates: np.ndarray, person_ids: np.ndarray):
        import faiss

        faiss.omp_set_num_threads(1)
        self.person_ids = person_ids
        self.dim = templates.shape[1] if templates.ndim == 2 and templates.size else 0
        self._index = faiss.IndexFlatL2(self.dim) if self.dim else None
        if self._index is not None:
            self._index.add(np.ascontiguousarray(templates, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.person_ids)

    def nearest(self, probes: np.ndarray) -> tuple[str | None, float]:
        """The person whose template comes closest to any probe, and that distance (None if empty)."""
        if self._index is None or len(probes) == 0:
            return None, float("inf")
        squared, rows = self._index.search(np.ascontiguousarray(probes, dtype=np.float32), 1)
        best = int(np.argmin(squared[:, 0]))
        return str(self.person_ids[rows[best, 0]]), float(np.sqrt(max(squared[best, 0], 0.0)))
