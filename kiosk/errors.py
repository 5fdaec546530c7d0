"""One root exception for everything a person can act on, grouped by where it comes from.

The command line prints these as one-line messages; anything else is a bug and keeps its traceback.
"""


class FacegateError(Exception):
    """Raised for any failure that a user or administrator can understand and act on."""

    exit_status = 2  # what the command line exits with


class ModelError(FacegateError):
    """Raised when a model cannot be fetched, built, verified or loaded."""


class ModelFetchError(ModelError):
    """Raised when a pinned registry package cannot be downloaded (offline, tool missing)."""


class ChecksumError(ModelError):
    """Raised when a file's SHA-256 differs from the pinned value."""


class ImageError(FacegateError):
    """Raised when an input image cannot be read or decoded."""


class NoFaceError(FacegateError):
    """Raised when an image that must show a face shows none the detector can use."""


class SourceError(FacegateError):
    """Raised when a frame source (file, camera, stream) cannot be opened or read."""


class DatasetError(FacegateError):
    """Raised when an evaluation data set is missing or malformed."""


class SecretsError(FacegateError):
    """Raised when the kiosk's secrets are missing, malformed, wrong, or stored unsafely."""


class StoreError(FacegateError):
    """Raised when the gallery store cannot be opened, read or changed."""


class StoreBusyError(StoreError):
    """Raised when another process holds the store's write lock for longer than the caller waits."""


class PinTakenError(StoreError):
    """Raised when a person's new PIN is already another person's (a PIN names one person at the door)."""


class CardTakenError(StoreError):
    """Raised when a person's card is already another person's: two applies at once can both plan it."""


class StoreDamagedError(StoreError):
    """Raised when the store file is truncated, emptied or corrupt: a backup is needed, not a key."""

    exit_status = 3


class ConfigError(FacegateError):
    """Raised when a YAML file (kiosk config, gallery) is malformed; the message names file and line."""


class ProtectionError(FacegateError):
    """Raised when a template cannot be protected or matched (wrong or missing secret)."""
