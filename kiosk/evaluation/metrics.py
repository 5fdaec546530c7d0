"""Verification metrics over distances (lower = more alike): 10-fold accuracy, ROC, FMR thresholds."""

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve


def best_threshold(distances: np.ndarray, same: np.ndarray) -> float:
    """The threshold (distance < t means same) that maximises accuracy on these pairs."""
    order = np.argsort(distances, kind="stable")
    sorted_d, sorted_same = distances[order], same[order].astype(np.int64)
    # Accepting the first i pairs: correct = genuine among them + impostors after them.
    genuine_accepted = np.concatenate([[0], np.cumsum(sorted_same)])
    impostors_after = (len(sorted_same) - sorted_same.sum()) - np.concatenate([[0], np.cumsum(1 - sorted_same)])
    best = int(np.argmax(genuine_accepted + impostors_after))
    if best == 0:
        return float(sorted_d[0]) - 1e-6
    if best == len(sorted_d):
        return float(sorted_d[-1]) + 1e-6
    return float((sorted_d[best - 1] + sorted_d[best]) / 2)


@dataclass(frozen=True)
class FoldAccuracy:
    mean: float
    std: float
    per_fold: list[float]
    thresholds: list[float]


def ten_fold_accuracy(distances: np.ndarray, same: np.ndarray, folds: np.ndarray) -> FoldAccuracy:
    """LFW protocol: the threshold is chosen on nine folds and tested on the tenth, for each fold."""
    accuracies, thresholds = [], []
    for fold in np.unique(folds):
        test = folds == fold
        threshold = best_threshold(distances[~test], same[~test])
        accuracies.append(float(np.mean((distances[test] < threshold) == same[test].astype(bool))))
        thresholds.append(threshold)
    return FoldAccuracy(float(np.mean(accuracies)), float(np.std(accuracies)), accuracies, thresholds)


@dataclass(frozen=True)
class RocSummary:
    auc: float
    far: np.ndarray
    tar: np.ndarray

    def tar_at(self, far: float) -> float:
        """Highest true accept rate whose false accept rate does not exceed `far`."""
        allowed = self.far <= far
        return float(self.tar[allowed].max()) if allowed.any() else 0.0


def roc_summary(distances: np.ndarray, same: np.ndarray) -> RocSummary:
    scores = -distances
    far, tar, _ = roc_curve(same, scores)
    return RocSummary(float(roc_auc_score(same, scores)), far, tar)


def threshold_at_fmr(impostor_distances: np.ndarray, fmr: float) -> float:
    """Largest threshold whose false match rate (impostor distance < t) is at most `fmr`."""
    count = int(np.floor(fmr * len(impostor_distances)))
    if count < 1:
        raise ValueError(f"{len(impostor_distances)} impostor pairs are too few to set FMR {fmr}")
    smallest = np.partition(impostor_distances, count)[: count + 1]
    smallest.sort()
    return float(smallest[count])


def all_impostor_distances(embeddings: np.ndarray, identities: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Euclidean distances of every pair of rows with different identities (float32, chunked)."""
    squares = np.einsum("ij,ij->i", embeddings, embeddings)
    collected = []
    for start in range(0, len(embeddings), chunk):
        block = embeddings[start:start + chunk]
        d2 = squares[start:start + chunk, None] + squares[None, :] - 2 * block @ embeddings.T
        rows = np.arange(start, start + len(block))[:, None]
        upper = np.arange(len(embeddings))[None, :] > rows
        impostor = upper & (identities[start:start + chunk, None] != identities[None, :])
        collected.append(np.sqrt(np.maximum(d2[impostor], 0)).astype(np.float32))
    return np.concatenate(collected)


def all_genuine_distances(templates: np.ndarray, probes: np.ndarray, identities: np.ndarray) -> np.ndarray:
    """Distances from every probe to every template of the same identity but another image (row);
    a pair with a failed (NaN) row is infinitely far, so it counts as a miss at any threshold
    instead of being dropped."""
    collected = []
    for identity in np.unique(identities):
        rows = np.flatnonzero(identities == identity)
        if len(rows) < 2:
            continue
        distances = np.linalg.norm(probes[rows][:, None, :] - templates[rows][None, :, :], axis=-1)
        distances = distances[~np.eye(len(rows), dtype=bool)]
        collected.append(np.where(np.isnan(distances), np.inf, distances).astype(np.float32))
    return np.concatenate(collected) if collected else np.empty(0, dtype=np.float32)


def cross_impostor_distances(probes: np.ndarray, templates: np.ndarray, identities: np.ndarray,
                             chunk: int = 1024) -> np.ndarray:
    """Distances from every probe to every template of another identity (probe and template sets differ)."""
    squares = np.einsum("ij,ij->i", templates, templates)
    collected = []
    for start in range(0, len(probes), chunk):
        block = probes[start:start + chunk]
        d2 = np.einsum("ij,ij->i", block, block)[:, None] + squares[None, :] - 2 * block @ templates.T
        impostor = identities[start:start + chunk, None] != identities[None, :]
        collected.append(np.sqrt(np.maximum(d2[impostor], 0)).astype(np.float32))
    return np.concatenate(collected)


def roc_against_all_impostors(genuine: np.ndarray, impostors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FAR, TAR) at every genuine distance, FAR measured on a large impostor set (smooth at low FAR)."""
    thresholds = np.sort(genuine)
    far = np.searchsorted(np.sort(impostors), thresholds, side="left") / len(impostors)
    tar = np.arange(1, len(thresholds) + 1) / len(thresholds)
    return far, tar
