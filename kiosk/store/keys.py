"""Where the kiosk's secrets come from: a key file readable by its owner only, an environment
variable, or the OS keyring. Secrets never appear in logs, exceptions or the config file.

Two secrets live together: the database key (SQLCipher) and the template secret (the keyed layer
of the template protector, with its version so templates can be renewed).
"""

import hashlib
import hmac
import json
import os
import secrets
import stat
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kiosk.errors import SecretsError

KEY_BYTES = 32


@dataclass(frozen=True)
class KioskSecrets:
    """The database key and the template secret; repr never shows the bytes."""

    database_key: bytes
    template_secret: bytes
    template_secret_version: int = 1
    previous_database_key: bytes | None = None  # set only while a rekey is under way
    photo_digest_key: bytes | None = None  # kept apart once the template secret has been rotated
    door_signing_key: bytes | None = None  # Ed25519 seed: this door signs the records it sends its site

    @property
    def digest_key(self) -> bytes:
        """The key of gallery files' photo digests: from the first template secret, and the same after
        a rotation (which keeps it here), so a rotation does not make every person look re-photographed."""
        return self.photo_digest_key or hmac.new(self.template_secret, b"facegate photo digest", hashlib.sha256).digest()

    def __repr__(self) -> str:
        return f"KioskSecrets(template_secret_version={self.template_secret_version}, <hidden>)"

    __str__ = __repr__

    @classmethod
    def generate(cls) -> "KioskSecrets":
        return cls(secrets.token_bytes(KEY_BYTES), secrets.token_bytes(KEY_BYTES),
                   door_signing_key=secrets.token_bytes(KEY_BYTES))

    def to_json(self) -> str:
        data = {"database_key": self.database_key.hex(), "template_secret": self.template_secret.hex(),
                "template_secret_version": self.template_secret_version}
        if self.previous_database_key:
            data["previous_database_key"] = self.previous_database_key.hex()
        if self.photo_digest_key:
            data["photo_digest_key"] = self.photo_digest_key.hex()
        if self.door_signing_key:
            data["door_signing_key"] = self.door_signing_key.hex()
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str) -> "KioskSecrets":
        data = json_object(text, where, "a facegate key set",
                           "create one with `python main.py store init` or restore the file from a backup")

        def hex_field(name: str, required: bool = True) -> bytes | None:
            value = data.get(name)
            if value is None and not required:
                return None
            if not isinstance(value, str):
                raise SecretsError(f"{where}: {name} is {'missing' if value is None else 'not a string'}; "
                                   f"it must be {KEY_BYTES * 2} hex digits")
            try:
                raw = bytes.fromhex(value)
            except ValueError:
                raise SecretsError(f"{where}: {name} is not hex digits") from None
            if len(raw) != KEY_BYTES:
                raise SecretsError(f"{where}: {name} must be {KEY_BYTES} bytes ({KEY_BYTES * 2} hex digits), "
                                   f"it has {len(raw)}")
            return raw

        keys = {name: hex_field(name) for name in ("database_key", "template_secret")}
        previous = hex_field("previous_database_key", required=False)
        digest_key = hex_field("photo_digest_key", required=False)
        signing_key = hex_field("door_signing_key", required=False)
        version = data.get("template_secret_version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise SecretsError(f"{where}: template_secret_version must be a whole number from 1, got {version!r}")
        assert keys["database_key"] is not None and keys["template_secret"] is not None
        return cls(keys["database_key"], keys["template_secret"], version, previous, digest_key, signing_key)


def json_object(text: str, where: str, what: str, remedy: str) -> dict:
    """`text` as a JSON object, or a SecretsError naming where it came from and what it should be."""
    try:
        data = json.loads(text)
    except ValueError:
        raise SecretsError(f"{where}: not {what} (not JSON text); {remedy}") from None
    except RecursionError:  # '[[[[...' nested deeper than any key file: damage or a prank, not keys
        raise SecretsError(f"{where}: not {what} (nested far too deep to be a key file); {remedy}") from None
    if not isinstance(data, dict):
        raise SecretsError(f"{where}: not {what} (expected a JSON object); {remedy}")
    return data


class KeySourceConfig(BaseModel):
    """Where the secrets are kept; the secrets themselves are never in the config file."""

    model_config = ConfigDict(extra="forbid")
    source: Literal["file", "env", "keyring"] = Field("file", description="file, env or keyring")
    file: Path = Field(Path("~/.config/facegate/keys.json"), description="key file (mode 0600) for source: file")
    env_var: str = Field("FACEGATE_KEYS", description="environment variable holding the key JSON for source: env")
    keyring_service: str = Field("facegate", description="OS keyring service name for source: keyring")


def _check_private(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretsError(f"{path}: key file is readable by others (mode {stat.S_IMODE(mode):o}); "
                        f"run `chmod 600 {path}` and make sure only the kiosk's user owns it")


def _keyring():
    try:
        import keyring
    except ImportError:
        raise SecretsError("key source 'keyring' needs the keyring package: pip install 'facegate[keyring]'") from None
    return keyring


def read_secret_text(config: KeySourceConfig, what: str = "facegate secrets") -> tuple[str, str]:
    """The JSON text a key source holds, and where it came from (for error messages), refusing a
    key file others can read; `what` names the secrets in the messages."""
    if config.source == "env":
        value = os.environ.get(config.env_var)
        if not value:
            raise SecretsError(f"environment variable {config.env_var} is not set; it must hold the {what} as JSON")
        return value, f"environment variable {config.env_var}"
    if config.source == "keyring":
        value = _keyring().get_password(config.keyring_service, "secrets")
        if not value:
            raise SecretsError(f"no {what} in the OS keyring under service {config.keyring_service!r}")
        return value, f"keyring service {config.keyring_service}"
    path = config.file.expanduser()
    if not path.exists():
        raise SecretsError(f"{path}: key file not found; it must hold the {what}")
    _check_private(path)
    try:
        return path.read_bytes().decode("utf-8"), str(path)
    except UnicodeDecodeError:
        raise SecretsError(f"{path}: not a file of {what} (binary, not JSON text); restore it from a backup") from None
    except OSError as exc:
        raise SecretsError(f"{path}: the key file cannot be read ({exc.strerror})") from None


def load_secrets(config: KeySourceConfig) -> KioskSecrets:
    """Read the secrets from the configured source, refusing unsafe or malformed ones."""
    if config.source == "file" and not config.file.expanduser().exists():
        raise SecretsError(f"{config.file.expanduser()}: key file not found; create a store and its key with "
                           f"`python main.py store init`")
    return KioskSecrets.from_json(*read_secret_text(config))


def save_secrets(config: KeySourceConfig, keys: KioskSecrets) -> None:
    """Write the secrets where the config says; a file is written 0600 and replaced atomically."""
    if config.source == "env":
        raise SecretsError(f"facegate cannot change environment variable {config.env_var}; use a key file or the "
                        f"keyring to let it create or rotate keys")
    if config.source == "keyring":
        _keyring().set_password(config.keyring_service, "secrets", keys.to_json())
        return
    path = config.file.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".keys-")  # created 0600
    with os.fdopen(handle, "w") as out:
        out.write(keys.to_json())
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def with_new_database_key(keys: KioskSecrets) -> KioskSecrets:
    """The same secrets with a fresh database key, remembering the old one until the rekey ends."""
    return replace(keys, database_key=secrets.token_bytes(KEY_BYTES), previous_database_key=keys.database_key)
