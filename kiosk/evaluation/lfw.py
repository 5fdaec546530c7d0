"""LFW verification (View 2, 10 folds) with the project's own detection, alignment and descriptor.

Every image of the 6,000 pairs goes through the real pipeline; a face that cannot be found is a
detection failure, and every pair that touches one is scored as an error (never dropped).
"""

import csv
import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from kiosk.errors import DatasetError, FacegateError
from kiosk.evaluation.metrics import (
    all_genuine_distances,
    cross_impostor_distances,
    roc_against_all_impostors,
    roc_summary,
    ten_fold_accuracy,
    threshold_at_fmr,
)
from kiosk.imageio import read_image
from kiosk.manifest import EMBEDDER_MANIFEST, EmbedderManifest, load_embedder_manifest, load_landmarker_manifest
from kiosk.paths import cache_dir
from kiosk.private_files import private_folder, save_private_npz
from kiosk.recognition.faces import central_face
from kiosk.recognition.matching import comparable
from kiosk.recognition.quality import FaceQuality

CACHE_VERSION = 3  # 3: the small-face pass on photos of any size; quality measures kept
OPERATING_FMRS = (1e-3, 1e-4, 1e-5, 1e-6)


@dataclass(frozen=True)
class LfwPairs:
    """pairs.csv as parallel arrays; image paths are relative to `root / "images"`."""

    root: Path
    img_a: np.ndarray
    img_b: np.ndarray
    same: np.ndarray
    fold: np.ndarray

    @classmethod
    def load(cls, root: Path) -> "LfwPairs":
        pairs_file = root / "pairs.csv"
        if not pairs_file.exists():
            raise DatasetError(
                f"{pairs_file} not found. LFW lives in ../shared/data/lfw next to the checkout; "
                f"pass --data to point elsewhere."
            )
        with open(pairs_file, newline="") as handle:
            rows = list(csv.DictReader(handle))
        expected = {"img_a", "img_b", "same", "fold"}
        if not rows or set(rows[0]) != expected:
            raise DatasetError(f"{pairs_file}: expected columns {sorted(expected)}")
        return cls(
            root,
            np.array([r["img_a"] for r in rows]),
            np.array([r["img_b"] for r in rows]),
            np.array([r["same"] == "1" for r in rows]),
            np.array([int(r["fold"]) for r in rows]),
        )

    @property
    def images(self) -> list[str]:
        return sorted(set(self.img_a) | set(self.img_b))

    def subset(self, count_per_fold: int) -> "LfwPairs":
        """The first pairs of each fold, half genuine and half impostor: a small real test set."""
        keep = np.zeros(len(self.same), dtype=bool)
        for fold in np.unique(self.fold):
            for label in (True, False):
                index = np.flatnonzero((self.fold == fold) & (self.same == label))[: count_per_fold // 2]
                keep[index] = True
        return LfwPairs(self.root, self.img_a[keep], self.img_b[keep], self.same[keep], self.fold[keep])


def identity_of(image: str) -> str:
    return image.split("/")[0]


_worker_pipeline = None


def _start_worker(embedder: str) -> None:
    global _worker_pipeline
    os.environ.setdefault("GLOG_minloglevel", "2")
    from kiosk.recognition.pipeline import FacePipeline

    _worker_pipeline = FacePipeline.from_manifests(provider="cpu", threads=1, embedder_name=embedder)


QUALITY_FIELDS = ("eye_distance_px", "sharpness", "brightness", "yaw_deg", "pitch_deg", "roll_deg")


def _encode_path(path: str) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None, str | None]:
    """Template and probe embeddings of the central face and its quality measures, or the reason
    there is none."""
    assert _worker_pipeline is not None, "called outside a worker started by _start_worker"
    try:
        encoded = _worker_pipeline.encode_one(read_image(path), path, select=central_face)
        quality = np.array([getattr(encoded.quality, name) for name in QUALITY_FIELDS], dtype=np.float32)
        return encoded.template, encoded.probe, quality, None
    except FacegateError as exc:
        return None, None, None, str(exc)


