"""A door's records signed with its own Ed25519 key, verified by the site with the door's public key.

The audit chain's hashes are unkeyed, and the broker's ACL only says who may publish under a door's
topic: anyone holding a door's broker login (or the door's topic through a misconfigured broker)
could publish a correctly chained record, which the site stored as the door's, and the door's real
record with that number was then dropped as a duplicate. So each door signs every record it sends
with a key of its own, kept in its key file beside its database key; the site holds only the public
half, entered by an administrator (`site trust-door`), never learnt from the door's own messages.
A record that does not verify under the trusted key is set aside, named, and never stored.

The signature covers the record as the door sent it (every field but the signature), the door's id
and the kind of record: a record cannot be replayed as another door's or as another kind.
"""

import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

CONTEXT = "facegate door record v1"
FORGED_REASON = "not signed with door"  # how a dead letter of a record that does not verify begins
PUBLIC_KEY_HEX = 64
SIGNATURE_HEX = 128


def _signed_bytes(kiosk_id: str, kind: str, record: dict) -> bytes:
    body = {key: value for key, value in record.items() if key != "sig"}
    return json.dumps([CONTEXT, kiosk_id, kind, body], sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def public_key_hex(seed: bytes) -> str:
    """The public half of a door's signing key, as `site trust-door` takes it."""
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def sign_record(seed: bytes, kiosk_id: str, kind: str, record: dict) -> str:
    return Ed25519PrivateKey.from_private_bytes(seed).sign(_signed_bytes(kiosk_id, kind, record)).hex()


def verifies(public_hex: str, kiosk_id: str, kind: str, record: dict) -> bool:
    """Whether the record's `sig` is the door's signature of it."""
    signature = record.get("sig")
    if not isinstance(signature, str) or len(signature) != SIGNATURE_HEX:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(
            bytes.fromhex(signature), _signed_bytes(kiosk_id, kind, record))
    except (InvalidSignature, ValueError):
        return False
    return True


def parse_public_key(text: str) -> str:
    """A public key as an administrator pastes it; ValueError names what is wrong."""
    value = text.strip().lower()
    if len(value) != PUBLIC_KEY_HEX or any(c not in "0123456789abcdef" for c in value):
        raise ValueError(f"a door's public key is {PUBLIC_KEY_HEX} hex digits (`site door-key` on the door prints "
                         f"it); got {len(value)} characters")
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(value))
    return value
