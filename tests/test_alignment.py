"""Alignment: the similarity fit is exact on synthetic points, and real faces land on the template."""

import numpy as np
import pytest

from kiosk.imageio import read_image
from kiosk.recognition.alignment import similarity_transform
from kiosk.recognition.faces import central_face


@pytest.mark.parametrize(
    "angle_deg, scale, shift",
    [(0.0, 1.0, (0.0, 0.0)), (17.0, 0.4, (12.0, -30.0)), (-45.0, 2.5, (-100.0, 7.5)), (180.0, 1.0, (3.0, 3.0))],
)
def test_similarity_transform_recovers_a_known_motion(angle_deg, scale, shift):
    rng = np.random.default_rng(0)
    source = rng.uniform(0, 200, size=(5, 2))
    angle = np.radians(angle_deg)
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = source @ rotation.T + shift
    matrix = similarity_transform(source, target)
    np.testing.assert_allclose(matrix[:, :2], rotation, atol=1e-9)
    np.testing.assert_allclose(matrix[:, 2], shift, atol=1e-7)


def test_similarity_transform_rejects_mismatched_points():
    with pytest.raises(ValueError, match=r"expected two \(K, 2\) point sets"):
        similarity_transform(np.zeros((5, 2)), np.zeros((4, 2)))


def test_frontal_faces_put_their_eyes_on_the_template(pipeline, lfw_dir):
    """Re-detect the landmarks on each chip: alignment is judged by where the face really ends up.

    A 5-point least-squares fit shares its error between the eyes and the nose or mouth (whose
    place differs from face to face): dlib's eye corners sit a median 2.5% of the eye distance off,
    SFace's irises (ArcFace's template, with the mouth) 5%; a wrong template, a mirrored mapping or
    a bad scale puts them 15% or more off.
    """
    names = pipeline.aligner.point_names
    eyes = [i for i, name in enumerate(names) if "eye" in name or "iris" in name]
    template = pipeline.aligner.template[eyes]
    eye_span = float(np.ptp(template[:, 0]))
    people = sorted(p for p in (lfw_dir / "images").iterdir() if p.is_dir())[::97][:60]
    offsets = []
    for person in people:
        rgb = read_image(sorted(person.glob("*.jpg"))[0])
        face = central_face(pipeline.detector.detect(rgb), rgb.shape)
        if face is None:
            continue
        aligned = pipeline.align(rgb, face)
        if abs(aligned.quality.yaw_deg) > 10 or abs(aligned.quality.pitch_deg) > 10:
            continue
        on_chip = central_face(pipeline.detector.detect(np.ascontiguousarray(aligned.chip)), aligned.chip.shape)
        found = pipeline.layout.points(on_chip.landmarks, tuple(names[i] for i in eyes))
        offsets.append(np.linalg.norm(found - template, axis=1) / eye_span)
    offsets = np.concatenate(offsets)
    assert len(offsets) >= len(eyes) * 15, "too few frontal faces to judge"
    assert np.median(offsets) < 0.06 and np.percentile(offsets, 90) < 0.10, np.percentile(offsets, [50, 90, 100])
