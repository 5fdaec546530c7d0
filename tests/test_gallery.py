"""Gallery as code against a real store: plan, apply, errors that name the place, kills that lose nothing."""

import json
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kiosk.config import load_config
from kiosk.gallery.spec import load_gallery_file
from kiosk.paths import PROJECT_ROOT
from kiosk.store.access import open_store
from tests.gallery_files import lfw_people_with_photos, person_entry, write_gallery, write_kiosk_config
from tests.test_cli import run_cli


@pytest.fixture
def kiosk(tmp_path, models_built):
    config = write_kiosk_config(tmp_path)
    done = run_cli("store", "init", "--config", str(config))
    assert done.returncode == 0, done.stderr
    return config


def stored(config_path):
    config = load_config(config_path)
    store, _ = open_store(config.store.resolved_path, config.store.keys)
    return store


def test_config_check_names_file_line_key_and_value(tmp_path):
    bad = tmp_path / "kiosk.yaml"
    bad.write_text("camera:\n  sorce: '0'\nrecognition:\n  max_faces: many\nstore:\n  keys:\n    source: vault\n")
    done = run_cli("config", "check", str(bad))
    assert done.returncode == 2
    errors = done.stderr
    assert f"{bad}:2: camera.sorce = '0': Extra inputs are not permitted" in errors
    assert f"{bad}:4: recognition.max_faces = 'many': Input should be a valid integer" in errors
    assert f"{bad}:7: store.keys.source = 'vault'" in errors
    assert run_cli("config", "check", str(PROJECT_ROOT / "config" / "kiosk.yaml")).returncode == 0


@pytest.mark.parametrize("mutate, message", [
    (lambda p: p[0].update(colour="blue"), r":\d+: people.0.colour = 'blue': Extra inputs are not permitted"),
    (lambda p: p[0].update(enabled="sometimes"), r":\d+: people.0.enabled = 'sometimes': Input should be a valid boolean"),
    (lambda p: p[1].update(id=p[0]["id"]), r"people\[1\]: duplicate id 'colin-powell' \(first at people\[0\]\)"),
    (lambda p: p[1]["photos"].append("/nonexistent/x.jpg"),
     r":\d+: people.1.photos: Value error, photo not found: /nonexistent/x.jpg"),
    (lambda p: p[0].pop("consent"), r":\d+: people.0.consent: Field required"),
    (lambda p: p[0].update(card="wiegand26:300:1"), r"people.0.card = 'wiegand26:300:1': Value error, facility code "
                                                    r"300 does not fit wiegand26 \(0 to 255\)"),
    (lambda p: (p[0].update(card="wiegand26:1:2"), p[1].update(card="wiegand26:1:2")),
     r"people\[1\]: card wiegand26:1:2 is also given to 'colin-powell' \(people\[0\]\)"),
])
def test_a_bad_gallery_file_is_refused_with_its_place_and_nothing_is_written(kiosk, lfw_dir, tmp_path, mutate, message):
    people = [person_entry(lfw_dir, "Colin_Powell", [1, 2]), person_entry(lfw_dir, "Serena_Williams", [1])]
    mutate(people)
    gallery = write_gallery(tmp_path / "gallery.yaml", people)
    done = run_cli("gallery", "apply", str(gallery), "--config", str(kiosk))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert re.search(message, done.stderr), done.stderr
    with stored(kiosk) as store:
        assert store.list_people() == []


