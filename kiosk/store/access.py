"""Open the store and the protector that go with a kiosk configuration's key source."""

from pathlib import Path

from kiosk.manifest import PROTECTOR_MANIFEST, load_protector_manifest
from kiosk.protection import AdversarialProtector
from kiosk.store.gallery import GalleryStore
from kiosk.store.keys import KeySourceConfig, KioskSecrets, load_secrets


def open_store(path: Path, keys: KeySourceConfig, create: bool = False) -> tuple[GalleryStore, KioskSecrets]:
    secrets = load_secrets(keys)
    return GalleryStore.open(path.expanduser(), secrets, create=create), secrets


def protector_for(secrets: KioskSecrets, dim: int, manifest_name: str = PROTECTOR_MANIFEST,
                  provider: str = "auto") -> AdversarialProtector:
    manifest = load_protector_manifest(manifest_name)
    if manifest.dim != dim:
        raise ValueError(f"protector {manifest.id} protects {manifest.dim}-d embeddings, the embedder gives {dim}")
    return AdversarialProtector(manifest.path, manifest.sha256, manifest.id, secrets.template_secret,
                                secrets.template_secret_version, dim, provider, manifest.threshold)
