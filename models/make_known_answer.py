"""Record dlib's own descriptor for one real face chip as the embedder's known answer.

Needs the `reference` extra (dlib-bin, face-recognition-models): the original C++ implementation
of the same weights. Run once when the descriptor or its source changes:
    python -m models.make_known_answer
"""

import numpy as np
import yaml

from kiosk.recognition.alignment import FaceAligner
from kiosk.imageio import decode_image
from kiosk.recognition.landmarks import FaceLandmarkDetector
from kiosk.manifest import POINT_NAMES, AlignmentSpec, load_landmarker_manifest, manifest_path
from models.manifest_edit import replace_top_level
from models.registry import fetch, load_packages, read_member

SAMPLE_PACKAGE = "face-recognition-samples"
SAMPLE_MEMBER = "face_recognition-1.3.0/tests/test_images/obama.jpg"


def main() -> None:
    import cv2
    import dlib
    import face_recognition_models

    path = manifest_path("dlib_resnet_v1")
    raw = yaml.safe_load(path.read_text())
    landmarker_manifest = load_landmarker_manifest()
    photo = decode_image(read_member(fetch(load_packages()[SAMPLE_PACKAGE]), SAMPLE_MEMBER), SAMPLE_MEMBER)
    with FaceLandmarkDetector(landmarker_manifest) as detector:
        (face,) = detector.detect(photo)
    size = raw["input"]["size"]
    aligner = FaceAligner(AlignmentSpec.model_validate(raw["alignment"]), size, POINT_NAMES)
    indices = [landmarker_manifest.points[name] for name in POINT_NAMES]
    affine = np.round(aligner.transform(face.points(indices)), 6)
    chip = cv2.warpAffine(photo, affine, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    net = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
    expected = np.asarray(net.compute_face_descriptor(np.ascontiguousarray(chip)), dtype=np.float64)
    replace_top_level(path, "known_answer", {
        "package": SAMPLE_PACKAGE,
        "member": SAMPLE_MEMBER,
        "affine": affine.tolist(),
        "expected": [round(float(v), 6) for v in expected],
        "min_cosine": 0.999,
        "reference": f"dlib {dlib.__version__} face_recognition_model_v1",
    })
    print(f"recorded dlib's descriptor for {SAMPLE_MEMBER} in {path}")


if __name__ == "__main__":
    main()