def test_a_corrupt_photo_stops_the_apply_before_anything_is_written(kiosk, lfw_dir, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes((lfw_dir / "images/Tony_Blair/Tony_Blair_0001.jpg").read_bytes()[:3000])
    people = [person_entry(lfw_dir, "Colin_Powell", [1]), person_entry(lfw_dir, "Tony_Blair", [2])]
    people[1]["photos"].append(str(broken))
    done = run_cli("gallery", "apply", str(write_gallery(tmp_path / "g.yaml", people)), "--config", str(kiosk))
    assert done.returncode == 2
    assert f"person tony-blair: {broken}: the JPEG is truncated" in done.stderr and "Nothing was written" in done.stderr
    with stored(kiosk) as store:
        assert store.list_people() == []


def test_plan_and_apply_follow_the_file(kiosk, lfw_dir, tmp_path):
    people = [person_entry(lfw_dir, "Colin_Powell", [1, 2], doors=["main"]),
              person_entry(lfw_dir, "Serena_Williams", [1, 2]),
              person_entry(lfw_dir, "Gerhard_Schroeder", [1])]
    gallery = write_gallery(tmp_path / "g.yaml", people)
    applied = json.loads(run_cli("gallery", "apply", str(gallery), "--config", str(kiosk), "--json").stdout)
    assert applied["applied"] == {"add": 3} and applied["rejected_people"] == {}
    # enrolled, and asked for the three photos that measure best (eval identify)
    assert set(applied["few_photos"]) == {"colin-powell", "serena-williams", "gerhard-schroeder"}
    assert applied["few_photos"]["gerhard-schroeder"].startswith("enrolled with 1 good photo(s); 3 recognise")
    people[0]["role"] = "manager"                                                   # update
    people[1]["photos"].append(people[1]["photos"][0].replace("_0001", "_0003"))   # re-enroll
    people[2]["enabled"] = False                                                    # disable
    people.append(person_entry(lfw_dir, "Jennifer_Aniston", [1]))                   # add
    write_gallery(gallery, people)
    plan = run_cli("gallery", "plan", str(gallery), "--config", str(kiosk), "--json")
    actions = {c["person"]: c["action"] for c in json.loads(plan.stdout)["changes"]}
    assert actions == {"colin-powell": "update", "serena-williams": "re-enroll",
                       "gerhard-schroeder": "disable", "jennifer-aniston": "add"}
    write_gallery(gallery, [p for p in people if p["id"] != "gerhard-schroeder"])
    plan = json.loads(run_cli("gallery", "plan", str(gallery), "--config", str(kiosk), "--json").stdout)
    assert {"action": "remove", "person": "gerhard-schroeder",
            "details": ["not in the gallery file; kept without --prune"]} in plan["changes"]
    done = json.loads(run_cli("gallery", "apply", str(gallery), "--prune", "--config", str(kiosk), "--json").stdout)
    assert done["applied"] == {"re-enroll": 1, "add": 1, "update": 1, "remove": 1}
    assert set(done["few_photos"]) == {"jennifer-aniston"}  # Serena now has three
    with stored(kiosk) as store:
        assert [p.id for p in store.list_people()] == ["colin-powell", "jennifer-aniston", "serena-williams"]
        assert store.get_person("colin-powell").role == "manager"
        assert store.template_counts()["serena-williams"] == 3
        assert store.verify() == []


@pytest.mark.parametrize("content", [b"", b"people: []\n", b"# saved half way\n"])
def test_prune_with_a_gallery_file_that_lists_nobody_deletes_nobody(kiosk, lfw_dir, tmp_path, content):
    """An empty, emptied or half-saved file with --prune once hard-deleted everyone, exit 0."""
    gallery = write_gallery(tmp_path / "g.yaml", [person_entry(lfw_dir, "Colin_Powell", [1])])
    assert run_cli("gallery", "apply", str(gallery), "--config", str(kiosk)).returncode == 0
    gallery.write_bytes(content)
    for command in ("plan", "apply"):
        done = run_cli("gallery", command, str(gallery), "--prune", "--config", str(kiosk))
        assert done.returncode == 2 and "lists nobody" in done.stderr and "Nothing was changed" in done.stderr, done.stderr
    with stored(kiosk) as store:
        assert [p.id for p in store.list_people()] == ["colin-powell"]


def test_the_same_face_under_a_second_id_is_refused(kiosk, lfw_dir, tmp_path):
    people = [person_entry(lfw_dir, "Colin_Powell", [1, 2]),
              person_entry(lfw_dir, "Colin_Powell", [2], person_id="impostor-1"),
              person_entry(lfw_dir, "Tony_Blair", [2])]
    done = json.loads(run_cli("gallery", "apply", str(write_gallery(tmp_path / "g.yaml", people)),
                              "--config", str(kiosk), "--json").stdout)
    assert done["applied"] == {"add": 2}
    assert done["rejected_people"]["impostor-1"].startswith("face already enrolled as colin-powell")
    assert done["exit_code"] == 1


def test_a_gallery_apply_killed_at_any_moment_leaves_whole_people_or_none(kiosk, lfw_dir, tmp_path):
    people = [person_entry(lfw_dir, name, [1]) for name in lfw_people_with_photos(lfw_dir, 40, min_photos=2)]
    gallery = write_gallery(tmp_path / "g.yaml", people)
    command = [sys.executable, "main.py", "gallery", "apply", str(gallery), "--config", str(kiosk), "--no-progress"]
    started = time.perf_counter()
    assert subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, timeout=300).returncode in (0, 1)
    full_run = time.perf_counter() - started
    with stored(kiosk) as store:
        expected = {p.id: store.template_counts()[p.id] for p in store.list_people()}
        for person in store.list_people():
            store.hard_delete(person.id, reason="test reset")
    rng = random.Random(7)
    for attempt in range(4):
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, full_run))
        process.send_signal(signal.SIGKILL)
        process.wait()
        with stored(kiosk) as store:
            assert store.verify() == [], f"attempt {attempt}"
            counts = store.template_counts()
            for person in store.list_people():
                assert counts.get(person.id) == expected[person.id] and store.consents(person.id)
    subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, timeout=300)
    with stored(kiosk) as store:
        assert {p.id for p in store.list_people()} == set(expected)


