"""The store's schema and its migrations; PRAGMA user_version holds the version a file is at."""

SCHEMA = """
CREATE TABLE people (
    id            TEXT PRIMARY KEY,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL,
    enabled       INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    valid_from    TEXT,
    valid_until   TEXT,
    doors         TEXT NOT NULL,         -- JSON list of door names; empty = every door
    schedule      TEXT,                  -- JSON {days, from, until}; NULL = any time
    photo_digest  TEXT,                  -- SHA-256 over the enrolled photos' bytes: detects re-enrollment
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE TABLE templates (
    id              INTEGER PRIMARY KEY,
    person_id       TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    template        BLOB NOT NULL,
    dim             INTEGER NOT NULL,
    model_id        TEXT NOT NULL,
    protector_id    TEXT NOT NULL,
    secret_version  INTEGER NOT NULL,
    quality         REAL,
    created_at      TEXT NOT NULL,
    CHECK (length(template) = 4 * dim)
);
CREATE INDEX templates_person ON templates(person_id);
CREATE TABLE consents (
    id           INTEGER PRIMARY KEY,
    person_id    TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    given_by     TEXT NOT NULL,
    given_at     TEXT NOT NULL,
    scope        TEXT NOT NULL,
    recorded_at  TEXT NOT NULL
);
CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    person_ref  TEXT,                    -- a person id, or its pseudonym once the person is deleted
    subject     TEXT,                    -- the pseudonym, always: what the hash chain covers
    detail      TEXT NOT NULL,           -- JSON; never holds a person id
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX events_at ON events(at);
CREATE TABLE attendance (
    id          INTEGER PRIMARY KEY,
    person_ref  TEXT NOT NULL,
    at          TEXT NOT NULL,
    direction   TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    door        TEXT
);
CREATE INDEX attendance_at ON attendance(at);
"""

# A counter every change to people or templates raises, whichever code path (or tool) makes it: a
# running kiosk polls it and reloads its gallery when it moves.
GALLERY_REVISION = "\n".join(
    ["INSERT OR IGNORE INTO meta (key, value) VALUES ('gallery_revision', '0');"]
    + [f"""CREATE TRIGGER {table}_{change.lower()}_bumps_revision AFTER {change} ON {table} BEGIN
    UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'gallery_revision';
END;""" for table in ("people", "templates") for change in ("INSERT", "UPDATE", "DELETE")])

# The audit log's signed head (see audit_chain.py): empty until the store, opened with its secrets,
# signs the log as it is (and logs that it did).
AUDIT_HEAD = """
INSERT OR IGNORE INTO meta (key, value) VALUES ('audit_head', '');
"""

# Each template's salt: the template is stored sealed under a map of its own (seal.py); rows from
# before are sealed in place by the next open with the secrets (GalleryStore.open).
TEMPLATE_SALT = """
ALTER TABLE templates ADD COLUMN salt BLOB;
CREATE INDEX templates_unsealed ON templates (id) WHERE salt IS NULL;  -- every open asks: no scan of the blobs
"""

# Each entry takes a file from version i to i + 1; the first creates the schema.
# What a person claims to be with at a claim door (kiosk/runtime/claims.py): the card a panel knows
# them by (kiosk/panel/cards.py), reported on a grant; and their PIN, kept as a keyed digest
# (kiosk/panel/pins.py). Each belongs to one person.
PERSON_CLAIMS = """
ALTER TABLE people ADD COLUMN card TEXT;
CREATE UNIQUE INDEX people_card ON people (card) WHERE card IS NOT NULL;
ALTER TABLE people ADD COLUMN pin_digest TEXT;
CREATE UNIQUE INDEX people_pin ON people (pin_digest) WHERE pin_digest IS NOT NULL;
"""

MIGRATIONS: list[str] = [SCHEMA, GALLERY_REVISION, AUDIT_HEAD, TEMPLATE_SALT, PERSON_CLAIMS]

SCHEMA_VERSION = len(MIGRATIONS)
