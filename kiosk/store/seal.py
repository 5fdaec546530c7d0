"""Every stored template under a keyed transform of its own, so that pairs of known people reveal
nothing about anyone else's.

The site's keyed layer is one orthogonal matrix for every template of a site: an attacker with a
copy of the stored templates and public photos of a few hundred of the enrolled people learns it by
orthogonal Procrustes and re-identifies everyone else (`eval privacy`, attack A3: 96% with 256 known
people). So each template is stored sealed: transformed by an orthogonal map drawn from the template
secret and a random salt stored beside it. Pairs of known people then give one map each, and that
map is used by no other template. The kiosk, which holds the secret, unseals the gallery once as it
loads it and matches exactly as before (the seal is orthogonal, so distances in the site's space
are untouched): matching costs nothing more, loading 100,000 templates a fraction of a second.

The map is three rounds of a keyed sign flip and the normalised Walsh-Hadamard transform
(H D3 H D2 H D1, "structured orthogonal random features"), which mixes every coordinate into
every other; its signs (3 x D bits) come from SHAKE-256 over the secret, its version and the
salt. Without the secret a sealed template shows its length and nothing else. With the secret, an
attacker unseals every template and is back to the site's keyed layer and the protector's noise:
nothing then protects but the noise (see the README).
"""

import hashlib
import secrets as random_secrets

import numpy as np

from kiosk.errors import ProtectionError

SALT_BYTES = 16
ROUNDS = 3
CHUNK = 8192


class TemplateSeal:
    def __init__(self, secret: bytes, version: int):
        self._prefix = b"facegate template seal v1|" + version.to_bytes(4, "big") + secret + b"|"
        self._hadamard: dict[int, np.ndarray] = {}

    @staticmethod
    def new_salts(count: int) -> list[bytes]:
        return [random_secrets.token_bytes(SALT_BYTES) for _ in range(count)]

    def seal(self, templates: np.ndarray, salts: list[bytes]) -> np.ndarray:
        """(N, D) templates in the site's space -> as stored, each under its own salt's map."""
        return self._chunked(templates, salts, forward=True)

    def unseal(self, sealed: np.ndarray, salts: list[bytes]) -> np.ndarray:
        """The inverse of `seal` (each round's transpose, in reverse order)."""
        return self._chunked(sealed, salts, forward=False)

    def _chunked(self, templates: np.ndarray, salts: list[bytes], forward: bool) -> np.ndarray:
        """In blocks of CHUNK rows: the signs of a million templates would not fit in memory at once."""
        templates = np.asarray(templates)
        if templates.ndim != 2 or len(salts) != len(templates):
            raise ProtectionError(f"{templates.shape} templates but {len(salts)} salts")
        result = np.empty(templates.shape, dtype=np.float32)
        for start in range(0, len(templates), CHUNK):
            rows = slice(start, start + CHUNK)
            vectors, signs, walsh = self._parts(templates[rows], salts[rows])
            if forward:
                for round_signs in signs:
                    vectors = (vectors * round_signs) @ walsh
            else:
                for round_signs in signs[::-1]:
                    vectors = (vectors @ walsh) * round_signs
            result[rows] = vectors
        return result

    def _parts(self, templates: np.ndarray, salts: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        vectors = np.asarray(templates, dtype=np.float64)
        count, dim = vectors.shape
        if dim & (dim - 1) or dim == 0:
            raise ProtectionError(f"templates of dimension {dim} cannot be sealed (the seal needs a power of two)")
        if dim not in self._hadamard:
            self._hadamard[dim] = _walsh_hadamard(dim)
        bits = np.stack([np.unpackbits(np.frombuffer(hashlib.shake_256(self._prefix + salt).digest(ROUNDS * dim // 8),
                                                     dtype=np.uint8)) for salt in salts]) if count else \
            np.empty((0, ROUNDS * dim), np.uint8)
        signs = (1.0 - 2.0 * bits.reshape(count, ROUNDS, dim)).transpose(1, 0, 2)  # (rounds, N, D)
        return vectors, signs, self._hadamard[dim]


def _walsh_hadamard(dim: int) -> np.ndarray:
    """Sylvester's Hadamard matrix of order `dim` (a power of two), scaled to be orthogonal (and symmetric)."""
    matrix = np.ones((1, 1))
    while len(matrix) < dim:
        matrix = np.block([[matrix, matrix], [matrix, -matrix]])
    return matrix / np.sqrt(dim)


def unseal_rows(seal: TemplateSeal, stored: np.ndarray, salts: list[bytes | None]) -> np.ndarray:
    """Stored rows in the site's space: sealed ones unsealed, rows from before sealing (no salt, a
    site gallery an administrator has not opened since) as they are."""
    result = np.array(stored, dtype=np.float32)
    sealed = [(i, bytes(salt)) for i, salt in enumerate(salts) if salt is not None]
    if sealed:
        rows = [i for i, _ in sealed]
        result[rows] = seal.unseal(result[rows], [salt for _, salt in sealed])
    return result


def sealed_updates(seal: TemplateSeal, rows: list[tuple]) -> list[tuple[bytes, bytes, int]]:
    """Rows (id, template bytes, dim) stored before sealing -> (sealed bytes, salt, id) to write back:
    the stored template and the secret are all it needs, nobody enrolls again."""
    salts = TemplateSeal.new_salts(len(rows))
    sealed = seal.seal(np.stack([np.frombuffer(row[1], dtype=np.float32, count=row[2]) for row in rows]), salts)
    return [(vector.tobytes(), salt, row[0]) for vector, salt, row in zip(sealed, salts, rows)]
