"""Read photos into RGB uint8 arrays, with errors that say what is wrong with which file."""

from pathlib import Path

import cv2
import numpy as np

from kiosk.errors import ImageError

_JPEG_START = b"\xff\xd8"
_JPEG_END = b"\xff\xd9"


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode image bytes to RGB uint8; a truncated JPEG is refused rather than half-read.

    OpenCV decodes a truncated JPEG into a picture whose lower part is grey, with only a warning on
    stderr; enrolling or matching such a picture would be silently wrong, so the end marker is checked.
    """
    if not data:
        raise ImageError(f"{name}: the file is empty")
    if data.startswith(_JPEG_START) and _JPEG_END not in data[-4096:]:
        raise ImageError(f"{name}: the JPEG is truncated (no end-of-image marker); copy the file again")
    decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        raise ImageError(f"{name}: not an image OpenCV can decode (JPEG, PNG, BMP, WebP, TIFF are supported)")
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


def read_image(path: str | Path) -> np.ndarray:
    """Read a photo from disk as RGB uint8 (H, W, 3)."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, expected an image file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot be read ({exc.strerror})") from exc
    return decode_image(data, str(path))
