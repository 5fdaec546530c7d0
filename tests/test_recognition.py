"""The recognition core on real faces: same person closer than different people, batching, quality."""

import cv2
import numpy as np
import pytest

from kiosk.imageio import read_image
from kiosk.recognition.matching import descriptor_distance
from kiosk.recognition.quality import QualityGates, QualityProblem
from tests.conftest import lfw_photo


def test_same_person_is_closer_than_different_people(pipeline, sample_photos):
    faces = {name: pipeline.encode_one(rgb, name) for name, rgb in sample_photos.items()}
    metric = pipeline.manifest.metric
    def distance(enrolled, probe):
        return descriptor_distance(faces[enrolled].template, faces[probe].probe, metric)
    same = [distance(a, b) for a, b in [("obama", "obama2"), ("obama", "obama3"), ("obama2", "obama3")]]
    different = [distance(o, "biden") for o in ("obama", "obama2", "obama3")]
    threshold = pipeline.manifest.threshold.value
    assert max(same) < threshold < min(different), (same, different)


def test_lfw_pairs_are_told_apart_at_the_calibrated_threshold(pipeline, lfw_dir):
    from kiosk.evaluation.lfw import LfwPairs
    from kiosk.recognition.faces import central_face

    pairs = LfwPairs.load(lfw_dir).subset(6)  # 60 real pairs, half genuine, from all ten folds
    def embed(name):
        return pipeline.encode_one(read_image(lfw_dir / "images" / name), name, select=central_face)
    metric = pipeline.manifest.metric
    distances = np.array([descriptor_distance(embed(a).template, embed(b).probe, metric)
                          for a, b in zip(pairs.img_a, pairs.img_b)])
    correct = (distances < pipeline.manifest.threshold.value) == pairs.same
    assert correct.mean() >= 0.9, f"{correct.sum()} of {len(correct)} pairs decided correctly"
    assert distances[pairs.same].mean() + 0.2 < distances[~pairs.same].mean()


def test_batched_embeddings_equal_one_at_a_time(pipeline, sample_photos):
    chips = np.stack([pipeline.encode_one(rgb, n).chip for n, rgb in sample_photos.items()])
    batched = pipeline.embedder.embed(chips, "template", batch_size=4)
    single = np.stack([pipeline.embedder.embed(chip[None], "template")[0] for chip in chips])
    np.testing.assert_allclose(batched, single, atol=1e-4)


def test_mirror_averaged_templates_are_symmetric(pipeline, sample_photos):
    chip = pipeline.encode_one(sample_photos["obama"], "obama").chip
    both = pipeline.embedder.embed(np.stack([chip, np.ascontiguousarray(chip[:, ::-1])]), "template")
    np.testing.assert_allclose(both[0], both[1], atol=1e-4)


@pytest.mark.parametrize(
    "degrade, problem",
    [
        (lambda rgb: cv2.GaussianBlur(rgb, (0, 0), 6), QualityProblem.BLURRED),
        (lambda rgb: cv2.resize(rgb, None, fx=0.2, fy=0.2, interpolation=cv2.INTER_AREA), QualityProblem.TOO_SMALL),
        (lambda rgb: (rgb * 0.12).astype(np.uint8), QualityProblem.TOO_DARK),
    ],
)
def test_quality_gates_name_what_is_wrong(pipeline, lfw_dir, degrade, problem):
    rgb = read_image(lfw_photo(lfw_dir, "Colin_Powell", 2))
    sharp = pipeline.encode_one(cv2.resize(rgb, None, fx=2, fy=2), "original")
    assert sharp.quality.problems(QualityGates()) == []
    degraded = pipeline.encode_one(np.ascontiguousarray(degrade(cv2.resize(rgb, None, fx=2, fy=2))), "degraded")
    assert problem in degraded.quality.problems(QualityGates())


def test_head_turn_is_measured(pipeline, sample_photos):
    frontal = pipeline.encode_one(sample_photos["obama"], "obama").quality
    turned = pipeline.encode_one(sample_photos["obama2"], "obama2").quality
    assert abs(frontal.yaw_deg) < 5 < abs(turned.yaw_deg)


def test_a_small_face_in_a_large_photo_is_found_on_a_second_pass_and_matches(pipeline, lfw_dir):
    """An HR photo of the whole person: the face is 160 px of a 4000 px frame, which the
    whole-frame pass (the detector sees 128x128) misses."""
    face = cv2.resize(read_image(lfw_photo(lfw_dir, "Colin_Powell", 1)), None, fx=0.64, fy=0.64)
    rng = np.random.default_rng(0)
    photo = cv2.GaussianBlur(rng.integers(60, 200, (3000, 4000, 3), dtype=np.uint8), (0, 0), 9)
    photo[1900:1900 + face.shape[0], 2600:2600 + face.shape[1]] = face
    assert pipeline.detector.detect(photo) == []
    found = pipeline.detect_photo(photo)
    assert len(found) == 1
    x0, y0, x1, y1 = found[0].box
    assert 2600 < x0 < x1 < 2600 + face.shape[1] and 1900 < y0 < y1 < 1900 + face.shape[0]
    enrolled = pipeline.encode_one(photo, "whole person").template
    metric, threshold = pipeline.manifest.metric, pipeline.manifest.threshold.value
    same = pipeline.encode_one(read_image(lfw_photo(lfw_dir, "Colin_Powell", 3)), "Powell 3").probe
    other = pipeline.encode_one(read_image(lfw_photo(lfw_dir, "Tony_Blair", 1)), "Blair").probe
    assert descriptor_distance(enrolled, same, metric) < threshold < descriptor_distance(enrolled, other, metric)


@pytest.mark.parametrize("face_px, photo_px", [(40, 1000), (24, 640)])
def test_a_small_face_in_a_photo_of_any_size_is_found(pipeline, lfw_dir, face_px, photo_px):
    """A full-body photo: the face is a few dozen pixels wide, too small for the whole-frame pass;
    before, photos under 960 px never had a second pass (24 px in 640 px was missed)."""
    portrait = read_image(lfw_photo(lfw_dir, "Colin_Powell", 1))
    width = pipeline.encode_one(portrait, "portrait").face.box
    scale = face_px / (width[2] - width[0])
    face = cv2.resize(portrait, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(1)
    photo = cv2.GaussianBlur(rng.integers(60, 200, (photo_px * 3 // 4, photo_px, 3), dtype=np.uint8), (0, 0), 5)
    top, left = photo_px * 3 // 8, photo_px * 5 // 8
    photo[top:top + face.shape[0], left:left + face.shape[1]] = face
    assert pipeline.detector.detect(photo) == []
    found = pipeline.detect_photo(photo)
    assert len(found) == 1
    x0, y0, x1, y1 = found[0].box
    assert left < x0 < x1 < left + face.shape[1] and top < y0 < y1 < top + face.shape[0]
    assert 0.75 * face_px < x1 - x0 < 1.4 * face_px, f"box {x1 - x0:.0f} px wide for a {face_px} px face"
