"""The site's PostgreSQL schema and its migrations; site_meta's schema_version holds where a database is.

The gallery (people, templates, consents, tombstones) changes only in transactions that first take
the next revision from the one row of site_state: that row lock orders writers, so revisions become
visible in order and a kiosk that has read up to revision R has seen every change up to R. Kiosks'
roles may read the gallery tables, nothing else; events, attendance and kiosks are written by the
owner's role (`site serve`).
"""

from kiosk.store.schema import PERSON_CLAIMS

GALLERY_TABLES = ("site_meta", "site_state", "people", "templates", "consents", "tombstones")

SCHEMA = """
CREATE TABLE site_meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
CREATE TABLE site_state (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    revision  BIGINT NOT NULL
);
INSERT INTO site_state (id, revision) VALUES (1, 0);
CREATE TABLE people (
    id            TEXT PRIMARY KEY,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL,
    enabled       BOOLEAN NOT NULL,
    valid_from    DATE,
    valid_until   DATE,
    doors         JSONB NOT NULL,
    schedule      JSONB,
    photo_digest  TEXT,
    revision      BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX people_revision ON people (revision, id);
CREATE TABLE templates (
    id              BIGSERIAL PRIMARY KEY,
    person_id       TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    template        BYTEA NOT NULL,
    dim             INTEGER NOT NULL,
    model_id        TEXT NOT NULL,
    protector_id    TEXT NOT NULL,
    secret_version  INTEGER NOT NULL,
    quality         REAL,
    CHECK (length(template) = 4 * dim)
);
CREATE INDEX templates_person ON templates (person_id);
CREATE TABLE consents (
    id         BIGSERIAL PRIMARY KEY,
    person_id  TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    given_by   TEXT NOT NULL,
    given_at   DATE NOT NULL,
    scope      TEXT NOT NULL
);
CREATE INDEX consents_person ON consents (person_id);
CREATE TABLE tombstones (
    person_id   TEXT PRIMARY KEY,
    revision    BIGINT NOT NULL,
    deleted_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX tombstones_revision ON tombstones (revision, person_id);
CREATE TABLE site_audit (
    id          BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    kind        TEXT NOT NULL,
    person_ref  TEXT,
    detail      JSONB NOT NULL
);
CREATE TABLE kiosks (
    kiosk_id    TEXT PRIMARY KEY,
    door        TEXT,
    online      BOOLEAN NOT NULL,
    revision    BIGINT,
    queued      INTEGER,
    last_seen   TIMESTAMPTZ NOT NULL
);
CREATE TABLE kiosk_events (
    event_id     TEXT PRIMARY KEY,
    kiosk_id     TEXT NOT NULL,
    store_id     TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    at           TEXT NOT NULL,
    kind         TEXT NOT NULL,
    person_ref   TEXT,
    subject      TEXT,
    detail       TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (kiosk_id, store_id, seq)
);
CREATE INDEX kiosk_events_person ON kiosk_events (person_ref);
CREATE TABLE kiosk_attendance (
    event_id    TEXT PRIMARY KEY,
    kiosk_id    TEXT NOT NULL,
    person_ref  TEXT NOT NULL,
    subject     TEXT NOT NULL,
    at          TEXT NOT NULL,
    direction   TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    door        TEXT
);
CREATE INDEX kiosk_attendance_at ON kiosk_attendance (at);
CREATE INDEX kiosk_attendance_person ON kiosk_attendance (person_ref);
"""

# Messages `site serve` could not store (malformed, impossible, refused by PostgreSQL), kept with the
# reason so that one door's bad message never stops the others'; the same payload is kept once.
DEAD_LETTERS = """
CREATE TABLE dead_letters (
    id              BIGSERIAL PRIMARY KEY,
    received_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    kiosk_id        TEXT NOT NULL,
    topic           TEXT NOT NULL,
    payload         BYTEA NOT NULL,
    payload_sha256  TEXT NOT NULL,
    reason          TEXT NOT NULL,
    UNIQUE (kiosk_id, topic, payload_sha256)
);
"""

# Each door's public signing key, entered by an administrator (`site trust-door`); a record stored
# after its door's key is trusted was verified under it (`signed`). Owner role only.
DOOR_KEYS = """
CREATE TABLE door_keys (
    kiosk_id    TEXT PRIMARY KEY,
    public_key  TEXT NOT NULL,
    trusted_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
ALTER TABLE kiosk_events ADD COLUMN signed BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE kiosk_attendance ADD COLUMN signed BOOLEAN NOT NULL DEFAULT false;
"""

# Each template's salt: stored sealed under a map of its own (kiosk/store/seal.py); rows from before
# are sealed in place by the next administrator who opens the gallery with the key set.
TEMPLATE_SALT = """
ALTER TABLE templates ADD COLUMN salt BYTEA;
CREATE INDEX templates_unsealed ON templates (id) WHERE salt IS NULL;  -- each open asks: no scan of the blobs
"""

# Each entry takes a database from version i to i + 1; the last, each person's card and PIN digest, is
# the same SQL as the store's (kiosk/store/schema.py).
MIGRATIONS: list[str] = [SCHEMA, DEAD_LETTERS, DOOR_KEYS, TEMPLATE_SALT, PERSON_CLAIMS]

SCHEMA_VERSION = len(MIGRATIONS)
