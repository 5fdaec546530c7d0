"""The administrator PIN: kept as a salted scrypt hash in the encrypted store, never in clear;
every attempt is audited, and repeated failures lock the screen for a while."""

import hashlib
import hmac
import json
import secrets
import time

from kiosk.errors import FacegateError
from kiosk.store.gallery import GalleryStore

META_KEY = "admin_pin"
LOCKOUT_KEY = "admin_pin_lockout"  # failures and lock end survive a restart of the kiosk
LOCKOUT_AFTER = 5
LOCKOUT_S = 60.0
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class PinError(FacegateError):
    """Raised for a PIN that is too short, or when the screen is locked after failures."""


def _hash(pin: str, salt: bytes) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, dklen=32, **_SCRYPT)


def set_pin(store: GalleryStore, pin: str) -> None:
    if len(pin) < 4 or not (pin.isascii() and pin.isdigit()):
        raise PinError("the PIN must be at least 4 digits 0-9")
    salt = secrets.token_bytes(16)
    with store.transaction():
        store.set_meta(META_KEY, salt.hex() + ":" + _hash(pin, salt).hex())
        store.log_event("admin_pin_changed")


def has_pin(store: GalleryStore) -> bool:
    return store.get_meta(META_KEY) is not None


class PinGate:
    """Checks PIN attempts against the store, audits each one, and locks out after repeated failures.
    The count and the end of a lockout are kept in the store on the wall clock, so restarting the
    kiosk does not hand an attacker five fresh tries."""

    def __init__(self, store: GalleryStore, clock=time.time):
        self.store, self._clock = store, clock
        saved = json.loads(store.get_meta(LOCKOUT_KEY) or "{}")
        self._failures, self._locked_until = int(saved.get("failures", 0)), float(saved.get("locked_until", 0.0))

    @property
    def tries_left(self) -> int:
        """Wrong PINs still allowed before the screen locks."""
        return LOCKOUT_AFTER - self._failures

    def locked_for(self) -> float:
        """Seconds until the next try; never more than one lockout, whatever the wall clock did (locked
        with the clock a year ahead and the clock then corrected, it once said 'try again in 31536060 s')."""
        left = self._locked_until - self._clock()
        if left > LOCKOUT_S:
            self._locked_until = self._clock() + LOCKOUT_S
            left = LOCKOUT_S
        return max(0.0, left)

    def check(self, pin: str) -> bool:
        if self.locked_for() > 0:
            raise PinError(f"too many wrong PINs; try again in {int(self.locked_for()) + 1} s")
        stored = self.store.get_meta(META_KEY)
        if stored is None:
            raise PinError("no administrator PIN is set: python main.py store set-pin")
        salt, expected = (bytes.fromhex(part) for part in stored.split(":"))
        ok = pin.isascii() and hmac.compare_digest(_hash(pin, salt), expected)
        if ok:
            self._failures, self._locked_until = 0, 0.0
        else:
            self._failures += 1
            if self._failures >= LOCKOUT_AFTER:
                self._locked_until, self._failures = self._clock() + LOCKOUT_S, 0
        with self.store.transaction():
            self.store.log_event("admin_login" if ok else "admin_login_failed")
            self.store.set_meta(LOCKOUT_KEY, json.dumps({"failures": self._failures, "locked_until": self._locked_until}))
        return ok
