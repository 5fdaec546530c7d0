"""ONNX face descriptor: aligned chips in, one embedding per chip out, in batches."""

from typing import Literal

import numpy as np

from kiosk.checksums import verify_sha256
from kiosk.errors import ModelError
from kiosk.manifest import EmbedderManifest, InputSpec
from kiosk.providers import ProviderChoice, active_provider, create_session

Role = Literal["template", "probe"]


def preprocess_chips(chips: np.ndarray, spec: InputSpec) -> np.ndarray:
    """(N, S, S, 3) RGB uint8 chips -> the network's normalised float32 tensor, as the manifest says."""
    if chips.ndim != 4 or chips.shape[1:] != (spec.size, spec.size, 3) or chips.dtype != np.uint8:
        raise ValueError(f"expected RGB uint8 chips of shape (N, {spec.size}, {spec.size}, 3), "
                         f"got {chips.dtype} {chips.shape}")
    if spec.pixel_format == "BGR":
        chips = chips[..., ::-1]
    tensor = (chips.astype(np.float32) - np.asarray(spec.mean, dtype=np.float32)) * np.float32(spec.scale)
    return np.ascontiguousarray(tensor.transpose(0, 3, 1, 2)) if spec.layout == "NCHW" else tensor


class OnnxEmbedder:
    """Runs the descriptor named by a manifest; preprocessing comes from the manifest alone."""

    def __init__(self, manifest: EmbedderManifest, provider: ProviderChoice = "auto", threads: int = 0):
        if not manifest.path.exists():
            raise ModelError(f"{manifest.path} is missing; run `python main.py models build` first")
        verify_sha256(manifest.path, manifest.sha256, manifest.id)
        self.manifest = manifest
        self.session = create_session(str(manifest.path), provider, threads, label=manifest.id)

    @property
    def provider(self) -> str:
        return active_provider(self.session)

    @property
    def dim(self) -> int:
        return self.manifest.dim

    def embed(self, chips: np.ndarray, role: Role, batch_size: int = 32) -> np.ndarray:
        """(N, S, S, 3) chips -> (N, D) float32 embeddings for templates (enrollment) or probes
        (matching), mirror-averaged where the manifest's policy says so for that role."""
        mirror = getattr(self.manifest.mirror_average, f"{role}s")
        if len(chips) == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        batches = [chips[start:start + batch_size] for start in range(0, len(chips), batch_size)]
        return np.concatenate([self._mirror_pair(batch)[0] if mirror else self.describe(batch) for batch in batches])

    def embed_both(self, chips: np.ndarray, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """Template and probe embeddings of the same chips, sharing the passes (evaluation)."""
        if len(chips) == 0:
            empty = np.empty((0, self.dim), dtype=np.float32)
            return empty, empty
        pairs = [self._mirror_pair(chips[start:start + batch_size]) for start in range(0, len(chips), batch_size)]
        mirrored, plain = np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])
        policy = self.manifest.mirror_average
        return (mirrored if policy.templates else plain), (mirrored if policy.probes else plain)

    def _mirror_pair(self, chips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mirror-averaged, plain) descriptors of a batch, in one call of the network."""
        descriptors = self.describe(np.concatenate([chips, chips[:, :, ::-1]]))
        plain = descriptors[:len(chips)]
        return (plain + descriptors[len(chips):]) / 2, plain

    def describe(self, chips: np.ndarray) -> np.ndarray:
        """The network's raw output for one batch of chips, without mirror averaging."""
        feed = {self.manifest.input.name: preprocess_chips(chips, self.manifest.input)}
        (descriptors,) = self.session.run([self.manifest.output_name], feed)
        return descriptors.astype(np.float32, copy=False)
