"""SHA-256 of files, and the check every model loader runs before it trusts a file."""

import hashlib
from pathlib import Path

from kiosk.errors import ChecksumError


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str, what: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise ChecksumError(
            f"{what}: {path} has SHA-256 {actual}, expected {expected}. The file is corrupt or not the "
            f"pinned release; delete it and run `python main.py models build` again."
        )
