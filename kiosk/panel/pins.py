"""A person's PIN for a pin_and_face door: typed on the kiosk's keypad, it names the person whose face
must then match (it is a claim, like a card, not a password on its own).

Kept as HMAC-SHA256 under a key derived from the store's digest key (which every door of a site
shares): the store alone, without the key file, does not give the PINs back, and the kiosk finds the
person a PIN names with one digest, not a search. Each PIN belongs to one person.
"""

import hashlib
import hmac
import re

from kiosk.errors import ConfigError

PIN_PATTERN = re.compile(r"^\d{4,8}$")


def pin_key(digest_key: bytes) -> bytes:
    return hmac.new(digest_key, b"facegate person PINs", hashlib.sha256).digest()


def pin_digest(key: bytes, pin: str) -> str:
    if not PIN_PATTERN.match(pin):
        raise ConfigError("a PIN is 4 to 8 digits")
    return hmac.new(key, pin.encode(), hashlib.sha256).hexdigest()
