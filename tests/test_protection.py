"""The keyed layer: distances kept within a site, unrelated templates across sites, renewal without re-enrolling."""

import numpy as np
import pytest

from kiosk.errors import ProtectionError
from kiosk.protection import KeyedProtector, keyed_orthogonal_matrix


@pytest.fixture(scope="module")
def embeddings(pipeline, sample_photos) -> dict[str, np.ndarray]:
    return {n: pipeline.encode_one(rgb, n).embedding for n, rgb in sample_photos.items()}


def test_a_clean_probe_matches_its_protected_template_as_before(embeddings):
    site = KeyedProtector(b"site-a" * 6, 1, 128)
    template = site.protect(embeddings["obama"][None])[0]
    probe = site.probe_space(embeddings["obama2"][None])[0]
    assert np.linalg.norm(template - embeddings["obama"]) > 0.5, "the template must differ from the embedding"
    assert np.isclose(np.linalg.norm(probe - template), np.linalg.norm(embeddings["obama2"] - embeddings["obama"]), atol=1e-5)


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
    assert np.linalg.norm(probe - stored[0]) > 0.8 > 0.5 > np.linalg.norm(probe - renewed[0])


def test_the_keyed_matrix_is_orthogonal_and_fixed_by_the_secret():
    q = keyed_orthogonal_matrix(b"x" * 32, 1, 128)
    np.testing.assert_allclose(q @ q.T, np.eye(128), atol=1e-5)
    np.testing.assert_array_equal(q, keyed_orthogonal_matrix(b"x" * 32, 1, 128))
    with pytest.raises(ProtectionError, match="template secret is missing or too short"):
        keyed_orthogonal_matrix(b"", 1, 128)
