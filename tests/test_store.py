"""The encrypted store on real files: nothing readable on disk, keys handled safely, rekey, hard delete."""

import json
import os
import stat
from datetime import date

import numpy as np
import pytest
import sqlcipher3

from kiosk.errors import SecretsError, StoreError
from kiosk.protection import KeyedProtector
from kiosk.store.gallery import GalleryStore
from kiosk.store.keys import KeySourceConfig, KioskSecrets, load_secrets, save_secrets, with_new_database_key
from kiosk.store.records import Consent, Person, TemplateSet


@pytest.fixture
def keys_config(tmp_path) -> KeySourceConfig:
    config = KeySourceConfig(file=tmp_path / "keys.json")
    save_secrets(config, KioskSecrets.generate())
    return config


def enroll(store: GalleryStore, person_id: str, name: str, templates: np.ndarray) -> None:
    with store.transaction():
        store.upsert_person(Person(person_id, name, doors=("main",)))
        store.replace_templates(person_id, TemplateSet(templates, "dlib-resnet-v1", "keyed-orthogonal-v1", 1, [1.0]))
        store.add_consent(person_id, Consent(name, date(2026, 11, 1), "door access"))
        store.log_event("person_enrolled", person_id, templates=len(templates))


@pytest.fixture
def real_templates(pipeline, sample_photos) -> dict[str, np.ndarray]:
    protector = KeyedProtector(b"s" * 32, 1, 128)
    return {n: protector.protect(pipeline.encode_one(rgb, n).template[None]) for n, rgb in sample_photos.items()}


def test_files_on_disk_hold_nothing_readable(tmp_path, keys_config, real_templates):
    path = tmp_path / "gallery.db"
    store = GalleryStore.open(path, load_secrets(keys_config), create=True)
    enroll(store, "e1001", "Barack Obama", real_templates["obama"])
    enroll(store, "e1002", "Joe Biden", real_templates["biden"])
    # While the store is open its WAL and shared-memory files exist; read everything in the folder.
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("gallery.db")}
    assert "gallery.db-wal" in files and len(files["gallery.db-wal"]) > 0
    assert set(files) <= {"gallery.db", "gallery.db-wal", "gallery.db-shm", "gallery.db.keycheck"}, "no other files"
    template_bytes = real_templates["obama"].astype(np.float32).tobytes()[:16]
    for name, data in files.items():
        for secret in (b"SQLite format 3", b"Barack Obama", b"e1001", b"door access", template_bytes):
            assert secret not in data, f"{secret!r} readable in {name}"
    store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_wrong_missing_and_unsafe_keys_are_refused_without_showing_a_key(tmp_path, keys_config):
    path = tmp_path / "gallery.db"
    GalleryStore.open(path, load_secrets(keys_config), create=True).close()
    stranger = KioskSecrets.generate()
    with pytest.raises(SecretsError, match="does not open this store") as wrong:
        GalleryStore.open(path, stranger)
    assert stranger.database_key.hex() not in str(wrong.value) and "x'" not in str(wrong.value)
    with pytest.raises(SecretsError, match="key file not found.*store init"):
        load_secrets(KeySourceConfig(file=tmp_path / "absent.json"))
    os.chmod(keys_config.file, 0o644)
    with pytest.raises(SecretsError, match="readable by others.*chmod 600"):
        load_secrets(keys_config)
    with pytest.raises(SecretsError, match="FACEGATE_TEST_KEYS is not set"):
        load_secrets(KeySourceConfig(source="env", env_var="FACEGATE_TEST_KEYS"))
    assert "hidden" in repr(stranger) and stranger.database_key.hex() not in repr(stranger)


def test_rekey_reencrypts_the_real_file(tmp_path, keys_config, real_templates):
    path = tmp_path / "gallery.db"
    old = load_secrets(keys_config)
    with GalleryStore.open(path, old, create=True) as store:
        enroll(store, "e1001", "Barack Obama", real_templates["obama"])
        new = with_new_database_key(old)
        store.rekey(new.database_key)
    with pytest.raises(SecretsError):
        GalleryStore.open(path, old)
    with GalleryStore.open(path, KioskSecrets(new.database_key, new.template_secret)) as store:
        assert store.get_person("e1001").display_name == "Barack Obama"
        np.testing.assert_allclose(store.gallery_matrix("dlib-resnet-v1").templates, real_templates["obama"], atol=1e-6)
        assert store.verify() == []


