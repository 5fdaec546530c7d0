"""The keyed layer: distances kept within a site, unrelated templates across sites, renewal without re-enrolling."""

import numpy as np
import pytest

from kiosk.errors import ProtectionError
from kiosk.manifest import load_embedder_manifest
from kiosk.protection import KeyedProtector, keyed_orthogonal_matrix
from kiosk.recognition.matching import comparable


@pytest.fixture(scope="module")
def embeddings(pipeline, sample_photos) -> dict[str, np.ndarray]:
    """Templates as the descriptor's metric compares them (unit length for a cosine descriptor)."""
    return {n: comparable(pipeline.encode_one(rgb, n).template, pipeline.manifest.metric)
            for n, rgb in sample_photos.items()}


def test_a_clean_probe_matches_its_protected_template_as_before(embeddings):
    site = KeyedProtector(b"site-a" * 6, 1, 128)
    template = site.protect(embeddings["obama"][None])[0]
    probe = site.probe_space(embeddings["obama2"][None])[0]
    assert np.linalg.norm(template - embeddings["obama"]) > 0.5, "the template must differ from the embedding"
    assert np.isclose(np.linalg.norm(probe - template), np.linalg.norm(embeddings["obama2"] - embeddings["obama"]),
                      atol=1e-5)


def test_two_sites_hold_unrelated_templates_of_the_same_person(embeddings):
    a, b = KeyedProtector(b"site-a" * 6, 1, 128), KeyedProtector(b"site-b" * 6, 1, 128)
    same_person_across_sites = np.linalg.norm(a.protect(embeddings["obama"][None]) - b.protect(embeddings["obama2"][None]))
    strangers = np.linalg.norm(embeddings["obama"] - embeddings["biden"])
    assert same_person_across_sites > strangers


def test_renewal_moves_templates_to_the_new_secret_without_the_clean_embedding(embeddings):
    old, new = KeyedProtector(b"k" * 32, 1, 128), KeyedProtector(b"k" * 32, 2, 128)
    stored = old.protect(np.stack([embeddings["obama"], embeddings["biden"]]))
    renewed = old.renew(stored, new)
    np.testing.assert_allclose(renewed, new.protect(np.stack([embeddings["obama"], embeddings["biden"]])), atol=1e-5)
    probe = new.probe_space(embeddings["obama2"][None])
    threshold = load_embedder_manifest().threshold.value  # the clean 1:1 threshold: the keyed layer keeps distances
    assert np.linalg.norm(probe - stored[0]) > threshold > np.linalg.norm(probe - renewed[0])


def test_the_keyed_matrix_is_orthogonal_and_fixed_by_the_secret():
    q = keyed_orthogonal_matrix(b"x" * 32, 1, 128)
    np.testing.assert_allclose(q @ q.T, np.eye(128), atol=1e-5)
    np.testing.assert_array_equal(q, keyed_orthogonal_matrix(b"x" * 32, 1, 128))
    with pytest.raises(ProtectionError, match="template secret is missing or too short"):
        keyed_orthogonal_matrix(b"", 1, 128)


@pytest.fixture(scope="module")
def onnx_protector_factory(models_built):
    from kiosk.protection import protector_for
    from kiosk.store.keys import KioskSecrets

    def make(secret: bytes, version: int = 1):
        return protector_for(KioskSecrets(b"d" * 32, secret, version), load_embedder_manifest(), provider="cpu")
    return make


def test_the_onnx_protector_moves_the_template_yet_it_matches_its_owner(onnx_protector_factory, embeddings):
    from kiosk.manifest import load_protector_for

    site = onnx_protector_factory(b"site-a" * 6)
    budget = load_protector_for(load_embedder_manifest()).noise_budget
    stored = site.protect(np.stack([embeddings["obama"], embeddings["biden"]]))
    unkeyed = stored @ keyed_orthogonal_matrix(b"site-a" * 6, 1, 128)  # stored = P(e) Q^T, Q orthogonal
    unit = embeddings["obama"] / np.linalg.norm(embeddings["obama"])
    noise = np.linalg.norm(unkeyed[0] - unit)
    assert noise == pytest.approx(budget, rel=0.25), "the adversarial noise has its configured size"
    assert np.allclose(np.linalg.norm(stored, axis=1), 1.0, atol=1e-5), "templates are unit length"
    probe = site.probe_space(embeddings["obama2"][None])[0]
    threshold = site.threshold.value
    assert np.linalg.norm(probe - stored[0]) < threshold < np.linalg.norm(probe - stored[1])


def test_two_sites_onnx_templates_are_unrelated_and_a_wrong_secret_does_not_match(onnx_protector_factory, embeddings):
    a, b = onnx_protector_factory(b"site-a" * 6), onnx_protector_factory(b"site-b" * 6)
    threshold = a.threshold.value
    same_person_across_sites = np.linalg.norm(a.protect(embeddings["obama"][None]) - b.protect(embeddings["obama"][None]))
    # unit templates of unrelated directions lie about sqrt(2) apart, far past the match threshold
    assert threshold < same_person_across_sites and abs(same_person_across_sites - np.sqrt(2)) < 0.3
    assert np.linalg.norm(b.probe_space(embeddings["obama2"][None]) - a.protect(embeddings["obama"][None])) > threshold
    with pytest.raises(ProtectionError, match="template secret is missing or too short"):
        onnx_protector_factory(b"")


def test_a_store_refuses_a_template_secret_that_is_not_its_own(tmp_path):
    from kiosk.errors import SecretsError
    from kiosk.store.gallery import GalleryStore
    from kiosk.store.keys import KioskSecrets

    keys = KioskSecrets.generate()
    GalleryStore.open(tmp_path / "g.db", keys, create=True).close()
    swapped = KioskSecrets(keys.database_key, b"another secret entirely, 32 byte")
    with pytest.raises(SecretsError, match="template secret is not the one this store"):
        GalleryStore.open(tmp_path / "g.db", swapped)


def test_known_people_reveal_the_site_s_keyed_layer_but_not_sealed_templates():
    """Attack A3 on made-up faces: with 200 known people, Procrustes learns the one site-wide matrix and
    re-identifies the others; each template under its own sealed map gives it nothing to learn."""
    from kiosk.evaluation.known_people import TARGETS, known_people_attack
    from kiosk.store.seal import TemplateSeal

    rng = np.random.default_rng(11)
    people = TARGETS + 300
    faces = rng.standard_normal((people, 32))
    public = (faces + 0.3 * rng.standard_normal(faces.shape)).astype(np.float32)
    keyed = KeyedProtector(b"k" * 32, 1, 32).protect((faces + 0.3 * rng.standard_normal(faces.shape)).astype(np.float32))
    sealed = TemplateSeal(b"k" * 32, 1).seal(keyed, TemplateSeal.new_salts(people))
    rows = known_people_attack(public, {"keyed layer": keyed, "sealed": sealed}, threshold=0.6, seed=1,
                               known_counts=(0, 200))
    rank1 = {(r.protection, r.fit, r.known): r.rank1 for r in rows}
    assert rank1[("keyed layer", "procrustes", 0)] < 0.02 < 0.9 < rank1[("keyed layer", "procrustes", 200)]
    assert rank1[("sealed", "procrustes", 200)] < 0.02 and rank1[("sealed", "regression", 200)] < 0.02
