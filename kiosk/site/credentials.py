"""The site's passwords (PostgreSQL, broker), read from the same kinds of key source as the store's
keys and never written into the config, a log or an error message."""

from dataclasses import dataclass

from kiosk.config import SiteCredentialsConfig
from kiosk.errors import SecretsError
from kiosk.store.keys import json_object, read_secret_text

FIELDS = ("postgres_password", "broker_password")


@dataclass(frozen=True)
class SiteCredentials:
    postgres_password: str | None = None
    broker_password: str | None = None

    def __repr__(self) -> str:
        return "SiteCredentials(<hidden>)"

    __str__ = __repr__


def load_site_credentials(config: SiteCredentialsConfig) -> SiteCredentials:
    text, where = read_secret_text(config, "site credentials (postgres_password, broker_password)")
    data = json_object(text, where, "site credentials",
                       'expected {"postgres_password": "...", "broker_password": "..."}')
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise SecretsError(f"{where}: unknown fields {unknown} in the site credentials (known: {', '.join(FIELDS)})")
    for name in FIELDS:
        if data.get(name) is not None and not isinstance(data[name], str):
            raise SecretsError(f"{where}: {name} must be a string")
    return SiteCredentials(data.get("postgres_password"), data.get("broker_password"))