def test_an_interrupted_rekey_still_opens_with_the_key_it_had(tmp_path, keys_config):
    path = tmp_path / "gallery.db"
    GalleryStore.open(path, load_secrets(keys_config), create=True).close()
    pending = with_new_database_key(load_secrets(keys_config))
    save_secrets(keys_config, pending)  # the new key was saved, then the process died before PRAGMA rekey
    with GalleryStore.open(path, load_secrets(keys_config)) as store:
        assert store.verify() == []


def test_hard_delete_leaves_no_trace_of_the_person(tmp_path, keys_config, real_templates):
    path = tmp_path / "gallery.db"
    secrets = load_secrets(keys_config)
    with GalleryStore.open(path, secrets, create=True) as store:
        enroll(store, "e1001", "Barack Obama", real_templates["obama"])
        enroll(store, "e1002", "Joe Biden", real_templates["biden"])
        with store.transaction():
            store.log_event("access_granted", "e1001", door="main")
        assert store.hard_delete("e1001", reason="left the company")
        assert store.get_person("e1001") is None and store.consents("e1001") == []
        assert [e for e in store.events() if e.person_ref == "e1001"] == []
        assert store.gallery_matrix("dlib-resnet-v1").person_ids.tolist() == ["e1002"]
    # Decrypt the whole store into a plain copy and search every byte of it.
    plain = tmp_path / "plain.db"
    connection = sqlcipher3.connect(str(path))
    connection.execute(f"PRAGMA key = \"x'{secrets.database_key.hex()}'\"")
    assert connection.execute("PRAGMA freelist_count").fetchone()[0] == 0, "freed pages left behind"
    connection.execute(f"ATTACH DATABASE '{plain}' AS plain KEY ''")
    connection.execute("SELECT sqlcipher_export('plain')")
    connection.close()
    data = plain.read_bytes()
    assert b"Joe Biden" in data, "the check must be able to see names"
    assert b"e1001" not in data and b"Barack Obama" not in data
    assert real_templates["obama"].astype(np.float32).tobytes()[:16] not in data


def test_retention_removes_old_events_and_expired_people(tmp_path, keys_config, real_templates):
    with GalleryStore.open(tmp_path / "g.db", load_secrets(keys_config), create=True) as store:
        enroll(store, "e1001", "Barack Obama", real_templates["obama"])
        with store.transaction():
            store.upsert_person(Person("e1001", "Barack Obama", valid_until=date(2026, 1, 31)))
        removed = store.apply_retention(events_days=30, expired_people_grace_days=30, today=date(2026, 6, 1))
        assert removed["people"] == 1 and store.get_person("e1001") is None
        removed = store.apply_retention(events_days=1, expired_people_grace_days=None, today=date(2030, 1, 1))
        assert removed["events"] >= 1 and store.events() == []


def test_a_store_from_a_newer_facegate_is_refused(tmp_path, keys_config):
    path = tmp_path / "g.db"
    secrets = load_secrets(keys_config)
    GalleryStore.open(path, secrets, create=True).close()
    connection = sqlcipher3.connect(str(path))
    connection.execute(f"PRAGMA key = \"x'{secrets.database_key.hex()}'\"")
    connection.execute("PRAGMA user_version = 99")
    connection.close()
    with pytest.raises(StoreError, match="schema version 99 is newer"):
        GalleryStore.open(path, secrets)


def test_key_file_is_json_with_both_secrets_and_the_door_s_signing_key(keys_config):
    data = json.loads(keys_config.file.read_text())
    assert set(data) == {"database_key", "template_secret", "template_secret_version", "door_signing_key"}
    assert stat.S_IMODE(keys_config.file.stat().st_mode) == 0o600


