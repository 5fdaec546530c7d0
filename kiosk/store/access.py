"""Open the store and the protector that go with a kiosk configuration's key source."""

from kiosk.protection import KeyedProtector
from kiosk.store.gallery import GalleryStore
from kiosk.store.keys import KeySourceConfig, KioskSecrets, load_secrets


def open_store(path, keys: KeySourceConfig, create: bool = False) -> tuple[GalleryStore, KioskSecrets]:
    secrets = load_secrets(keys)
    return GalleryStore.open(path.expanduser(), secrets, create=create), secrets


def protector_for(secrets: KioskSecrets, dim: int) -> KeyedProtector:
    return KeyedProtector(secrets.template_secret, secrets.template_secret_version, dim)
