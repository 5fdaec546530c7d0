"""Template protection: what turns a clean embedding into what the store may keep.

Two layers. The adversarial protector (an ONNX network trained after AdvFace) adds a small noise
vector chosen to mislead face reconstruction while the template still matches its owner. The keyed
layer is a secret orthogonal transform per site: it keeps distances, so a clean probe moved into
the same space matches as before, while two sites (two secrets) hold unrelated templates of the
same person, and rotating the secret renews every template without anyone enrolling again
(t_new = Q_new Q_old^T t_old).
"""

import hashlib
from typing import TYPE_CHECKING, Protocol

import numpy as np

from kiosk.errors import ProtectionError

if TYPE_CHECKING:
    from kiosk.manifest import EmbedderManifest, ProtectorManifest, ThresholdSpec
    from kiosk.providers import ProviderChoice
    from kiosk.store.keys import KioskSecrets


class TemplateProtector(Protocol):
    """Turns clean embeddings into stored templates, and clean probes into the templates' space."""

    @property
    def protector_id(self) -> str: ...

    @property
    def secret_version(self) -> int: ...

    @property
    def threshold(self) -> "ThresholdSpec":
        """Clean probe vs protected template, as calibrated."""

    @property
    def fused_threshold(self) -> "ThresholdSpec | None":
        """A visit's fused probe vs protected template, where calibrated."""

    @property
    def template_pairs(self) -> "ThresholdSpec | None":
        """Protected template vs protected template of another person, where calibrated."""

    def protect(self, embeddings: np.ndarray) -> np.ndarray: ...

    def probe_space(self, embeddings: np.ndarray) -> np.ndarray: ...


def keyed_orthogonal_matrix(secret: bytes, version: int, dim: int) -> np.ndarray:
    """A (dim, dim) orthogonal matrix derived from the secret with SHAKE-256 and a QR factorisation.

    The bytes come from a hash, not from NumPy's generators, whose streams may change between
    releases: the same secret must give the same matrix on every kiosk, for years.
    """
    if len(secret) < 16:
        raise ProtectionError("the template secret is missing or too short (need at least 16 bytes)")
    stream = hashlib.shake_256(b"facegate keyed layer v1|" + version.to_bytes(4, "big") + secret)
    words = np.frombuffer(stream.digest(dim * dim * 4), dtype=">u4").astype(np.float64)
    gaussian_ish = (words / 2**32 - 0.5).reshape(dim, dim)
    q, r = np.linalg.qr(gaussian_ish)
    return (q * np.sign(np.diag(r))).astype(np.float32)


class KeyedProtector:
    """The keyed layer alone: an orthogonal transform chosen by the site's template secret."""

    protector_id = "keyed-orthogonal-v1"  # distances are the clean ones: the embedder's calibration applies

    def __init__(self, secret: bytes, secret_version: int, dim: int):
        self.secret_version = secret_version
        self.dim = dim
        self._matrix = keyed_orthogonal_matrix(secret, secret_version, dim)

    def protect(self, embeddings: np.ndarray) -> np.ndarray:
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or embeddings.shape[1] != self.dim:
            raise ProtectionError(f"expected embeddings of shape (N, {self.dim}), got {embeddings.shape}")
        return embeddings @ self._matrix.T

    probe_space = protect

    def renew(self, templates: np.ndarray, successor: "KeyedProtector") -> np.ndarray:
        """Move templates protected by this secret into the successor's space (no clean embedding needed)."""
        return templates @ self._matrix @ successor._matrix.T


class AdversarialProtector:
    """The ONNX protector network followed by the site's keyed layer (both inside the ONNX graph:
    the keyed matrix is an input, so the secret never lives in the model file)."""

    def __init__(self, manifest: "ProtectorManifest", secret: bytes, secret_version: int,
                 provider: "ProviderChoice" = "auto"):
        from kiosk.checksums import verify_sha256
        from kiosk.providers import create_session

        verify_sha256(manifest.path, manifest.sha256, manifest.id)
        self.manifest = manifest
        self.protector_id = manifest.id
        self.secret_version = secret_version
        self.dim = manifest.dim
        self.threshold = manifest.threshold  # clean probe vs protected template, as calibrated
        self.fused_threshold = manifest.fused_threshold
        self.template_pairs = manifest.template_pairs
        self._keyed = KeyedProtector(secret, secret_version, manifest.dim)
        self._session = create_session(str(manifest.path), provider, label=manifest.id)

    @property
    def provider(self) -> str:
        """The execution provider that really runs the protector network."""
        return self._session.get_providers()[0]

    def protect(self, embeddings: np.ndarray) -> np.ndarray:
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or embeddings.shape[1] != self.dim:
            raise ProtectionError(f"expected embeddings of shape (N, {self.dim}), got {embeddings.shape}")
        names = self.manifest.tensors
        (templates,) = self._session.run([names.templates], {names.embeddings: embeddings,
                                                             names.keyed_matrix: self._keyed._matrix})
        return templates

    def probe_space(self, embeddings: np.ndarray) -> np.ndarray:
        """A clean probe is scaled to unit length and crosses the keyed layer; the noise belongs to
        stored templates only."""
        embeddings = np.asarray(embeddings, dtype=np.float32)
        return self._keyed.protect(embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True))

    def renew(self, templates: np.ndarray, successor: "AdversarialProtector") -> np.ndarray:
        return self._keyed.renew(templates, successor._keyed)


def protector_for(secrets: "KioskSecrets", embedder: "EmbedderManifest", manifest_name: str | None = None,
                  provider: "ProviderChoice" = "auto") -> AdversarialProtector:
    """The site's protector for this descriptor (the named one, or the one trained for it)."""
    from kiosk.manifest import load_protector_for

    manifest = load_protector_for(embedder, manifest_name)
    return AdversarialProtector(manifest, secrets.template_secret, secrets.template_secret_version, provider)