def test_the_audit_chain_detects_edited_and_removed_records_and_survives_privacy_duties(tmp_path, keys_config,
                                                                                         real_templates):
    with GalleryStore.open(tmp_path / "g.db", load_secrets(keys_config), create=True) as store:
        enroll(store, "e1001", "Barack Obama", real_templates["obama"])
        enroll(store, "e1002", "Joe Biden", real_templates["biden"])
        with store.transaction():
            for door in ("main", "side", "main"):
                store.log_event("access_granted", "e1002", door=door)
        assert store.audit_break() is None
        store.hard_delete("e1001", reason="left")               # pseudonymises e1001's events
        assert store.audit_break() is None
        store.apply_retention(events_days=1, expired_people_grace_days=None, today=date(2030, 1, 1))
        with store.transaction():
            store.log_event("access_granted", "e1002", door="main")
            store.log_event("access_granted", "e1002", door="side")
            store.log_event("access_denied", "e1002", door="vault")
        assert store.audit_break() is None                      # the chain restarts at the retention anchor
        raw = store._db
        ids = [r[0] for r in raw.execute("SELECT id FROM events ORDER BY id")]
        raw.execute("UPDATE events SET detail = '{\"door\": \"main\"}' WHERE id = ?", (ids[-1],))
        assert store.audit_break().startswith(f"event {ids[-1]} ") and "changed" in store.audit_break()
        raw.execute("DELETE FROM events WHERE id = ?", (ids[-2],))
        assert store.audit_break().startswith(f"event {ids[-1]} ") and "removed or inserted" in store.audit_break()


def test_the_audit_head_detects_a_truncated_log_and_a_head_rewritten_without_the_key(tmp_path, keys_config,
                                                                                       real_templates):
    """Someone with the database key but not the key file's template secret removes the last event,
    then tries to make the head agree."""
    with GalleryStore.open(tmp_path / "g.db", load_secrets(keys_config), create=True) as store:
        enroll(store, "e1002", "Joe Biden", real_templates["biden"])
        with store.transaction():
            for door in ("main", "side", "vault"):
                store.log_event("access_granted", "e1002", door=door)
        assert store.audit_break() is None
        raw = store._db
        last_two = raw.execute("SELECT id, at, kind FROM events ORDER BY id DESC LIMIT 2").fetchall()
        raw.execute("DELETE FROM events WHERE id = ?", (last_two[0][0],))
        broken = store.audit_break()
        assert broken == (f"the log ends after event {last_two[1][0]} ({last_two[1][1]}, {last_two[1][2]}), but its "
                          f"head vouches for {last_two[0][0]} events: the last 1 removed"), broken
        head = json.loads(store.get_meta("audit_head"))
        head["events"] -= 1
        head["last_hash"] = raw.execute("SELECT hash FROM events ORDER BY id DESC LIMIT 1").fetchone()[0]
        raw.execute("UPDATE meta SET value = ? WHERE key = 'audit_head'", (json.dumps(head),))
        assert store.audit_break() == "the audit head was written without the key (its MAC does not match)"
        with store.transaction():
            store.log_event("access_granted", "e1002", door="main")  # the next event does not bless the forgery
        assert store.audit_break() == "the audit head was written without the key (its MAC does not match)"
        raw.execute("DELETE FROM meta WHERE key = 'audit_head'")
        assert store.audit_break() == "the audit head is missing"
        raw.execute("INSERT INTO meta (key, value) VALUES ('audit_head', '')")  # reset to "not yet signed"
        started = raw.execute("SELECT id, at FROM events WHERE kind = 'audit_head_started'").fetchone()
    # before, the next open signed whatever it found and `audit verify` said intact
    with GalleryStore.open(tmp_path / "g.db", load_secrets(keys_config)) as store:
        assert store.audit_break() == (f"the audit head started at event {started[0]} ({started[1]}) was emptied: "
                                       f"records after it may have been removed")
        store._db.execute("DELETE FROM events")  # the whole log, with the record of the head's start
        assert store.audit_break() == "the audit log is empty but the store holds 1 people: its records were removed"
    with GalleryStore.open(tmp_path / "g.db", load_secrets(keys_config)) as store:
        assert store.audit_break().startswith("the audit log is empty but the store holds 1 people")


def test_a_log_rebuilt_without_the_enrolment_records_is_named(tmp_path, keys_config, real_templates):
    """The chain's hashes are unkeyed: someone with the database key alone rebuilds a shorter chain
    from the start and empties the head; an administrator who signs it again anyway (`audit start`)
    still hears that people have no enrolment record."""
    from kiosk.store.audit_chain import GENESIS, event_hash

    with GalleryStore.open(tmp_path / "g.db", load_secrets(keys_config), create=True) as store:
        enroll(store, "e1002", "Joe Biden", real_templates["biden"])
        raw = store._db
        raw.execute("DELETE FROM events")
        at = "2026-12-07T09:00:00+00:00"
        raw.execute("INSERT INTO events (at, kind, person_ref, subject, detail, prev_hash, hash) VALUES "
                    "(?, 'store_created', NULL, NULL, '{}', ?, ?)", (at, GENESIS, event_hash(GENESIS, at, "store_created",
                                                                                               None, "{}")))
        raw.execute("UPDATE meta SET value = '' WHERE key = 'audit_head'")
        assert store.audit_break().startswith("the audit log has no signed head")
        store.start_audit_head("started by an administrator")
        assert store.audit_break() == ("1 people have no enrolment record in the log (first: e1002): records were "
                                       "removed")


