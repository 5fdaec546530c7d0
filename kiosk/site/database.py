"""Connect to the site's PostgreSQL with the configured role and the password from the site
credentials; create or migrate its schema (the owner's role only)."""

from typing import Any

import psycopg
from psycopg import sql

from kiosk.config import PostgresConfig
from kiosk.errors import FacegateError, StoreError
from kiosk.site.credentials import SiteCredentials
from kiosk.site.schema import GALLERY_TABLES, MIGRATIONS, SCHEMA_VERSION

SiteConnection = psycopg.Connection
SiteDatabaseError = psycopg.Error


class SiteUnreachableError(FacegateError):
    """Raised when the site's PostgreSQL cannot be reached or refuses the login; a kiosk keeps
    deciding on its replica meanwhile."""


def describe(config: PostgresConfig) -> str:
    return f"PostgreSQL {config.user}@{config.host}:{config.port}/{config.dbname}"


def connect_site(config: PostgresConfig, credentials: SiteCredentials) -> SiteConnection:
    """An open connection in autocommit mode (transactions are explicit: `with connection.transaction()`);
    any failure to connect is a SiteUnreachableError naming the server (never the password)."""
    try:
        return psycopg.connect(host=config.host, port=config.port, dbname=config.dbname, user=config.user,
                               password=credentials.postgres_password, sslmode=config.sslmode,
                               connect_timeout=config.connect_timeout_s, autocommit=True,
                               application_name="facegate",  # a None parameter is left out of the connection string
                               sslrootcert=str(config.ssl_root_cert.expanduser()) if config.ssl_root_cert else None)
    except psycopg.OperationalError as exc:
        reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
        raise SiteUnreachableError(f"{describe(config)}: cannot connect ({reason})") from None


def scalar(connection: SiteConnection, query, params: tuple = ()) -> Any:
    """The first column of the one row a query must return."""
    row = connection.execute(query, params).fetchone()
    if row is None:
        raise StoreError(f"the site database returned no row for {str(query).split()[0:4]}: its schema is damaged")
    return row[0]


def schema_version(connection: SiteConnection) -> int:
    """0 for an empty database."""
    exists = connection.execute("SELECT to_regclass('site_meta') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return 0
    row = connection.execute("SELECT value FROM site_meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def require_schema(connection: SiteConnection, where: str) -> None:
    version = schema_version(connection)
    if version == 0:
        raise StoreError(f"{where}: no facegate site here; create it with `python main.py site init`")
    if version > SCHEMA_VERSION:
        raise StoreError(f"{where}: site schema version {version} is newer than this facegate ({SCHEMA_VERSION}); "
                         f"upgrade facegate")
    if version < SCHEMA_VERSION:
        raise StoreError(f"{where}: site schema version {version} is older than this facegate ({SCHEMA_VERSION}); "
                         f"run `python main.py site init` with the owner's role to migrate it")


# Functions every role may run by default that create large objects: rows outside any table, which
# a door's read-only role could use to fill the disk, and which nothing ever removes.
LARGE_OBJECT_FUNCTIONS = ("lo_create(oid)", "lo_creat(integer)", "lo_from_bytea(oid, bytea)", "lo_import(text)",
                          "lo_import(text, oid)")


def large_object_gaps(connection: SiteConnection, roles: list[str]) -> list[str]:
    """The kiosks' roles that may still create large objects (only the superuser can take that away)."""
    return [role for role in roles
            if any(scalar(connection, "SELECT has_function_privilege(%s, %s, 'EXECUTE')", (role, function))
                   for function in LARGE_OBJECT_FUNCTIONS)]


def migrate(connection: SiteConnection, kiosk_roles: list[str]) -> tuple[int, int]:
    """Bring the schema to this version in one transaction and let the kiosks' roles read the gallery
    (and nothing else); (version before, version after)."""
    with connection.transaction():
        before = schema_version(connection)
        if before > SCHEMA_VERSION:
            raise StoreError(f"site schema version {before} is newer than this facegate ({SCHEMA_VERSION})")
        for target in range(before, SCHEMA_VERSION):
            connection.execute(MIGRATIONS[target])
            connection.execute("INSERT INTO site_meta (key, value) VALUES ('schema_version', %s) "
                               "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(target + 1),))
        for role in kiosk_roles:
            exists = connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if not exists:
                raise StoreError(f"role {role!r} does not exist in PostgreSQL; create it first "
                                 f"(createuser --pwprompt {role}) and run this again")
            tables = sql.SQL(", ").join(sql.Identifier(t) for t in GALLERY_TABLES)
            connection.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(tables, sql.Identifier(role)))
    return before, SCHEMA_VERSION
