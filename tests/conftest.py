"""Shared fixtures: the real models, the real LFW photos from ../shared/data, the pinned sample photos."""

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from kiosk.imageio import decode_image  # noqa: E402
from kiosk.paths import shared_data_dir  # noqa: E402

SAMPLE_PREFIX = "face_recognition-1.3.0/tests/test_images/"


@pytest.fixture(scope="session")
def lfw_dir() -> Path:
    root = shared_data_dir() / "lfw"
    if not (root / "pairs.csv").exists():
        pytest.fail(
            f"LFW is missing: expected {root}/pairs.csv. The tests read real faces from ../shared/data "
            f"next to the checkout (or set FACEGATE_DATA to its location).", pytrace=False)
    return root


@pytest.fixture(scope="session")
def models_built() -> None:
    from models.build import models_ready

    if not models_ready():
        pytest.fail("The models are not built: run `python main.py models build` first.", pytrace=False)


@pytest.fixture(scope="session")
def pipeline(models_built):
    from kiosk.recognition.pipeline import FacePipeline

    with FacePipeline.from_manifests(provider="cpu") as built:
        yield built


@pytest.fixture(scope="session")
def sample_photos(models_built) -> dict[str, np.ndarray]:
    """obama, obama2, obama3 (one person) and biden, from the pinned face_recognition sdist."""
    from models.registry import fetch, load_packages, read_member

    archive = fetch(load_packages()["face-recognition-samples"])
    names = ("obama", "obama2", "obama3", "biden")
    return {n: decode_image(read_member(archive, f"{SAMPLE_PREFIX}{n}.jpg"), n) for n in names}


def lfw_photo(lfw_dir: Path, person: str, number: int) -> Path:
    return lfw_dir / "images" / person / f"{person}_{number:04d}.jpg"


@pytest.fixture
def mock_pins():
    """gpiozero's mock pin factory for the test: pins that record every change and its time."""
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    Device.pin_factory = MockFactory()
    yield Device.pin_factory
    Device.pin_factory.reset()
    Device.pin_factory = None