def test_attendance_days_follow_the_site_time_zone(tmp_path):
    """The store keeps UTC; a check-in at 23:30 UTC is the next morning in Tokyo, and a toggle door
    alternates within the site's day, not UTC's."""
    from datetime import datetime, timezone

    from kiosk.clock import site_zone
    from kiosk.runtime.attendance import AttendanceRecorder, site_day_bounds, summarise

    tokyo = site_zone("Asia/Tokyo")
    with GalleryStore.open(tmp_path / "g.db", KioskSecrets.generate(), create=True) as store:
        enroll(store, "e1001", "Ada", np.ones((1, 8), np.float32))
        recorder = AttendanceRecorder(store, "toggle", dedup_minutes=5, zone=tokyo)
        with store.transaction():
            first = recorder.record("e1001", "main", datetime(2026, 12, 1, 23, 30, tzinfo=timezone.utc))
            second = recorder.record("e1001", "main", datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc))
        assert (first, second) == ("in", "out")  # 08:30 and 10:00 on 2 December in Tokyo: one site day
        rows = store.attendance_between(*site_day_bounds(date(2026, 12, 2), date(2026, 12, 2), tokyo))
        assert [r.direction for r in rows] == ["in", "out"]
        (day,) = summarise(rows, tokyo)
        assert (day.day, day.first_in, day.last_out) == (date(2026, 12, 2), "08:30:00", "10:00:00")
        assert store.attendance_between(*site_day_bounds(date(2026, 12, 1), date(2026, 12, 1), tokyo)) == []
    with pytest.raises(Exception, match="not a known time zone"):
        site_zone("Mars/Olympus_Mons")


def test_the_pin_lockout_survives_a_restart_and_only_ascii_digits_make_a_pin(tmp_path, keys_config):
    from kiosk.admin_pin import LOCKOUT_AFTER, PinError, PinGate, set_pin

    now = [1_000_000.0]
    with GalleryStore.open(tmp_path / "g.db", load_secrets(keys_config), create=True) as store:
        with pytest.raises(PinError, match="digits 0-9"):
            set_pin(store, "\u0661\u0662\u0663\u0664")  # Arabic-Indic digits pass str.isdigit()
        set_pin(store, "2468")
        gate = PinGate(store, clock=lambda: now[0])
        for _ in range(LOCKOUT_AFTER):
            assert gate.check("0000") is False
    with GalleryStore.open(tmp_path / "g.db", load_secrets(keys_config)) as store:  # the kiosk restarted
        restarted = PinGate(store, clock=lambda: now[0])
        with pytest.raises(PinError, match="too many wrong PINs"):
            restarted.check("2468")
        now[0] += 61
        assert restarted.check("2468") is True
        now[0] += 365 * 86400  # locked with the clock a year ahead ...
        for _ in range(LOCKOUT_AFTER):
            assert restarted.check("0000") is False
        now[0] -= 365 * 86400  # ... and the clock corrected: one lockout's wait, not a year's
        with pytest.raises(PinError, match=r"try again in (6[01]|[1-5]?\d) s"):
            restarted.check("2468")
        now[0] += 61
        assert restarted.check("2468") is True


def test_a_store_file_open_to_other_users_is_refused(tmp_path, keys_config):
    path = tmp_path / "g.db"
    GalleryStore.open(path, load_secrets(keys_config), create=True).close()
    os.chmod(path, 0o644)
    with pytest.raises(StoreError, match="open to other users .*chmod 600"):
        GalleryStore.open(path, load_secrets(keys_config))