def test_the_example_gallery_is_valid():
    gallery = load_gallery_file(PROJECT_ROOT / "config" / "gallery.example.yaml")
    assert [p.id for p in gallery.people] == ["e1001", "e1002", "v2001"]


def test_a_card_still_held_by_an_enrolled_person_is_refused_before_anything_is_written(kiosk, lfw_dir, tmp_path):
    first = [person_entry(lfw_dir, "Colin_Powell", [1], card="wiegand34:7:42")]
    applied = run_cli("gallery", "apply", str(write_gallery(tmp_path / "a.yaml", first)), "--config", str(kiosk))
    assert applied.returncode == 0, applied.stderr
    second = [person_entry(lfw_dir, "Serena_Williams", [1], card="wiegand34:7:42")]
    done = run_cli("gallery", "apply", str(write_gallery(tmp_path / "b.yaml", second)), "--config", str(kiosk))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "people[0] (serena-williams): card wiegand34:7:42 belongs to 'colin-powell'" in done.stderr
    with stored(kiosk) as store:
        assert [(p.id, p.card) for p in store.list_people()] == [("colin-powell", "wiegand34:7:42")]


def test_unknown_doors_are_named(kiosk, lfw_dir, tmp_path):
    people = [person_entry(lfw_dir, "Colin_Powell", [1], doors=["vault"])]
    done = run_cli("gallery", "plan", str(write_gallery(tmp_path / "g.yaml", people)), "--config", str(kiosk))
    assert "people[0] (colin-powell): doors ['vault'] are not in the kiosk config (known: ['main'])" in done.stderr


def test_audit_verify_names_an_edited_record(kiosk, lfw_dir, tmp_path):
    import sqlcipher3

    from kiosk.store.keys import load_secrets

    run_cli("gallery", "apply", str(write_gallery(tmp_path / "g.yaml", [person_entry(lfw_dir, "Colin_Powell", [1])])),
            "--config", str(kiosk))
    assert json.loads(run_cli("audit", "verify", "--config", str(kiosk), "--json").stdout)["ok"] is True
    config = load_config(kiosk)
    connection = sqlcipher3.connect(str(config.store.resolved_path))
    connection.execute(f"PRAGMA key = \"x'{load_secrets(config.store.keys).database_key.hex()}'\"")
    connection.execute("UPDATE events SET kind = 'person_updated' WHERE kind = 'person_enrolled'")
    connection.commit()
    connection.close()
    done = run_cli("audit", "verify", "--config", str(kiosk))
    assert done.returncode == 1 and "audit chain broken at event" in done.stdout and "changed" in done.stdout


def test_an_emptied_audit_head_fails_verify_and_signing_again_does_not_hide_what_was_removed(kiosk, lfw_dir,
                                                                                               tmp_path):
    """With the database key alone: the last record removed and the head emptied. Before, the next
    open signed the log as it found it and `audit verify` said intact."""
    import sqlcipher3

    from kiosk.store.keys import load_secrets

    run_cli("gallery", "apply", str(write_gallery(tmp_path / "g.yaml", [person_entry(lfw_dir, "Colin_Powell", [1])])),
            "--config", str(kiosk))
    refused = run_cli("audit", "start", "--config", str(kiosk))
    assert refused.returncode == 2 and "already has a signed head" in refused.stderr
    config = load_config(kiosk)
    connection = sqlcipher3.connect(str(config.store.resolved_path))
    connection.execute(f"PRAGMA key = \"x'{load_secrets(config.store.keys).database_key.hex()}'\"")
    connection.execute("DELETE FROM events WHERE id = (SELECT MAX(id) FROM events)")
    connection.execute("UPDATE meta SET value = '' WHERE key = 'audit_head'")
    connection.commit()
    connection.close()
    for _ in range(2):  # opening the store again does not bless it
        done = run_cli("audit", "verify", "--config", str(kiosk))
        assert done.returncode == 1 and "was emptied: records after it may have been removed" in done.stdout
    assert run_cli("audit", "start", "--config", str(kiosk)).returncode == 0
    done = run_cli("audit", "verify", "--config", str(kiosk))  # the removed record was colin-powell's enrolment
    assert done.returncode == 1 and "1 people have no enrolment record in the log (first: colin-powell)" in done.stdout


