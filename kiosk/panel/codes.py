"""Per-person access codes: signed, expiring, shown to the camera as a QR code (printed or on a phone).

A code reads `FG1:<person id>:<expiry, Unix seconds>:<tag>`; the tag is the first 16 bytes of
HMAC-SHA256 under a key derived from the store's digest key, which every door of a site shares and
which survives a rotation of the template secret. A code says who claims to be at the door, never
who is: the face must still match that person (kiosk/runtime/claims.py). Whoever can read a door's
key file can mint codes; a lost code is voided by disabling the person or waiting for its expiry.
"""

import base64
import hashlib
import hmac
from datetime import datetime, timezone

import cv2
import numpy as np

from kiosk.errors import FacegateError

PREFIX = "FG1"


class CodeError(FacegateError):
    """A code that is not valid; the reason follows "This code: " on the screen and goes to the audit."""


class CodeExpired(CodeError):
    """A genuine code past its date: unlike a forged one, the person it names is known for the audit."""

    def __init__(self, message: str, person_id: str):
        super().__init__(message)
        self.person_id = person_id


def code_key(digest_key: bytes) -> bytes:
    return hmac.new(digest_key, b"facegate access codes", hashlib.sha256).digest()


def _tag(key: bytes, body: str) -> str:
    return base64.urlsafe_b64encode(hmac.new(key, body.encode(), hashlib.sha256).digest()[:16]).decode().rstrip("=")


def issue_code(key: bytes, person_id: str, expires: datetime) -> str:
    body = f"{PREFIX}:{person_id}:{int(expires.timestamp())}"
    return f"{body}:{_tag(key, body)}"


def verify_code(key: bytes, text: str, now: datetime | None = None) -> str:
    """The person the code names, if it is genuine and not expired; CodeError says why not."""
    parts = text.strip().split(":")
    if len(parts) != 4 or parts[0] != PREFIX or not parts[2].isdigit():
        raise CodeError("not an access code of this door")
    body = ":".join(parts[:3])
    if not hmac.compare_digest(_tag(key, body), parts[3]):
        raise CodeError("not valid here")
    expires = datetime.fromtimestamp(int(parts[2]), timezone.utc)
    if (now or datetime.now(timezone.utc)) >= expires:
        raise CodeExpired(f"expired on {expires:%Y-%m-%d}", parts[1])
    return parts[1]


def code_image(code: str, module_px: int = 8) -> np.ndarray:
    """The code as a QR image (greyscale, with the quiet zone QR readers need), to print or send."""
    qr = cv2.QRCodeEncoder.create().encode(code)
    qr = cv2.resize(qr, None, fx=module_px, fy=module_px, interpolation=cv2.INTER_NEAREST)
    return cv2.copyMakeBorder(qr, 4 * module_px, 4 * module_px, 4 * module_px, 4 * module_px,
                              cv2.BORDER_CONSTANT, value=255)


class CodeReader:
    """Finds a QR code in a camera frame (OpenCV's ArUco-based detector: about 10 ms a VGA frame here)."""

    def __init__(self) -> None:
        self._detector = cv2.QRCodeDetectorAruco()

    def read(self, rgb: np.ndarray) -> str | None:
        text, _points, _straight = self._detector.detectAndDecode(rgb)
        return text or None
