"""Open the store and the protector that go with a kiosk configuration's key source."""

from pathlib import Path

from kiosk.manifest import EmbedderManifest, load_protector_for
from kiosk.protection import AdversarialProtector
from kiosk.store.gallery import GalleryStore
from kiosk.store.keys import KeySourceConfig, KioskSecrets, load_secrets


def open_store(path: Path, keys: KeySourceConfig, create: bool = False) -> tuple[GalleryStore, KioskSecrets]:
    secrets = load_secrets(keys)
    return GalleryStore.open(path.expanduser(), secrets, create=create), secrets


def protector_for(secrets: KioskSecrets, embedder: EmbedderManifest, manifest_name: str | None = None,
                  provider: str = "auto") -> AdversarialProtector:
    """The site's protector for this descriptor (the named one, or the one trained for it)."""
    manifest = load_protector_for(embedder, manifest_name)
    return AdversarialProtector(manifest, secrets.template_secret, secrets.template_secret_version, provider)