def test_a_write_blocked_for_longer_than_the_busy_timeout_says_so_instead_of_a_traceback(tmp_path, keys_config):
    path = tmp_path / "g.db"
    with GalleryStore.open(path, load_secrets(keys_config), create=True) as holder, \
            GalleryStore.open(path, load_secrets(keys_config)) as waiting:
        with holder.transaction():
            holder.log_event("long_write")
            with pytest.raises(StoreError, match="another process has held the store for more than 5 s"):
                with waiting.transaction():
                    waiting.log_event("never_written")
        assert waiting.audit_break() is None and waiting.events(limit=1)[0].kind == "long_write"


def test_templates_are_stored_sealed_each_under_its_own_map_and_old_stores_are_sealed_without_re_enrolling(
        tmp_path, keys_config, real_templates):
    """A leaked store must not show one site-wide transform: the same template enrolled twice is stored
    as two unrelated vectors, and only the key set's secret brings them back."""
    secrets = load_secrets(keys_config)
    template = real_templates["obama"]
    with GalleryStore.open(tmp_path / "g.db", secrets, create=True) as store:
        enroll(store, "e1001", "Barack Obama", template)
        enroll(store, "e1002", "Barack Again", template)
        raw = [np.frombuffer(row[0], dtype=np.float32) for row in store._db.execute("SELECT template FROM templates")]
        assert all(abs(float(np.dot(vector, template[0]))) < 0.5 * float(np.dot(template[0], template[0]))
                   for vector in raw), "a stored template still looks like the site's"
        assert abs(float(np.dot(raw[0], raw[1]))) < 0.5 * float(np.dot(raw[0], raw[0]))
        np.testing.assert_allclose(store.gallery_matrix("dlib-resnet-v1").templates, np.vstack([template, template]),
                                   atol=1e-6)
        with store.transaction():  # a store from before sealing: the site's template, no salt
            store._db.execute("UPDATE templates SET template = ?, salt = NULL", (template[0].tobytes(),))
    with GalleryStore.open(tmp_path / "g.db", secrets) as store:
        assert store._db.execute("SELECT count(*) FROM templates WHERE salt IS NULL").fetchone()[0] == 0
        np.testing.assert_allclose(store.gallery_matrix("dlib-resnet-v1").templates, np.vstack([template, template]),
                                   atol=1e-6)
        assert store.events(limit=1)[0].kind == "templates_sealed" and store.audit_break() is None


def test_a_damaged_first_page_is_told_from_a_wrong_key(tmp_path, keys_config):
    """Damage to page 1 said "the database key does not open this store": an administrator then looks
    for another key file instead of restoring the backup."""
    from kiosk.errors import StoreDamagedError

    secrets = load_secrets(keys_config)
    path = tmp_path / "g.db"
    with GalleryStore.open(path, secrets, create=True) as store:
        enroll(store, "e1001", "Barack Obama", np.ones((1, 128), np.float32))
    with pytest.raises(SecretsError, match="the key file is another store's"):
        GalleryStore.open(path, KioskSecrets.generate())
    data = bytearray(path.read_bytes())
    data[200] ^= 0x01  # inside the first page, after its salt
    path.write_bytes(bytes(data))
    with pytest.raises(StoreDamagedError, match="the key is this store's, but its first page does not decrypt"):
        GalleryStore.open(path, secrets)


def test_a_card_or_pin_already_another_persons_is_refused_by_name_and_changes_nothing(tmp_path, keys_config):
    """The plan checks cards before an apply; two applies planned at once reach the store's unique
    index instead, which is said as such (before: an IntegrityError traceback)."""
    from kiosk.errors import CardTakenError, PinTakenError
    from kiosk.store.access import open_store

    store, _ = open_store(tmp_path / "g.db", keys_config, create=True)
    with store:
        with store.transaction():
            store.upsert_person(Person("ada", "Ada", card="wiegand26:1:1"))
            store.upsert_person(Person("bob", "Bob"))
            store.set_person_pin("ada", "a" * 64)
        with pytest.raises(CardTakenError, match="bob: card wiegand26:1:1 is already another person's"):
            with store.transaction():
                store.upsert_person(Person("bob", "Bob", card="wiegand26:1:1"))
        with pytest.raises(PinTakenError, match="another person has this PIN"):
            with store.transaction():
                store.set_person_pin("bob", "a" * 64)
        assert [(p.id, p.card, p.pin_digest) for p in store.list_people()] == [
            ("ada", "wiegand26:1:1", "a" * 64), ("bob", None, None)]
