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

from kiosk.checksums import sha256_of
from kiosk.errors import ChecksumError, ModelError
from kiosk.manifest import (
    LIVENESS_MANIFEST,
    EmbedderManifest,
    LandmarkerManifest,
    LivenessManifest,
    embedder_manifest_names,
    load_embedder_manifest,
    load_landmarker_manifest,
    load_liveness_manifest,
    manifest_path,
)
from kiosk.paths import model_dir, samples_dir
from models.dlib_resnet_onnx import build_dlib_resnet
from models.manifest_edit import replace_list_item_field, replace_top_level
from models.minifasnet_onnx import build_minifasnet, load_state_dict
from models.quantize import quantize_descriptor
from models.registry import Package, fetch, load_packages, read_member
from models.sface_onnx import convert_sface
from models.tfjs_weights import load_tfjs_weights
from models.validate import validate_embedder

log = logging.getLogger(__name__)


def _convert_dlib_resnet_tfjs(members: dict[str, Path], manifest: EmbedderManifest) -> onnx.ModelProto:
    return build_dlib_resnet(load_tfjs_weights(members["manifest"]), manifest.input.size)


def _convert_sface_int8bq(members: dict[str, Path], manifest: EmbedderManifest) -> onnx.ModelProto:
    return convert_sface(members["model"].read_bytes())


CONVERTERS: dict[str, Callable[[dict[str, Path], EmbedderManifest], onnx.ModelProto]] = {
    "dlib_resnet_tfjs": _convert_dlib_resnet_tfjs,
    "sface_int8bq": _convert_sface_int8bq,
}


