"""Where facegate keeps what it builds and caches, outside the git checkout."""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """Root of the cache (models, downloads, evaluation embeddings); FACEGATE_CACHE overrides it."""
    configured = os.environ.get("FACEGATE_CACHE")
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "facegate"


def model_dir() -> Path:
    """Built model files (ONNX, MediaPipe bundles), keyed by the names in the manifests."""
    return cache_dir() / "models"


def samples_dir() -> Path:
    """Sample face photos from a pinned package (MIT), extracted by `models build` for `demo`."""
    return cache_dir() / "samples"


def download_dir() -> Path:
    """Registry packages as downloaded, kept so that a rebuild needs no network."""
    return cache_dir() / "downloads"


def shared_data_dir() -> Path:
    """The project's shared face data (LFW, UTKFace, liveness); FACEGATE_DATA overrides it."""
    configured = os.environ.get("FACEGATE_DATA")
    return Path(configured).expanduser() if configured else PROJECT_ROOT.parent / "shared" / "data"


def shared_models_dir() -> Path:
    """Model parameters that no registry package carries (anti-spoofing); FACEGATE_SHARED_MODELS overrides it."""
    configured = os.environ.get("FACEGATE_SHARED_MODELS")
    return Path(configured).expanduser() if configured else PROJECT_ROOT.parent / "shared" / "models"
