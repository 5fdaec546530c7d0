"""Open the store that goes with a kiosk configuration's key source."""

from pathlib import Path

from kiosk.store.gallery import GalleryStore
from kiosk.store.keys import KeySourceConfig, KioskSecrets, load_secrets


def open_store(path: Path, keys: KeySourceConfig, create: bool = False) -> tuple[GalleryStore, KioskSecrets]:
    secrets = load_secrets(keys)
    return GalleryStore.open(path.expanduser(), secrets, create=create), secrets
