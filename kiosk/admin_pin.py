"""The administrator PIN: kept as a salted scrypt hash in the encrypted store, never in clear;
every attempt is audited, and repeated failures lock the screen for a while."""

import hashlib
import hmac
import secrets
import time

from kiosk.errors import FacegateError
from kiosk.store.gallery import GalleryStore

META_KEY = "admin_pin"
LOCKOUT_AFTER = 5
LOCKOUT_S = 60.0
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class PinError(FacegateError):
    """Raised for a PIN that is too short, or when the screen is locked after failures."""


def _hash(pin: str, salt: bytes) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, dklen=32, **_SCRYPT)


def set_pin(store: GalleryStore, pin: str) -> None:
    if len(pin) < 4 or not pin.isdigit():
        raise PinError("the PIN must be at least 4 digits")
    salt = secrets.token_bytes(16)
    with store.transaction():
        store.set_meta(META_KEY, salt.hex() + ":" + _hash(pin, salt).hex())
        store.log_event("admin_pin_changed")


def has_pin(store: GalleryStore) -> bool:
    return store.get_meta(META_KEY) is not None


class PinGate:
    """Checks PIN attempts against the store, audits each one, and locks out after repeated failures."""

    def __init__(self, store: GalleryStore, clock=time.monotonic):
        self.store, self._clock = store, clock
        self._failures, self._locked_until = 0, 0.0

    def check(self, pin: str) -> bool:
        if self._clock() < self._locked_until:
            raise PinError(f"too many wrong PINs; try again in {int(self._locked_until - self._clock()) + 1} s")
        stored = self.store.get_meta(META_KEY)
        if stored is None:
            raise PinError("no administrator PIN is set: python main.py store set-pin")
        salt, expected = (bytes.fromhex(part) for part in stored.split(":"))
        ok = hmac.compare_digest(_hash(pin, salt), expected)
        with self.store.transaction():
            self.store.log_event("admin_login" if ok else "admin_login_failed")
        if ok:
            self._failures = 0
        else:
            self._failures += 1
            if self._failures >= LOCKOUT_AFTER:
                self._locked_until = self._clock() + LOCKOUT_S
        return ok
