"""Files that hold faces or what identifies a face (clean embeddings, reconstructions of faces):
readable by their owner only, 0600 in 0700 folders, written whole or not at all."""

import io
import os
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np


def private_folder(path: Path) -> Path:
    """The folder, made if missing, closed to everyone but its owner (also if it existed before)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def _write_private(path: Path, data: bytes) -> None:
    private_folder(path.parent)
    descriptor, staged = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # made 0600
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(staged, path)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise


def save_private_npz(path: Path, **arrays: Any) -> None:
    """np.savez's arrays, 0600."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    _write_private(path, buffer.getvalue())


def save_private_image(path: Path, bgr: np.ndarray) -> None:
    ok, encoded = cv2.imencode(path.suffix or ".png", bgr)
    if not ok:
        raise ValueError(f"{path}: OpenCV could not encode the picture")
    _write_private(path, encoded.tobytes())
