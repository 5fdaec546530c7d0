"""Open an SQLCipher file with a raw 256-bit key, set the pragmas that keep it safe, migrate it.

Pragmas: WAL with synchronous=FULL (a power cut loses no committed change and never corrupts),
secure_delete (freed pages are zeroed before reuse), temp_store=MEMORY (no plaintext temp files),
foreign keys on. A wrong key only shows at the first read, as "file is not a database".
"""

import contextlib
import hashlib
import hmac
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeAlias

import sqlcipher3

from kiosk.errors import SecretsError, StoreBusyError, StoreDamagedError, StoreError
from kiosk.store.schema import MIGRATIONS, SCHEMA_VERSION

Connection: TypeAlias = Any  # sqlcipher3.Connection; the package ships no type information
DatabaseError = sqlcipher3.DatabaseError


BUSY_TIMEOUT_S = 5.0  # how long a write waits for another process's lock, unless the caller says
PAGE_SIZE = 4096  # SQLCipher 4's page size: an intact store file is a whole number of pages


def _apply_key(connection: Connection, key: bytes) -> bool:
    """Set the key and try a read; True if the key opens the file."""
    connection.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return True
    except DatabaseError:
        return False


def key_opens(path: Path, key: bytes) -> bool:
    """Whether `key` decrypts the store at `path` (a read; nothing is migrated or written)."""
    connection = sqlcipher3.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        connection.execute("PRAGMA cipher_log_level = NONE")
        return _apply_key(connection, key)
    finally:
        connection.close()


# Beside the store, an HMAC of its salt (the unencrypted first 16 bytes) under the database key: when
# the key does not open the file, it tells a damaged first page (the key is right) from a key file
# that belongs to another store. It says nothing a 256-bit key would not already resist.
SALT_BYTES = 16


def _key_check_path(path: Path) -> Path:
    return path.with_name(path.name + ".keycheck")


def _key_check_value(path: Path, key: bytes) -> str | None:
    with path.open("rb") as handle:
        salt = handle.read(SALT_BYTES)
    return hmac.new(key, b"facegate key check|" + salt, hashlib.sha256).hexdigest() if len(salt) == SALT_BYTES else None


def _key_check(path: Path, key: bytes) -> str:
    """right / wrong / unknown (no check written yet, or unreadable)."""
    try:
        stored = _key_check_path(path).read_text().strip()
    except OSError:
        return "unknown"
    value = _key_check_value(path, key)
    return "right" if value is not None and hmac.compare_digest(stored, value) else "wrong"


def write_key_check(path: Path, key: bytes) -> None:
    """Kept up to date by every open that the key opens (a rekey's new key included)."""
    value = _key_check_value(path, key)
    check = _key_check_path(path)
    try:
        if value is None or (check.exists() and check.read_text().strip() == value):
            return
        temporary = check.with_name(check.name + ".tmp")
        temporary.write_text(value + "\n")
        temporary.chmod(0o600)
        os.replace(temporary, check)
    except OSError:
        pass  # a read-only folder: the check is a convenience for error messages, never required


def open_database(path: Path, key: bytes, previous_key: bytes | None = None, create: bool = False) -> Connection:
    """An open, migrated connection in autocommit mode (transactions are explicit)."""
    if not create and not path.exists():
        raise StoreError(f"{path}: no store here; create one with `python main.py store init`")
    size = path.stat().st_size if path.exists() else 0
    if path.exists() and stat.S_IMODE(path.stat().st_mode) & (stat.S_IRWXG | stat.S_IRWXO):
        raise StoreError(f"{path}: the store file is open to other users (mode {stat.S_IMODE(path.stat().st_mode):o}); "
                         f"run `chmod 600 {path}*` and make sure only the kiosk's user owns it")
    if path.exists() and size == 0 and not create:
        raise StoreDamagedError(f"{path}: the store file is empty (0 bytes): it was truncated; restore it from a "
                                f"backup (only `store init` creates a store)")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.touch(mode=0o600)  # SQLite gives the WAL and shared-memory files the same mode
    connection = sqlcipher3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_S)
    connection.execute("PRAGMA cipher_log_level = NONE")
    if not _apply_key(connection, key):
        connection.close()
        if previous_key is not None:
            # A rekey was interrupted before the file changed: the old key still opens it.
            return open_database(path, previous_key, None, create)
        if size % PAGE_SIZE:
            raise StoreDamagedError(f"{path}: the store file is damaged ({size} bytes, not a whole number of "
                                    f"{PAGE_SIZE}-byte pages: truncated or overwritten); restore it from a backup")
        if _key_check(path, key) == "right":
            raise StoreDamagedError(f"{path}: the store file is damaged: the key is this store's, but its first page "
                                    f"does not decrypt (overwritten, or the file cut short and padded); restore it "
                                    f"from a backup")
        raise SecretsError(f"{path}: the database key does not open this store (the key file is another store's, or "
                           f"this is not a facegate store)")
    for pragma in ("journal_mode = WAL", "synchronous = FULL", "secure_delete = ON", "temp_store = MEMORY",
                   "foreign_keys = ON"):
        connection.execute(f"PRAGMA {pragma}")
    _migrate(connection, path)
    write_key_check(path, key)  # after the migration: a new store has its salt only once its first page is written
    return connection


def _migrate(connection: Connection, path: Path) -> None:
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path}: store schema version {version} is newer than this facegate ({SCHEMA_VERSION}); "
                         f"upgrade facegate")
    for target in range(version, SCHEMA_VERSION):
        with transaction(connection):
            _run_script(connection, MIGRATIONS[target])
            connection.execute(f"PRAGMA user_version = {target + 1}")


def _run_script(connection: Connection, script: str) -> None:
    """Run statements one by one: executescript() would commit the open transaction first."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlcipher3.complete_statement(pending):
            connection.execute(pending)
            pending = ""
    if pending.strip():
        raise StoreError(f"migration script ends in an incomplete statement: {pending.strip()[:60]}")


def store_holders(path: Path) -> list[str]:
    """The other processes that have the store file open ("pid 123: python main.py run"), read from
    /proc; empty where /proc is not there or not readable."""
    target = str(path.resolve())
    found = []
    for process in Path("/proc").glob("[0-9]*"):
        if int(process.name) == os.getpid():
            continue
        try:
            if any(os.readlink(fd) == target for fd in (process / "fd").iterdir()):
                command = " ".join((process / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").split())
                found.append(f"pid {process.name}: {command[:120]}")
        except OSError:
            continue
    return found


@contextlib.contextmanager
def transaction(connection: Connection, wait_s: float | None = None) -> Iterator[Connection]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception: a change lands whole or not at all.
    A store another process keeps writing for longer than the busy timeout (5 s, or `wait_s`) is a
    StoreBusyError naming who has it open, never a traceback."""
    if wait_s is not None:
        connection.execute(f"PRAGMA busy_timeout = {int(wait_s * 1000)}")
    try:
        connection.execute("BEGIN IMMEDIATE")
    except sqlcipher3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise
        path = Path(connection.execute("PRAGMA database_list").fetchone()[2])
        holders = store_holders(path)
        raise StoreBusyError(f"{path}: another process has held the store for more than "
                             f"{wait_s if wait_s is not None else BUSY_TIMEOUT_S:g} s"
                             + (f" ({'; '.join(holders)})" if holders else "")
                             + "; wait for it to finish, or stop it, and try again") from None
    finally:
        if wait_s is not None:
            connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