def test_rotating_the_template_secret_renews_templates_without_re_enrolling(kiosk, lfw_dir, tmp_path, pipeline):
    from kiosk.imageio import read_image
    from kiosk.protection import protector_for
    from kiosk.store.keys import load_secrets

    run_cli("gallery", "apply", str(write_gallery(tmp_path / "g.yaml", [person_entry(lfw_dir, "Colin_Powell", [1, 2])])),
            "--config", str(kiosk))
    config = load_config(kiosk)
    before = load_secrets(config.store.keys)
    done = run_cli("store", "rotate-secret", "--config", str(kiosk), "--json")
    assert done.returncode == 0, done.stderr
    after = load_secrets(config.store.keys)
    assert after.template_secret_version == 2 and after.template_secret != before.template_secret
    assert after.database_key == before.database_key
    probe = pipeline.encode_one(read_image(lfw_dir / "images/Colin_Powell/Colin_Powell_0003.jpg"), "probe").probe[None]
    with stored(kiosk) as store:
        gallery = store.gallery_matrix(pipeline.manifest.id)
        assert gallery.secret_version == 2
    new, old = (protector_for(secrets, pipeline.manifest, provider="cpu") for secrets in (after, before))
    assert np.linalg.norm(new.probe_space(probe) - gallery.templates, axis=1).min() < new.threshold.value
    assert np.linalg.norm(old.probe_space(probe) - gallery.templates, axis=1).min() > old.threshold.value
    # the photo digests keep their key: the same file plans nothing (not everyone re-enrolled)
    plan = run_cli("gallery", "plan", str(tmp_path / "g.yaml"), "--config", str(kiosk))
    assert plan.returncode == 0 and "plan: 1 unchanged" in plan.stdout, plan.stdout


def test_photo_digests_are_keyed_per_site_and_old_unkeyed_ones_are_replaced_without_re_enrolling(kiosk, lfw_dir,
                                                                                                tmp_path):
    """An unkeyed SHA-256 of the enrolment photos was the same at every site and recomputable by anyone
    with the photos: it linked people across sites and named them in a leaked database."""
    import hashlib

    from kiosk.gallery.plan import photo_digest, photo_hashes
    from kiosk.store.keys import KioskSecrets, load_secrets

    entry = person_entry(lfw_dir, "Colin_Powell", [1, 2])
    gallery = write_gallery(tmp_path / "g.yaml", [entry])
    run_cli("gallery", "apply", str(gallery), "--config", str(kiosk))
    photos = [Path(p) for p in entry["photos"]]
    unkeyed = hashlib.sha256(b"".join(hashlib.sha256(p.read_bytes()).digest() for p in photos)).hexdigest()
    with stored(kiosk) as store:
        digest = store.get_person("colin-powell").photo_digest
        assert digest.startswith("k1:") and unkeyed not in digest
        assert digest == photo_digest(photo_hashes(photos), load_secrets(load_config(kiosk).store.keys).digest_key)
        assert digest != photo_digest(photo_hashes(photos), KioskSecrets.generate().digest_key)  # another site
        with store.transaction():  # a store from before: the unkeyed digest
            store._db.execute("UPDATE people SET photo_digest = ? WHERE id = 'colin-powell'", (unkeyed,))
    plan = run_cli("gallery", "plan", str(gallery), "--config", str(kiosk))
    assert "~ update    colin-powell: photo digest keyed to the site" in plan.stdout, plan.stdout
    run_cli("gallery", "apply", str(gallery), "--config", str(kiosk))
    with stored(kiosk) as store:
        assert store.get_person("colin-powell").photo_digest == digest


