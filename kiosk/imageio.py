"""Read photos into RGB uint8 arrays, with errors that say what is wrong with which file.

Sizes are read from the file's header before anything is decoded, so a file claiming a huge picture
(or a small PNG that inflates to 20000x20000) is refused in microseconds instead of taking minutes
and gigabytes; formats whose header is not read here (TIFF, JPEG 2000, HDR, PPM ...) are refused,
never decoded; only regular files are read (a FIFO would block for ever).
"""

import struct
from pathlib import Path

import cv2
import numpy as np

from kiosk.errors import ImageError

MAX_PIXELS = 64_000_000      # a 64-megapixel photo is larger than any camera's a site would enroll from
MAX_FILE_BYTES = 64 * 2**20
_JPEG_START = b"\xff\xd8"
_JPEG_END = b"\xff\xd9"
_JPEG_SCAN = b"\xff\xda"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_FRAME_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the first start-of-frame segment, walking the segments."""
    position = 2
    while position + 9 < len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            position += 2
            continue
        length = struct.unpack(">H", data[position + 2:position + 4])[0]
        if marker in _JPEG_FRAME_MARKERS:
            height, width = struct.unpack(">HH", data[position + 5:position + 9])
            return width, height
        position += 2 + length
    return None


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) the header claims, for JPEG, PNG, BMP and WebP; None when it says nothing."""
    if data.startswith(_PNG_SIGNATURE) and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data.startswith(_JPEG_START):
        return _jpeg_size(data)
    if data.startswith(b"BM") and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return abs(width), abs(height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8X":
            return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
        if chunk == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
        if chunk == b"VP8 ":
            return struct.unpack("<H", data[26:28])[0] & 0x3FFF, struct.unpack("<H", data[28:30])[0] & 0x3FFF
    return None


_OTHER_FORMATS = ((b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"#?RADIANCE", "Radiance HDR"), (b"#?RGBE", "Radiance HDR"),
                  (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"), (b"\xff\x4f\xff\x51", "JPEG 2000"), (b"GIF8", "GIF"),
                  (b"P1", "PBM"), (b"P2", "PGM"), (b"P3", "PPM"), (b"P4", "PBM"), (b"P5", "PGM"), (b"P6", "PPM"),
                  (b"\x76\x2f\x31\x01", "OpenEXR"))


def _unread_format(data: bytes) -> str:
    """The name of a picture format whose size facegate does not read from the header, or ''."""
    return next((name for magic, name in _OTHER_FORMATS if data.startswith(magic)), "")


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode image bytes to RGB uint8; a truncated, oversized or fully transparent picture is refused.

    OpenCV decodes a truncated JPEG into a picture whose lower part is grey, with only a warning on
    stderr; enrolling or matching such a picture would be silently wrong, so the end marker must
    follow the last scan (trailing data after it, as some cameras write, is fine).
    """
    if not data:
        raise ImageError(f"{name}: the file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(f"{name}: {len(data) / 2**20:.0f} MB is larger than any photo facegate reads "
                         f"({MAX_FILE_BYTES // 2**20} MB); export it smaller")
    size = header_size(data)
    if size is None and data.startswith(_JPEG_START):
        raise ImageError(f"{name}: the JPEG is truncated (it ends before the picture's size); copy the file again")
    if size is None:  # only formats whose size is known before decoding are decoded (a 529-byte JPEG 2000
        # of 9000x9000 took 51 s, a 4.7 MB TIFF of 20000x20000 hung past 60 s at 3.2 GB)
        found = _unread_format(data)
        raise ImageError(f"{name}: " + (f"a {found} file; facegate reads JPEG, PNG, BMP and WebP photos: export it as "
                                        f"JPEG or PNG" if found else "not a photo facegate reads (JPEG, PNG, BMP or "
                                                                    "WebP), or its header is corrupt"))
    if size[0] * size[1] > MAX_PIXELS:
        raise ImageError(f"{name}: its header claims {size[0]}x{size[1]} pixels, more than {MAX_PIXELS // 10**6} "
                         f"megapixels; export it smaller")
    if data.startswith(_JPEG_START) and data.find(_JPEG_END, max(0, data.rfind(_JPEG_SCAN))) < 0:
        raise ImageError(f"{name}: the JPEG is truncated (its last scan has no end-of-image marker); copy the file again")
    buffer = np.frombuffer(data, dtype=np.uint8)
    decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED if data.startswith(_PNG_SIGNATURE) else cv2.IMREAD_COLOR)
    if decoded is None:
        raise ImageError(f"{name}: not a photo facegate reads (JPEG, PNG, BMP or WebP), or its data is corrupt")
    if data.startswith(_JPEG_START):
        _refuse_grey_tail(decoded, name)
    if decoded.ndim == 3 and decoded.shape[2] == 4:
        if not decoded[:, :, 3].any():
            raise ImageError(f"{name}: the picture is fully transparent")
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGRA2BGR)
    elif decoded.ndim == 2:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_GRAY2BGR)
    if decoded.dtype == np.uint16:  # a 16-bit PNG
        decoded = (decoded // 257).astype(np.uint8)
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


# libjpeg fills what a scan lacks with plain mid-grey (every coefficient zero) and only warns: a JPEG
# cut short with an end marker appended (a broken copy, a partial download) decodes whole-looking,
# its lower part flat grey. A block row of exactly that grey across the whole width at the bottom
# is that fill; a real photo's edge is never so uniform after compression.
_FILL = 128
_BLOCK_ROWS = 8


def _refuse_grey_tail(decoded: np.ndarray, name: str) -> None:
    flat = np.all(decoded.reshape(decoded.shape[0], -1) == _FILL, axis=1)
    if decoded.shape[0] <= _BLOCK_ROWS or not flat[-_BLOCK_ROWS:].all():
        return
    filled = int(np.argmin(flat[::-1])) if not flat.all() else len(flat)
    raise ImageError(f"{name}: the JPEG is truncated (its last {filled} of {len(flat)} rows are missing, decoded as "
                     f"plain grey); copy the file again")


def read_image(path: str | Path) -> np.ndarray:
    """Read a photo from disk as RGB uint8 (H, W, 3)."""
    path = Path(path)
    try:
        if not path.exists():
            raise ImageError(f"{path}: no such file")
        if not path.is_file():
            raise ImageError(f"{path}: not a regular file (a folder, a device or a pipe); expected an image file")
        data = path.read_bytes()
    except OSError as exc:  # a name too long, no permission
        raise ImageError(f"{path}: cannot be read ({exc.strerror})") from exc
    return decode_image(data, str(path))