def _write_atomically(target: Path, data: bytes) -> None:
    """Write to a sibling temp file and rename, so a crash never leaves a half-written model."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=target.name, suffix=".tmp", delete=False) as tmp:
        tmp.write(data)
        tmp.flush()
        os.fsync(tmp.fileno())
    Path(tmp.name).replace(target)


def extract_members(package: Package, roles: dict[str, str], expected: dict[str, str], into: Path) -> dict[str, Path]:
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
        members = extract_members(packages[manifest.source.package], manifest.source.members,
                                   manifest.source.member_sha256, Path(scratch))
        _write_atomically(manifest.path, members["bundle"].read_bytes())
    return manifest.path


def _pin_mismatch(built: str, pinned: str, path: Path, model_id: str) -> ChecksumError:
    return ChecksumError(
        f"{model_id}: the build wrote {path} with SHA-256 {built}, but the manifest pins {pinned}. "
        f"A different onnx or onnxruntime release can write other bytes; if the known-answer check "
        f"should decide, rebuild with `python main.py models build --update-pin`."
    )


def _pin_check(built: str, pinned: str, path: Path, manifest_name: str, model_id: str, update_pin: bool, key: str,
               block) -> None:
    """Stop unless the built file has the pinned SHA-256; --update-pin records the new one instead."""
    if built == pinned:
        return
    if not update_pin:
        raise _pin_mismatch(built, pinned, path, model_id)
    replace_top_level(manifest_path(manifest_name), key, block)


def build_embedder(name: str, packages: dict[str, Package], update_pin: bool = False) -> str:
    """Convert (and quantise), pin-check and known-answer-check the descriptor; return its SHA-256."""
    manifest = load_embedder_manifest(name)
    converter = CONVERTERS.get(manifest.source.converter or "")
    if converter is None:
        raise ModelError(f"{manifest.id}: unknown converter {manifest.source.converter!r}; known: {sorted(CONVERTERS)}")
    converted = manifest.converted
    if not (converted.path.exists() and sha256_of(converted.path) == converted.sha256):
        with tempfile.TemporaryDirectory() as scratch:
            members = extract_members(packages[manifest.source.package], manifest.source.members,
                                       manifest.source.member_sha256, Path(scratch))
            _write_atomically(converted.path, converter(members, manifest).SerializeToString())
        built = sha256_of(converted.path)
        _pin_check(built, converted.sha256, converted.path, name, manifest.id, update_pin, "converted",
                   {"file": converted.file, "sha256": built})
        manifest = manifest.model_copy(update={"converted": converted.model_copy(update={"sha256": built})})
    if manifest.quantization and not (manifest.path.exists() and sha256_of(manifest.path) == manifest.sha256):
        with tempfile.TemporaryDirectory(dir=model_dir()) as scratch:
            quantized = Path(scratch) / manifest.file
            quantize_descriptor(converted.path, quantized, manifest.quantization)
            _write_atomically(manifest.path, quantized.read_bytes())
        built = sha256_of(manifest.path)
        _pin_check(built, manifest.sha256, manifest.path, name, manifest.id, update_pin, "sha256", built)
        manifest = manifest.model_copy(update={"sha256": built})
    elif not manifest.quantization:
        if manifest.file != converted.file:
            raise ModelError(f"{manifest.id}: without quantization, file must be the converted file {converted.file}")
        _pin_check(manifest.converted.sha256, manifest.sha256, manifest.path, name, manifest.id, update_pin,
                   "sha256", manifest.converted.sha256)
        manifest = manifest.model_copy(update={"sha256": manifest.converted.sha256})
    validate_embedder(manifest, packages)
    return manifest.sha256


def build_liveness(manifest: LivenessManifest, update_pin: bool = False) -> dict[str, str]:
    """Convert each passive anti-spoofing network from its pinned parameters; file -> SHA-256.

    The parameters live outside any registry (the shared models folder): a machine without them,
    or without PyTorch to read them, builds no passive cue, and a kiosk configured for one says so.
    """
    built = {}
    for network in manifest.networks:
        if network.path.exists() and sha256_of(network.path) == network.sha256:
            built[network.file] = network.sha256
            continue
        parameters = manifest.source.path / network.parameters
        if not parameters.exists():
            raise ModelError(f"{manifest.id}: {parameters} is missing (the shared models folder; "
                             f"FACEGATE_SHARED_MODELS points elsewhere)")
        actual = sha256_of(parameters)
        if actual != network.parameters_sha256:
            raise ChecksumError(f"{parameters} has SHA-256 {actual}, expected {network.parameters_sha256}")
        model = build_minifasnet(load_state_dict(parameters), manifest.input.size)
        _write_atomically(network.path, model.SerializeToString())
        sha = sha256_of(network.path)
        if sha != network.sha256:
            if not update_pin:
                raise _pin_mismatch(sha, network.sha256, network.path, manifest.id)
            replace_list_item_field(manifest_path(LIVENESS_MANIFEST), "file", network.file, "sha256", sha)
        built[network.file] = sha
    return built


SAMPLE_PREFIX = "face_recognition-1.3.0/tests/test_images/"
SAMPLE_PHOTOS = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")


def extract_samples(packages: dict[str, Package]) -> Path:
    """The sample photos `demo` enrolls and shows to its kiosk, out of the SHA-pinned package."""
    archive = fetch(packages["face-recognition-samples"])
    target = samples_dir()
    target.mkdir(parents=True, exist_ok=True)
    for name in SAMPLE_PHOTOS:
        _write_atomically(target / name, read_member(archive, SAMPLE_PREFIX + name))
    return target


def build_all(update_pin: bool = False) -> dict[str, str]:
    """Build every model (and extract the demo's sample photos); return model id -> built file's SHA-256."""
    packages = load_packages()
    log.info("sample photos ready at %s", extract_samples(packages))
    landmarker = load_landmarker_manifest()
    build_landmarker(landmarker, packages)
    log.info("%s ready at %s", landmarker.id, landmarker.path)
    built = {landmarker.id: landmarker.sha256}
    for name in embedder_manifest_names():  # the default and every other selectable descriptor
        embedder = load_embedder_manifest(name)
        built[embedder.id] = build_embedder(name, packages, update_pin)
        log.info("%s ready at %s", embedder.id, embedder.path)
    liveness = load_liveness_manifest()
    if not liveness.source.path.is_dir():
        log.warning("%s not built: %s is missing (FACEGATE_SHARED_MODELS); the texture liveness cue is "
                    "unavailable until it is (or set liveness.texture: false)", liveness.id, liveness.source.path)
        return built
    try:
        for file, sha in build_liveness(liveness, update_pin).items():
            built[f"{liveness.id}/{file}"] = sha
    except ModuleNotFoundError:
        log.warning("%s not built: reading its parameters needs PyTorch (pip install -e '.[train]'); "
                    "the texture liveness cue is unavailable", liveness.id)
    return built


def models_ready() -> bool:
    """True when every built model is in the cache with its pinned checksum (cheap enough for start-up)."""
    manifests = [load_landmarker_manifest(), *(load_embedder_manifest(name) for name in embedder_manifest_names())]
    return all(m.path.exists() and sha256_of(m.path) == m.sha256 for m in manifests)