def colin_is_still_recognised(kiosk, lfw_dir, pipeline) -> bool:
    """The store opens with the key file, and its templates are under the key file's template secret."""
    from kiosk.imageio import read_image
    from kiosk.protection import protector_for
    from kiosk.store.keys import load_secrets

    config = load_config(kiosk)
    probe = pipeline.encode_one(read_image(lfw_dir / "images/Colin_Powell/Colin_Powell_0003.jpg"), "probe").probe[None]
    protector = protector_for(load_secrets(config.store.keys), pipeline.manifest, provider="cpu")
    with stored(kiosk) as store:
        assert store.verify() == [] and store.audit_break() is None
        gallery = store.gallery_matrix(pipeline.manifest.id)
    return bool(np.linalg.norm(protector.probe_space(probe) - gallery.templates, axis=1).min() < protector.threshold.value)


@pytest.mark.parametrize("point", ["rotate:journal_written", "rotate:renewed", "rotate:key_file_written"])
def test_a_secret_rotation_killed_at_each_point_loses_nothing_and_completes_when_run_again(
        kiosk, lfw_dir, tmp_path, pipeline, point):
    from kiosk.store.keys import load_secrets

    run_cli("gallery", "apply", str(write_gallery(tmp_path / "g.yaml", [person_entry(lfw_dir, "Colin_Powell", [1, 2])])),
            "--config", str(kiosk))
    before = load_secrets(load_config(kiosk).store.keys)
    assert run_cli("store", "rotate-secret", "--config", str(kiosk), fault=point).returncode == 137
    pending = load_config(kiosk).store.keys.file.with_suffix(".pending.json")
    drawn = load_secrets(load_config(kiosk).store.keys.model_copy(update={"file": pending}))
    for _ in range(2):  # run again, and once more after it is done
        done = run_cli("store", "rotate-secret", "--config", str(kiosk), "--json")
        assert done.returncode == 0, done.stderr
        if _ == 0:
            after = load_secrets(load_config(kiosk).store.keys)
            assert after.template_secret == drawn.template_secret  # the first secret drawn, never a second one
            assert not pending.exists() and json.loads(done.stdout)["resumed"] is True
        assert colin_is_still_recognised(kiosk, lfw_dir, pipeline)
    final = load_secrets(load_config(kiosk).store.keys)
    assert final.template_secret_version == before.template_secret_version + 2


@pytest.mark.parametrize("point", ["rekey:journal_written", "rekey:reencrypted"])
def test_a_rekey_killed_at_each_point_leaves_a_key_that_opens_the_store_and_completes_when_run_again(
        kiosk, lfw_dir, tmp_path, pipeline, point):
    from kiosk.store.database import key_opens
    from kiosk.store.keys import load_secrets

    run_cli("gallery", "apply", str(write_gallery(tmp_path / "g.yaml", [person_entry(lfw_dir, "Colin_Powell", [1, 2])])),
            "--config", str(kiosk))
    config = load_config(kiosk)
    assert run_cli("store", "rekey", "--config", str(kiosk), fault=point).returncode == 137
    assert colin_is_still_recognised(kiosk, lfw_dir, pipeline)  # the key file opens the store after the kill
    journal = load_secrets(config.store.keys)
    for attempt in range(2):
        done = run_cli("store", "rekey", "--config", str(kiosk), "--json")
        assert done.returncode == 0, done.stderr
        keys = load_secrets(config.store.keys)
        assert keys.previous_database_key is None and key_opens(config.store.resolved_path, keys.database_key)
        if attempt == 0:  # it finished the interrupted rekey with the key already saved
            assert json.loads(done.stdout)["resumed"] is True and keys.database_key == journal.database_key
        assert colin_is_still_recognised(kiosk, lfw_dir, pipeline)


def test_a_rekey_while_another_process_holds_the_store_refuses_and_keeps_a_working_key(kiosk, lfw_dir, tmp_path,
                                                                                        pipeline):
    from kiosk.store.database import key_opens
    from kiosk.store.keys import load_secrets

    run_cli("gallery", "apply", str(write_gallery(tmp_path / "g.yaml", [person_entry(lfw_dir, "Colin_Powell", [1, 2])])),
            "--config", str(kiosk))
    config = load_config(kiosk)
    with stored(kiosk) as holder:  # as a running kiosk holds it
        holder.list_people()
        for _ in range(2):
            done = run_cli("store", "rekey", "--config", str(kiosk))
            assert done.returncode == 2 and "in use by another process" in done.stderr, done.stderr
            assert "Traceback" not in done.stderr
    keys = load_secrets(config.store.keys)
    assert key_opens(config.store.resolved_path, keys.previous_database_key or keys.database_key)
    assert run_cli("store", "rekey", "--config", str(kiosk)).returncode == 0
    keys = load_secrets(config.store.keys)
    assert keys.previous_database_key is None and colin_is_still_recognised(kiosk, lfw_dir, pipeline)


