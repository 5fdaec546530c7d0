"""Record a reference implementation's output for one real face chip as an embedder's known answer.

    python -m models.make_known_answer dlib_resnet_v1   # dlib's own C++ (needs the `reference` extra)
    python -m models.make_known_answer sface_2021dec    # OpenCV's cv2.FaceRecognizerSF on the shipped file

Run once when the descriptor, its source or its alignment changes. The chip is the pinned sample
photo aligned by the engine's own landmarker and the manifest's template; its affine is recorded
so that a build can cut the same chip without the landmarker.
"""

import argparse

import cv2
import numpy as np

from kiosk.imageio import decode_image
from kiosk.manifest import KnownAnswer, load_embedder_manifest, manifest_path
from kiosk.recognition.pipeline import FacePipeline
from models.manifest_edit import replace_top_level
from models.registry import fetch, load_packages, read_member

SAMPLE_PACKAGE = "face-recognition-samples"
SAMPLE_MEMBER = "face_recognition-1.3.0/tests/test_images/obama.jpg"


def _dlib_reference(chip: np.ndarray) -> tuple[np.ndarray, str]:
    import dlib
    import face_recognition_models

    net = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
    return (np.asarray(net.compute_face_descriptor(np.ascontiguousarray(chip)), dtype=np.float64),
            f"dlib {dlib.__version__} face_recognition_model_v1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("embedder", help="embedder manifest name")
    name = parser.parse_args().embedder
    manifest = load_embedder_manifest(name)
    packages = load_packages()
    photo = decode_image(read_member(fetch(packages[SAMPLE_PACKAGE]), SAMPLE_MEMBER), SAMPLE_MEMBER)
    with FacePipeline.from_manifests(provider="cpu", embedder_name=name) as pipeline:
        (face,) = pipeline.detector.detect(photo)
        points = pipeline.layout.points(face.landmarks, pipeline.aligner.point_names)
        affine = np.round(pipeline.aligner.transform(points), 6)
    size = manifest.input.size
    chip = cv2.warpAffine(photo, affine, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    answer = KnownAnswer.model_validate(manifest.known_answer.model_dump() | {
        "package": SAMPLE_PACKAGE, "member": SAMPLE_MEMBER, "affine": affine.tolist()})
    if answer.live_reference == "opencv_face_recognizer_sf":
        from models.validate import opencv_sface_reference

        expected = opencv_sface_reference(manifest.model_copy(update={"known_answer": answer}), packages)
        reference = f"OpenCV {cv2.__version__} cv2.FaceRecognizerSF on the shipped file"
    else:
        expected, reference = _dlib_reference(chip)
    replace_top_level(manifest_path(name), "known_answer", answer.model_dump(mode="json") | {
        "expected": [round(float(v), 6) for v in expected], "reference": reference})
    print(f"recorded {reference}'s descriptor for {SAMPLE_MEMBER} in {manifest_path(name)}")


if __name__ == "__main__":
    main()
