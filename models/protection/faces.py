"""Face sets for training and judging protection: aligned 64x64 faces with their clean embeddings.

Training pool: UTKFace plus LFW identities that appear in no evaluation pair. Evaluation set: the
LFW images of the 6,000 pairs. No attacker ever trains on an evaluation identity.
"""

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from kiosk.errors import FacegateError
from kiosk.evaluation.lfw import LfwPairs, identity_of
from kiosk.imageio import read_image
from kiosk.paths import cache_dir, shared_data_dir
from kiosk.private_files import save_private_npz
from kiosk.recognition.faces import central_face

FACE_SIZE = 64


FIELDS = ("faces", "templates", "probes", "identities", "names")


@dataclass(frozen=True)
class FaceSet:
    faces: np.ndarray        # (N, 64, 64, 3) uint8 RGB, aligned like the descriptor's chips
    templates: np.ndarray    # (N, D) float32 clean embeddings as enrolled (the manifest's mirror policy)
    probes: np.ndarray       # (N, D) float32 clean embeddings as a live probe would give them
    identities: np.ndarray   # (N,) str; UTKFace images are their own identity
    names: np.ndarray        # (N,) str, relative image names

    def subset(self, mask: np.ndarray) -> "FaceSet":
        return FaceSet(*(getattr(self, name)[mask] for name in FIELDS))


_pipeline = None


def _start(embedder: str) -> None:
    global _pipeline
    os.environ.setdefault("GLOG_minloglevel", "2")
    from kiosk.recognition.pipeline import FacePipeline

    _pipeline = FacePipeline.from_manifests(provider="cpu", threads=1, embedder_name=embedder)


def _encode(path: str):
    try:
        rgb = read_image(path)
        encoded = _pipeline.encode_one(rgb, path, select=central_face)
    except FacegateError:
        return None
    face = cv2.resize(encoded.chip, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)
    return face, encoded.template, encoded.probe


def _build(paths: list[Path], names: list[str], identities: list[str], label: str, workers: int,
           embedder: str) -> FaceSet:
    found, keep = [], []
    with ProcessPoolExecutor(workers, initializer=_start, initargs=(embedder,)) as pool:
        results = pool.map(_encode, [str(p) for p in paths], chunksize=32)
        for index, result in enumerate(tqdm(results, total=len(paths), desc=label, unit="img", mininterval=5)):
            if result is not None:
                found.append(result)
                keep.append(index)
    faces, templates, probes = (np.stack(column) for column in zip(*found))
    return FaceSet(faces, templates.astype(np.float32), probes.astype(np.float32),
                   np.array([identities[i] for i in keep]), np.array([names[i] for i in keep]))


def load_face_sets(embedder: str, workers: int = 2) -> tuple[FaceSet, FaceSet]:
    """(training pool, evaluation set) for one descriptor, built once and cached next to the models."""
    cached = cache_dir() / "protection" / f"faces_{embedder}.npz"
    if cached.exists():
        data = np.load(cached, allow_pickle=False)
        return tuple(FaceSet(*(data[f"{part}_{key}"] for key in FIELDS)) for part in ("train", "eval"))
    data_root = shared_data_dir()
    lfw, utk = data_root / "lfw", data_root / "utkface" / "images"
    if not lfw.exists() or not utk.exists():
        raise FacegateError(f"training faces are missing: expected {lfw} and {utk} (../shared/data)")
    pairs = LfwPairs.load(lfw)
    evaluated = sorted(pairs.images)
    evaluated_people = {identity_of(n) for n in evaluated}
    train_lfw = sorted(f"{p.name}/{f.name}" for p in (lfw / "images").iterdir() if p.is_dir()
                       and p.name not in evaluated_people for f in p.glob("*.jpg"))
    train_utk = sorted(p.name for p in utk.glob("*.jpg"))
    train = _build([lfw / "images" / n for n in train_lfw] + [utk / n for n in train_utk],
                   train_lfw + train_utk, [identity_of(n) for n in train_lfw] + train_utk, "training faces", workers,
                   embedder)
    evaluation = _build([lfw / "images" / n for n in evaluated], evaluated, [identity_of(n) for n in evaluated],
                        "evaluation faces", workers, embedder)
    save_private_npz(cached, **{f"{part}_{key}": getattr(face_set, key)  # faces and clean embeddings: owner only
                                for part, face_set in (("train", train), ("eval", evaluation))
                                for key in FIELDS})
    return train, evaluation