def test_a_damaged_store_or_key_file_is_named_as_such_and_never_re_created(kiosk, lfw_dir, tmp_path):
    """Damage is not a wrong key: the messages and exit status differ, and nothing is made anew."""
    run_cli("gallery", "apply", str(write_gallery(tmp_path / "g.yaml", [person_entry(lfw_dir, "Colin_Powell", [1])])),
            "--config", str(kiosk))
    config = load_config(kiosk)
    store_path, key_file = config.store.resolved_path, config.store.keys.file
    intact, keys = store_path.read_bytes(), key_file.read_text()

    def refused(*command: str) -> subprocess.CompletedProcess:
        done = run_cli(*command, "--config", str(kiosk))
        assert done.returncode in (2, 3) and "Traceback" not in done.stderr, done.stderr
        return done

    page = bytearray(intact)
    page[4096 * 2 + 100:4096 * 2 + 150] = b"x" * 50
    store_path.write_bytes(bytes(page))
    verify = run_cli("store", "verify", "--config", str(kiosk))
    assert verify.returncode == 3 and "HMAC verification failed for page 3" in verify.stdout, verify.stdout
    assert "the store is damaged" in refused("gallery", "list").stderr
    store_path.write_bytes(intact[:10000])
    assert refused("gallery", "list").returncode == 3
    store_path.write_bytes(b"")
    emptied = refused("gallery", "list")
    assert emptied.returncode == 3 and "empty (0 bytes)" in emptied.stderr and store_path.stat().st_size == 0
    store_path.write_bytes(intact)
    for mangle, message in ((lambda k: k | {"previous_database_key": "zz"}, "previous_database_key is not hex digits"),
                            (lambda k: k | {"template_secret": k["template_secret"][:10]}, "template_secret must be 32"),
                            (lambda k: k | {"template_secret_version": 2}, "protected under version 1")):
        key_file.write_text(json.dumps(mangle(json.loads(keys))))
        done = refused("gallery", "list")
        assert done.returncode == 2 and message in done.stderr, done.stderr
    key_file.write_bytes(bytes(range(256)))
    assert "binary, not JSON text" in refused("gallery", "list").stderr
    key_file.write_text(keys)
    assert run_cli("store", "verify", "--config", str(kiosk)).returncode == 0


@pytest.mark.parametrize("point, present", [("apply:person_written", False), ("apply:committed", True)])
def test_a_gallery_apply_killed_at_each_point_leaves_everyone_whole_or_absent_and_completes_when_run_again(
        kiosk, lfw_dir, tmp_path, point, present):
    people = [person_entry(lfw_dir, name, [1, 2]) for name in ("Colin_Powell", "Tony_Blair", "Serena_Williams")]
    gallery = write_gallery(tmp_path / "g.yaml", people)
    assert run_cli("gallery", "apply", str(gallery), "--config", str(kiosk), fault=point).returncode == 137
    with stored(kiosk) as store:
        assert store.verify() == [] and store.audit_break() is None
        assert {p.id for p in store.list_people()} == ({p["id"] for p in people} if present else set())
    for _ in range(2):
        assert run_cli("gallery", "apply", str(gallery), "--config", str(kiosk)).returncode == 0
    with stored(kiosk) as store:
        counts = store.template_counts()
        assert all(counts[p["id"]] == 2 and store.consents(p["id"]) for p in people)
        assert [e.kind for e in store.events(limit=1000)].count("person_enrolled") == 3  # each enrolled once


def test_a_remove_killed_before_its_scrub_has_deleted_the_person_and_the_store_holds(kiosk, lfw_dir, tmp_path):
    people = [person_entry(lfw_dir, name, [1]) for name in ("Colin_Powell", "Tony_Blair")]
    run_cli("gallery", "apply", str(write_gallery(tmp_path / "g.yaml", people)), "--config", str(kiosk))
    gone = people[0]["id"]
    assert run_cli("gallery", "remove", gone, "--yes", "--config", str(kiosk), fault="remove:deleted").returncode == 137
    with stored(kiosk) as store:
        assert store.verify() == [] and store.audit_break() is None
        assert {p.id for p in store.list_people()} == {people[1]["id"]}
        assert gone not in {e.person_ref for e in store.events(limit=1000)}
    again = run_cli("gallery", "remove", gone, "--yes", "--config", str(kiosk))
    assert again.returncode == 2 and f"no person {gone!r}" in again.stderr


