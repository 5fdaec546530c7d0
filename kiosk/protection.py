"""Template protection: what turns a clean embedding into what the store may keep.

The keyed layer is a secret orthogonal transform per site: it keeps distances, so a clean probe
moved into the same space matches as before, while two sites (two secrets) hold unrelated
templates of the same person, and rotating the secret renews every template without anyone
enrolling again (t_new = Q_new Q_old^T t_old). The adversarial noise network of the protection
issue plugs in before it; until then the store holds keyed templates only.
"""

import hashlib
from typing import Protocol

import numpy as np

from kiosk.errors import ProtectionError


class TemplateProtector(Protocol):
    """Turns clean embeddings into stored templates, and clean probes into the templates' space."""

    protector_id: str
    secret_version: int

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

    protector_id = "keyed-orthogonal-v1"

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
