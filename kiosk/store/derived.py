"""Values keyed by the template secret, which every door of a site shares and no database holds:
the pseudonym that stands in for a deleted person, and the check value that tells whether a key
set fits a gallery (never the secret itself)."""

import hashlib
import hmac

PSEUDONYM_PREFIX = "deleted-"


def pseudonym_key(template_secret: bytes) -> bytes:
    return hashlib.sha256(b"facegate pseudonyms|" + template_secret).digest()


def pseudonym(key: bytes, person_id: str) -> str:
    """A stable stand-in for a person in the records that must outlive them; the same at every door."""
    return PSEUDONYM_PREFIX + hmac.new(key, person_id.encode(), hashlib.sha256).hexdigest()[:12]


def secret_check(template_secret: bytes) -> str:
    return hmac.new(template_secret, b"facegate template secret check", hashlib.sha256).hexdigest()