def test_audit_verify_names_the_event_after_which_the_log_was_truncated(kiosk, lfw_dir, tmp_path):
    import sqlcipher3

    from kiosk.store.keys import load_secrets

    run_cli("gallery", "apply", str(write_gallery(tmp_path / "g.yaml", [person_entry(lfw_dir, "Colin_Powell", [1])])),
            "--config", str(kiosk))
    config = load_config(kiosk)
    connection = sqlcipher3.connect(str(config.store.resolved_path))
    connection.execute(f"PRAGMA key = \"x'{load_secrets(config.store.keys).database_key.hex()}'\"")
    kept = connection.execute("SELECT id, at, kind FROM events ORDER BY id DESC LIMIT 2").fetchall()[1]
    connection.execute("DELETE FROM events WHERE id = (SELECT MAX(id) FROM events)")
    connection.commit()
    connection.close()
    done = run_cli("audit", "verify", "--config", str(kiosk))
    assert done.returncode == 1 and f"the log ends after event {kept[0]} ({kept[1]}, {kept[2]})" in done.stdout, done.stdout
    assert "the last 1 removed" in done.stdout


def test_control_characters_and_huge_fields_are_refused_with_the_file_and_line(kiosk, lfw_dir, tmp_path):
    """A NUL in a name made PostgreSQL refuse the apply with a psycopg traceback; a 10 MB role was
    accepted and copied to every door."""
    people = [person_entry(lfw_dir, "Colin_Powell", [1]), person_entry(lfw_dir, "Tony_Blair", [1])]
    people[0]["name"] = "Colin\x00Powell"
    people[1]["role"] = "x" * 10_000_000
    gallery = write_gallery(tmp_path / "g.yaml", people)
    for command in ("plan", "apply"):
        done = run_cli("gallery", command, str(gallery), "--config", str(kiosk))
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert "people.0.name" in done.stderr and "control character '\\x00' at position 5" in done.stderr
        assert "people.1.role" in done.stderr and "at most 64 characters" in done.stderr
        assert "(10,000,002 characters)" in done.stderr and len(done.stderr) < 2000  # named, not printed
    with stored(kiosk) as store:
        assert store.list_people() == []


def test_a_capture_keeps_no_frame_with_a_second_face_and_refuses_frames_of_two_people(pipeline, lfw_dir):
    """The wizard's capture took a passer-by in two seconds: a frame with a second face keeps nothing,
    and kept frames of two different people are refused whole (a face replaced between frames)."""
    import cv2

    from kiosk.enrollment import CaptureGuide
    from kiosk.imageio import read_image
    from kiosk.recognition.quality import QualityGates
    from tests.conftest import lfw_photo

    def face(person: str, number: int):
        return pipeline.detect_and_align(cv2.resize(read_image(lfw_photo(lfw_dir, person, number)), None, fx=2, fy=2))

    guide = CaptureGuide(QualityGates())
    two = pipeline.detect_and_align(np.hstack([read_image(lfw_photo(lfw_dir, "Colin_Powell", 1)),
                                               read_image(lfw_photo(lfw_dir, "Tony_Blair", 1))]))
    assert len(two) >= 2 and guide.take(two) == "one_person_only" and guide.chips == []
    one_person = CaptureGuide(QualityGates(), chips=[face("Colin_Powell", n)[0].chip for n in (1, 2, 3)],
                              sharpness=[50.0] * 3)
    kept = one_person.enrollment(pipeline)
    assert len(kept.embeddings) == 3 and not kept.rejected and len(kept.previews) == 3
    mixed = CaptureGuide(QualityGates(), chips=[face("Colin_Powell", 1)[0].chip, face("Colin_Powell", 2)[0].chip,
                                                face("Tony_Blair", 1)[0].chip], sharpness=[50.0] * 3)
    refused = mixed.enrollment(pipeline)
    assert refused.embeddings == [] and refused.rejected["capture"].startswith("the frames show more than one person")
