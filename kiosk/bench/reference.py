"""Side by side with face_recognition (dlib), what most open face-door projects use today.

Same photos, same process, interleaved: time per face from the decoded photo to the descriptor
(face_recognition: HOG detector upsampled once, 5-point landmarks, dlib's ResNet, its defaults;
facegate: MediaPipe landmarks, 5-point alignment, the int8 ONNX descriptor with mirror averaging).
Accuracy: LFW 10-fold on the same pairs, the central face of each photo, a missed face an error.
"""

import hashlib
import importlib.util
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from kiosk.errors import FacegateError
from kiosk.evaluation.lfw import EncodedSet, LfwPairs, encode_lfw, evaluate
from kiosk.imageio import read_image
from kiosk.manifest import load_embedder_manifest
from kiosk.paths import cache_dir
from kiosk.private_files import save_private_npz
from kiosk.recognition.faces import central_face

INSTALL = ".venv/bin/pip install -e '.[bench]' && .venv/bin/pip install --no-deps face_recognition==1.3.0"


def require_face_recognition() -> None:
    if importlib.util.find_spec("face_recognition") is None or importlib.util.find_spec("dlib") is None:
        raise FacegateError(f"the side-by-side benchmark needs face_recognition and dlib: {INSTALL}")
    # face-recognition-models finds its files through pkg_resources and says so on every import
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")


def face_recognition_descriptor(rgb: np.ndarray) -> np.ndarray | None:
    """face_recognition's descriptor of the face nearest the photo's centre, with its defaults."""
    import face_recognition

    locations = face_recognition.face_locations(rgb)
    if not locations:
        return None
    middle = np.array([rgb.shape[0] / 2, rgb.shape[1] / 2])
    top, right, bottom, left = min(locations, key=lambda b: np.linalg.norm(
        np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]) - middle))
    return face_recognition.face_encodings(rgb, [(top, right, bottom, left)])[0].astype(np.float32)


def _encode_reference(path: str) -> np.ndarray | None:
    return face_recognition_descriptor(read_image(path))


def encode_lfw_reference(pairs: LfwPairs, workers: int = 2) -> EncodedSet:
    """face_recognition's descriptors of every image of the pairs, cached like facegate's own."""
    names = pairs.images
    key = hashlib.sha256(("face_recognition 1.3.0 hog|" + "\n".join(names)).encode()).hexdigest()[:16]
    cache_file = cache_dir() / "eval" / f"lfw_face_recognition_{key}.npz"
    if cache_file.exists():
        stored = np.load(cache_file)
        embeddings = stored["embeddings"]
    else:
        embeddings = np.full((len(names), 128), np.nan, dtype=np.float32)
        paths = [str(pairs.root / "images" / name) for name in names]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for row, descriptor in enumerate(tqdm(pool.map(_encode_reference, paths, chunksize=8), total=len(paths),
                                                  desc="face_recognition on LFW", unit="img")):
                if descriptor is not None:
                    embeddings[row] = descriptor
        save_private_npz(cache_file, embeddings=embeddings)
    failures = {name: "no face found" for name, row in zip(names, embeddings) if np.isnan(row[0])}
    return EncodedSet(names, embeddings, embeddings, failures)  # one descriptor per image: templates are probes


def time_per_face(photos: list[Path], passes: int = 2) -> dict[str, list[float]]:
    """Milliseconds per photo for both, interleaved photo by photo so the machine's noise hits both."""
    from kiosk.recognition.pipeline import FacePipeline

    decoded = [read_image(p) for p in photos]
    times: dict[str, list[float]] = {"facegate": [], "face_recognition": []}
    with FacePipeline.from_manifests(provider="cpu") as pipeline:
        for rgb in decoded[:3]:  # warm-up
            pipeline.encode_one(rgb, "warm-up", select=central_face)
            face_recognition_descriptor(rgb)
        for _ in range(passes):
            for rgb in decoded:
                started = time.perf_counter()
                try:
                    pipeline.encode_one(rgb, "photo", select=central_face)
                except FacegateError:
                    pass
                times["facegate"].append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                face_recognition_descriptor(rgb)
                times["face_recognition"].append((time.perf_counter() - started) * 1000)
    return times


def reference_report(lfw_root: Path, pairs_per_fold: int, photos: list[Path]) -> tuple[dict, list[str]]:
    require_face_recognition()
    times = time_per_face(photos)
    pairs = LfwPairs.load(lfw_root)
    pairs = pairs.subset(pairs_per_fold) if pairs_per_fold < 600 else pairs
    ours = evaluate(pairs, encode_lfw(LfwPairs.load(lfw_root)).comparable(load_embedder_manifest().metric), 1e-3)[0]
    theirs = evaluate(pairs, encode_lfw_reference(pairs), 1e-3)[0]  # face_recognition compares raw L2 (0.6)
    median = {name: float(np.median(values)) for name, values in times.items()}
    p95 = {name: float(np.percentile(values, 95)) for name, values in times.items()}
    data = {"ms_per_face_median": median, "ms_per_face_p95": p95, "speedup": median["face_recognition"] / median["facegate"],
            "lfw_pairs": len(pairs.same),
            "accuracy": {"facegate": ours.accuracy_mean, "face_recognition": theirs.accuracy_mean},
            "detection_failures": {"facegate": ours.pairs_with_failure, "face_recognition": theirs.pairs_with_failure}}
    lines = [f"side by side with face_recognition 1.3.0 (dlib {_dlib_version()}), same process, "
             f"{len(photos)} LFW photos x 2:",
             f"  {'':<18} {'ms/face median':>15} {'p95':>8} {'LFW 10-fold':>12} {'pairs with a missed face':>26}",
             f"  {'facegate':<18} {median['facegate']:>15.1f} {p95['facegate']:>8.1f} {100 * ours.accuracy_mean:>11.2f}% "
             f"{ours.pairs_with_failure:>26}",
             f"  {'face_recognition':<18} {median['face_recognition']:>15.1f} {p95['face_recognition']:>8.1f} "
             f"{100 * theirs.accuracy_mean:>11.2f}% {theirs.pairs_with_failure:>26}",
             f"  facegate is {data['speedup']:.1f}x faster per face; accuracy ratio "
             f"{ours.accuracy_mean / theirs.accuracy_mean:.3f} "
             f"on {len(pairs.same)} LFW pairs"]
    return data, lines


def _dlib_version() -> str:
    import dlib

    return dlib.__version__
