"""1:N matching of probes against a gallery matrix (Euclidean, exact, with BLAS)."""

from collections import Counter
from typing import Any

import numpy as np


def comparable(embeddings: np.ndarray, metric: str) -> np.ndarray:
    """Descriptors as their manifest's metric compares them: unit vectors for "cosine" (the L2
    distance between unit vectors is sqrt(2 - 2 cos), so thresholds stay distances), raw otherwise."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if metric != "cosine":
        return embeddings
    return embeddings / np.linalg.norm(embeddings, axis=-1, keepdims=True)


def descriptor_distance(template: np.ndarray, probe: np.ndarray, metric: str) -> float:
    """Distance of one template and one probe under their manifest's metric."""
    return float(np.linalg.norm(comparable(template, metric) - comparable(probe, metric)))


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


class GalleryIndex:
    """The kiosk's 1:N search: exact Euclidean nearest template, by FAISS's flat L2 index.

    Exact, so no recall to trade; FAISS fuses the distance and the minimum over the whole matrix
    in SIMD code, where NumPy's matrix-vector product plus argmin reads the matrix twice (100k
    templates: 2.4 ms against 5.7 ms; 1M: 21 ms against 43 ms; `python main.py bench --part scale`).
    One probe at a time is searched on one thread: FAISS's OpenMP threads cost more than they save
    for a single query on two cores, and the worker's other stages need the cores.
    """

    def __init__(self, templates: np.ndarray, person_ids):
        self._index: Any = None  # a faiss.IndexFlatL2, made by the first add with the templates' dimension
        self._ids: list[str] = []
        self._counts: Counter[str] = Counter()
        self.add(templates, person_ids)

    def add(self, templates: np.ndarray, person_ids) -> None:
        """Append templates (a gallery apply adds each person as it is checked, without copying)."""
        if len(person_ids) == 0:
            return
        if self._index is None:
            import faiss

            faiss.omp_set_num_threads(1)
            self._index = faiss.IndexFlatL2(templates.shape[1])
        self._index.add(np.ascontiguousarray(templates, dtype=np.float32))
        self._ids += [str(person_id) for person_id in person_ids]
        self._counts.update(self._ids[-len(person_ids):])

    def __len__(self) -> int:
        return len(self._ids)

    def nearest(self, probes: np.ndarray) -> tuple[str | None, float]:
        """The person whose template comes closest to any probe, and that distance (None if empty)."""
        return self.nearest_other(probes, None)

    def nearest_other(self, probes: np.ndarray, exclude: str | None) -> tuple[str | None, float]:
        """`nearest`, skipping one person's own templates (the duplicate check of an enrollment):
        searching one row more than that person has guarantees someone else among the answers."""
        own = self._counts.get(exclude, 0) if exclude is not None else 0
        others = len(self._ids) - own
        if not others or len(probes) == 0:
            return None, float("inf")
        squared, rows = self._index.search(np.ascontiguousarray(probes, dtype=np.float32),
                                           own + 1)
        best_id, best = None, float("inf")
        for probe_squared, probe_rows in zip(squared, rows):
            for value, row in zip(probe_squared, probe_rows):
                if row >= 0 and self._ids[row] != exclude:
                    if value < best:
                        best_id, best = self._ids[row], float(value)
                    break
        return best_id, float(np.sqrt(max(best, 0.0)))