@dataclass
class EncodedSet:
    """Embeddings of a list of images, as an enrolled template and as a live probe (the manifest's
    mirror policy); rows of failed images are NaN and their reasons kept."""

    names: list[str]
    templates: np.ndarray
    probes: np.ndarray
    failures: dict[str, str] = field(default_factory=dict)
    quality: np.ndarray | None = None  # (N, len(QUALITY_FIELDS)) measures of each face, NaN where none

    def face_quality(self, row: int) -> FaceQuality:
        """The quality measures of one image's face, as the kiosk's gates read them."""
        assert self.quality is not None, "this set was encoded without quality measures"
        return FaceQuality(**{name: float(value) for name, value in zip(QUALITY_FIELDS, self.quality[row])})

    def index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}

    @property
    def ok(self) -> np.ndarray:
        return ~np.isnan(self.templates[:, 0])

    def comparable(self, metric: str) -> "EncodedSet":
        """The same set with descriptors as the metric compares them (unit length for cosine)."""
        return EncodedSet(self.names, comparable(self.templates, metric), comparable(self.probes, metric),
                          self.failures, self.quality)


def _cache_key(manifest: EmbedderManifest, names: list[str]) -> str:
    landmarker = load_landmarker_manifest()
    recipe = {
        "version": CACHE_VERSION,
        "landmarker": landmarker.sha256,
        "points": {name: landmarker.points[name] for name in manifest.alignment.point_names},
        "embedder": manifest.sha256,
        "mirror": manifest.mirror_average.model_dump(),
        "alignment": manifest.alignment.model_dump(),
        "images": hashlib.sha256("\n".join(names).encode()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def encode_lfw(pairs: LfwPairs, embedder: str = EMBEDDER_MANIFEST, workers: int = 2, use_cache: bool = True) -> EncodedSet:
    """Embed every image of the pairs, in worker processes, caching the result by model and recipe."""
    return encode_images(pairs.root / "images", pairs.images, embedder, workers, use_cache, "LFW images")


def encode_images(root: Path, names: list[str], embedder: str = EMBEDDER_MANIFEST, workers: int = 2,
                  use_cache: bool = True, label: str = "images") -> EncodedSet:
    """Embed the central face of each image under `root` (raw descriptors; failures kept with reasons)."""
    manifest = load_embedder_manifest(embedder)
    cache_file = cache_dir() / "eval" / f"{root.parent.name}_{_cache_key(manifest, names)}.npz"
    if use_cache and cache_file.exists():
        private_folder(cache_file.parent)  # caches of earlier versions were written world-readable
        cache_file.chmod(0o600)
        stored = np.load(cache_file, allow_pickle=False)
        return EncodedSet(names, stored["templates"], stored["probes"],
                          dict(zip(stored["failed_names"].tolist(), stored["failed_reasons"].tolist())),
                          stored["quality"])
    templates = np.full((len(names), manifest.dim), np.nan, dtype=np.float32)
    probes = templates.copy()
    quality = np.full((len(names), len(QUALITY_FIELDS)), np.nan, dtype=np.float32)
    failures: dict[str, str] = {}
    paths = [str(root / name) for name in names]
    with ProcessPoolExecutor(max_workers=workers, initializer=_start_worker, initargs=(embedder,)) as pool:
        results = pool.map(_encode_path, paths, chunksize=16)
        for row, (template, probe, measures, reason) in enumerate(tqdm(results, total=len(paths), desc=label, unit="img",
                                                             mininterval=5)):
            if template is None:
                failures[names[row]] = reason or "unknown"
            else:
                templates[row], probes[row], quality[row] = template, probe, measures
    save_private_npz(cache_file, templates=templates, probes=probes, quality=quality,
                     failed_names=np.array(list(failures), dtype=str),
                     failed_reasons=np.array(list(failures.values()), dtype=str))  # clean embeddings: owner only
    return EncodedSet(names, templates, probes, failures, quality)


@dataclass(frozen=True)
class LfwReport:
    """Everything `eval lfw` prints, as data."""

    pairs: int
    images: int
    detection_failures: int
    pairs_with_failure: int
    accuracy_mean: float
    accuracy_std: float
    accuracy_per_fold: list[float]
    roc_auc: float
    tar_at_far_1e3: float
    tar_at_far_1e2: float
    fmr_threshold: float
    target_fmr: float
    impostor_pairs_for_threshold: int
    tar_at_fmr_threshold: float
    operating_points: dict[float, float]
    genuine_pairs_all: int
    tar_all_pairs: dict[float, float]  # FMR -> TAR over every genuine pair among the images
    failed_images: dict[str, str]

    def to_dict(self) -> dict:
        return asdict(self)


def pair_distances(pairs: LfwPairs, encoded: EncodedSet) -> tuple[np.ndarray, np.ndarray]:
    """Distances of every pair (the first image enrolled, the second as the live probe), and which
    pairs touch a detection failure (scored as errors)."""
    index = encoded.index()
    a = encoded.templates[[index[n] for n in pairs.img_a]]
    b = encoded.probes[[index[n] for n in pairs.img_b]]
    distances = np.linalg.norm(a - b, axis=1)
    failed = np.isnan(distances)
    # A failed pair is scored wrong whatever the threshold: genuine as far apart, impostor as identical.
    worst = float(np.nanmax(distances)) + 1.0 if (~failed).any() else 1.0
    distances[failed & pairs.same] = worst
    distances[failed & ~pairs.same] = 0.0
    return distances, failed


RocCurves = dict[str, tuple[np.ndarray, np.ndarray]]


def evaluate(pairs: LfwPairs, encoded: EncodedSet, target_fmr: float) -> tuple[LfwReport, RocCurves]:
    """The report plus ROC curves (FAR, TAR) for plotting: against the 3,000 impostor pairs of the
    protocol, and against every impostor pair among the images (which resolves FAR 1e-3 and below):
    every probe of one person against every template of another."""
    distances, failed = pair_distances(pairs, encoded)
    folds = ten_fold_accuracy(distances, pairs.same, pairs.fold)
    roc = roc_summary(distances, pairs.same)
    ok = encoded.ok
    identities = np.array([identity_of(n) for n in encoded.names])
    impostors = cross_impostor_distances(encoded.probes[ok], encoded.templates[ok], identities[ok])
    threshold = threshold_at_fmr(impostors, target_fmr)
    genuine = distances[pairs.same]
    every_genuine = all_genuine_distances(encoded.templates, encoded.probes, identities)
    operating_points = {fmr: threshold_at_fmr(impostors, fmr) for fmr in OPERATING_FMRS if fmr * len(impostors) >= 1}
    report = LfwReport(
        pairs=len(pairs.same),
        images=len(encoded.names),
        detection_failures=len(encoded.failures),
        pairs_with_failure=int(failed.sum()),
        accuracy_mean=folds.mean,
        accuracy_std=folds.std,
        accuracy_per_fold=folds.per_fold,
        roc_auc=roc.auc,
        tar_at_far_1e3=roc.tar_at(1e-3),
        tar_at_far_1e2=roc.tar_at(1e-2),
        fmr_threshold=threshold,
        target_fmr=target_fmr,
        impostor_pairs_for_threshold=len(impostors),
        tar_at_fmr_threshold=float(np.mean(genuine < threshold)),
        operating_points=operating_points,
        genuine_pairs_all=len(every_genuine),
        tar_all_pairs={fmr: float(np.mean(every_genuine < value)) for fmr, value in operating_points.items()},
        failed_images=encoded.failures,
    )
    curves = {
        f"protocol pairs (AUC {roc.auc:.4f})": (roc.far, roc.tar),
        f"genuine pairs vs all {len(impostors):,} impostor pairs": roc_against_all_impostors(genuine, impostors),
    }
    return report, curves
