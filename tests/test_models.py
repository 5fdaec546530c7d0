"""Model provenance: pinned bytes, a reproducible conversion, and clear errors when something is off."""

import shutil

import numpy as np
import pytest

from kiosk.checksums import sha256_of
from kiosk.errors import ChecksumError, ModelError, ModelFetchError
from kiosk.manifest import embedder_manifest_names, load_embedder_manifest, load_landmarker_manifest
from models.registry import Package, fetch, load_packages
from models.tfjs_weights import load_tfjs_weights
from models.validate import validate_embedder


def test_built_models_carry_their_pinned_checksums(models_built):
    embedders = [load_embedder_manifest(name) for name in embedder_manifest_names()]
    for manifest in (load_landmarker_manifest(), *embedders):
        assert sha256_of(manifest.path) == manifest.sha256


@pytest.mark.parametrize("name", embedder_manifest_names())
def test_converted_and_quantised_descriptors_reproduce_their_reference_on_a_real_face(models_built, name):
    """dlib's own C++ for dlib's descriptor; OpenCV's FaceRecognizerSF, run live, for SFace."""
    manifest = load_embedder_manifest(name)
    cosines = validate_embedder(manifest, load_packages())
    assert cosines[manifest.converted.file] >= 0.999
    assert cosines[manifest.file] >= manifest.quantization.min_cosine >= 0.98
    if manifest.known_answer.live_reference:
        assert cosines["live reference"] >= 0.9999


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """A cache of its own holding a copy of the built models, so tests can damage it."""
    from kiosk.paths import model_dir

    source = model_dir()
    monkeypatch.setenv("FACEGATE_CACHE", str(tmp_path / "cache"))
    shutil.copytree(source, model_dir())
    return model_dir()


def test_a_tampered_model_is_refused_with_a_clear_error(models_built, private_cache):
    from kiosk.recognition.embedder import OnnxEmbedder

    manifest = load_embedder_manifest()
    data = bytearray(manifest.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    manifest.path.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=rf"{manifest.id}: .* has SHA-256 .*expected .*models build"):
        OnnxEmbedder(manifest, provider="cpu")


def test_missing_npm_is_named_with_what_to_do(private_cache, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    package = Package("x", "npm", "@vladmandic/face-api@0.0.0", "not-cached.tgz", "0" * 64)
    with pytest.raises(ModelFetchError, match=r"npm is needed .*apt-get install npm.* into .*cache/downloads by hand"):
        fetch(package)


def test_a_cached_download_with_wrong_bytes_is_refused(private_cache):
    from kiosk.paths import download_dir

    package = load_packages()["face-api"]
    download_dir().mkdir(parents=True, exist_ok=True)
    (download_dir() / package.filename).write_bytes(b"not the pinned tarball")
    with pytest.raises(ChecksumError, match="face-api@1.7.15.*delete it"):
        fetch(package)


def test_truncated_tfjs_weights_are_refused(tmp_path):
    manifest = tmp_path / "weights_manifest.json"
    manifest.write_text('[{"paths": ["w.bin"], "weights": [{"name": "fc", "shape": [4, 2], "dtype": "float32"}]}]')
    (tmp_path / "w.bin").write_bytes(np.zeros(5, dtype=np.float32).tobytes())
    with pytest.raises(ModelError, match="tensor fc needs bytes 0..32"):
        load_tfjs_weights(manifest)


def test_quantised_tfjs_weights_are_dequantised(tmp_path):
    manifest = tmp_path / "weights_manifest.json"
    manifest.write_text('[{"paths": ["w.bin"], "weights": [{"name": "b", "shape": [3], "dtype": "float32", '
                        '"quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}}]}]')
    (tmp_path / "w.bin").write_bytes(bytes([0, 2, 10]))
    np.testing.assert_allclose(load_tfjs_weights(manifest)["b"], [-1.0, 0.0, 4.0])
