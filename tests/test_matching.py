"""1:N search: the kiosk's FAISS index answers exactly what brute force does, and the threshold
follows the gallery's size."""

import numpy as np
import pytest

from kiosk.bench.scale import synthetic_embeddings
from kiosk.manifest import load_embedder_manifest, load_protector_for
from kiosk.protection import protector_for
from kiosk.recognition.matching import GalleryIndex, nearest_person, pairwise_distances
from kiosk.runtime.decisions import threshold_for_gallery
from kiosk.store.keys import KioskSecrets
from tests.conftest import lfw_photo

PEOPLE = ("Colin_Powell", "Tony_Blair", "Serena_Williams", "Gerhard_Schroeder", "Jennifer_Aniston")


def test_the_gallery_index_finds_exactly_what_brute_force_finds(pipeline, lfw_dir):
    enrolled = np.stack([pipeline.encode_one(_read(lfw_dir, p, 1), p).template for p in PEOPLE])
    probes = np.stack([pipeline.encode_one(_read(lfw_dir, p, 2), p).probe for p in PEOPLE])
    unit = enrolled / np.linalg.norm(enrolled, axis=1, keepdims=True)
    rng = np.random.default_rng(3)
    crowds = {"random faces": rng.standard_normal((20_000, unit.shape[1])).astype(np.float32),
              # crowded round the five people: near ties that only an exact search resolves like brute force
              "look-alikes": synthetic_embeddings(np.concatenate([unit, unit + 0.05]), 20_000, rng)}
    protector = protector_for(KioskSecrets.generate(), pipeline.manifest, provider="cpu")
    for crowd_name, crowd in crowds.items():
        templates = protector.protect(np.concatenate([enrolled, crowd]))
        ids = np.array([*PEOPLE, *(f"other-{i}" for i in range(len(crowd)))], dtype=object)
        index = GalleryIndex(templates, ids)
        for person, probe in zip(PEOPLE, protector.probe_space(probes)):
            found, distance = index.nearest(probe[None])
            expected, expected_distance = nearest_person(probe[None], templates, ids)
            assert (found, round(distance, 4)) == (expected, round(expected_distance, 4)), crowd_name
            if crowd_name == "random faces":
                assert found == person and distance < protector.threshold.value
            # the duplicate check: the nearest template of anyone but this person
            other, other_distance = index.nearest_other(probe[None], person)
            others = ids != person
            expected, expected_distance = nearest_person(probe[None], templates[others], ids[others])
            assert (other, round(other_distance, 4)) == (expected, round(expected_distance, 4))
    assert GalleryIndex(np.empty((0, 0), np.float32), np.array([], dtype=object)).nearest(probes[:1]) == (None, float("inf"))


def test_the_threshold_tightens_with_the_templates_and_stops_at_the_strictest_calibrated_point():
    spec = load_protector_for(load_embedder_manifest()).threshold
    small = threshold_for_gallery(spec, 0.1, 200, 4)       # needs FMR 1.25e-4: the 1e-4 point
    large = threshold_for_gallery(spec, 0.1, 200, 100_000)  # needs 5e-9: beyond calibration
    assert small == spec.at_fmr(1e-4) < spec.value
    assert large == spec.at_fmr(min(spec.operating_points)) < small


def _read(lfw_dir, person, number):
    from kiosk.imageio import read_image

    return read_image(lfw_photo(lfw_dir, person, number))


def _unit(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_a_gallery_whose_people_are_more_alike_than_the_calibration_tightens_the_thresholds():
    """Reference: template pairs of faces spread as the calibration's; a site whose faces share more
    (the same camera, pose and light every day) sits closer together and is tightened by the gap;
    a site like the calibration is not; a handful of people resolve nothing; nothing loosens."""
    from kiosk.manifest import ThresholdSpec
    from kiosk.recognition.gallery_tail import gallery_tail

    rng = np.random.default_rng(5)
    calibration = _unit(rng.standard_normal((3000, 32)))
    distances = pairwise_distances(calibration, calibration)[np.triu_indices(3000, 1)]
    points = {fmr: float(np.quantile(distances, fmr)) for fmr in (1e-2, 5e-3, 2e-3, 1e-3)}
    reference = ThresholdSpec(value=points[1e-2], target_fmr=1e-2, operating_points=points)
    common = rng.standard_normal(32)

    def site(people: int, shared: float) -> tuple[np.ndarray, np.ndarray]:
        faces = _unit(shared * common / np.linalg.norm(common) + _unit(rng.standard_normal((people, 32))))
        twice = np.concatenate([faces, _unit(faces + 0.05 * rng.standard_normal(faces.shape))])  # two templates each
        return twice, np.array([f"p{i}" for i in range(people)] * 2, dtype=object)

    alike = gallery_tail(*site(300, 0.6), reference)
    assert alike.fmr == 1e-3 and alike.pairs == 2 * 300 * 299 and alike.shift > 0.1
    assert alike.shift == pytest.approx(points[1e-3] - alike.local)
    assert "tightened by" in alike.describe()
    spread = gallery_tail(*site(300, 0.0), reference)
    assert spread.fmr == 1e-3 and spread.shift < 0.02
    few = gallery_tail(*site(12, 0.6), reference)
    assert few.fmr is None and few.shift == 0 and "too few" in few.describe()
    assert gallery_tail(*site(300, 0.6), None).shift == 0
