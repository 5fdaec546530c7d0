"""A site with many doors on real servers: a throwaway PostgreSQL cluster and mosquitto with a password
file and ACLs (Debian's packages), two kiosk processes on a loopback camera, `site serve` between."""

import json
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest
import yaml

from kiosk.bench.frames import door_frame
from kiosk.config import BrokerConfig, load_config
from kiosk.errors import SecretsError
from kiosk.imageio import read_image
from kiosk.paths import PROJECT_ROOT
from kiosk.site.collector import SITE_SERVICE_USER
from kiosk.site.throwaway import ServiceError, ThrowawayBroker, ThrowawayPostgres, free_port
from kiosk.site.uplink import make_client
from kiosk.store.access import open_store
from kiosk.store.keys import KeySourceConfig, KioskSecrets, save_secrets
from tests.gallery_files import person_entry, write_gallery, write_kiosk_config
from tests.test_cli import run_cli
from tests.visits import MjpegCamera, Visit, write_visits_video

KIOSKS = {"door-a": "door-a-pw", "door-b": "door-b-pw"}


@pytest.fixture(scope="module")
def servers():
    try:
        with ThrowawayPostgres() as postgres, ThrowawayBroker(KIOSKS) as broker:
            yield postgres, broker
    except ServiceError as exc:
        pytest.fail(str(exc), pytrace=False)


def _private(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    path.chmod(0o600)
    return path


def site_section(postgres, broker, credentials: Path, kiosk_id: str | None, role: str, username: str | None,
                 **server) -> dict:
    return {"timezone": "Europe/Berlin",
            "server": {"kiosk_id": kiosk_id, "postgres": {"port": postgres.port, "user": role, "sslmode": "disable"},
                       "broker": {"port": broker.port, "username": username}, "credentials": {"file": str(credentials)},
                       "sync_poll_s": 1, "status_every_s": 1, **server}}


@pytest.fixture(scope="module")
def site(servers, tmp_path_factory, models_built):
    """The administrators' config (the owner's role, the site service's broker user) and each door's
    config (the kiosks' read-only role, its own broker user, its own store key, the site's template secret)."""
    postgres, broker = servers
    folder = tmp_path_factory.mktemp("site")
    admin_keys = folder / "admin" / "keys.json"
    save_secrets(KeySourceConfig(file=admin_keys), KioskSecrets.generate())
    (folder / "admin").mkdir(exist_ok=True)
    credentials = _private(folder / "admin" / "site.json", {"postgres_password": postgres.owner_password,
                                                            "broker_password": broker.site_password})
    admin = write_kiosk_config(folder / "admin", site=site_section(postgres, broker, credentials, None, postgres.owner,
                                                                     SITE_SERVICE_USER))
    done = run_cli("site", "init", "--kiosk-role", postgres.kiosk_role, "--config", str(admin))
    assert done.returncode == 0, done.stderr
    doors = {}
    for kiosk_id, password in KIOSKS.items():
        door = folder / kiosk_id
        door.mkdir()
        credentials = _private(door / "site.json", {"postgres_password": postgres.kiosk_password,
                                                    "broker_password": password})
        doors[kiosk_id] = write_kiosk_config(
            door, site=site_section(postgres, broker, credentials, kiosk_id, postgres.kiosk_role, None),
            liveness={"enabled": False}, recognition={"cooldown_s": 0}, doors=[{"name": kiosk_id}])
        joined = run_cli("store", "init", "--template-secret-from", str(admin_keys), "--config", str(doors[kiosk_id]))
        assert joined.returncode == 0, joined.stderr
    return admin, doors


SYNTHETIC = "synthetic"  # the model id of made-up templates, which no door's descriptor can match


@pytest.fixture
def site_gallery(site, servers):
    """The site's gallery with the owner's role; made-up people are removed afterwards, since a door
    refuses to start on templates of another descriptor."""
    from kiosk.site.credentials import SiteCredentials
    from kiosk.site.database import connect_site
    from kiosk.site.gallery import SiteGallery
    from kiosk.store.keys import load_secrets

    postgres, _ = servers
    admin_config = load_config(site[0])
    owner = admin_config.site.server.postgres
    with SiteGallery(connect_site(owner, SiteCredentials(postgres.owner_password)), owner,
                     load_secrets(admin_config.store.keys)) as gallery:
        yield gallery
        for person_id, (model_id, _) in gallery.template_origins().items():
            if model_id == SYNTHETIC:
                gallery.hard_delete(person_id, "made up for a test")


class KioskProcess:
    """`python main.py run` on the loopback camera; every decision line kept with when it arrived."""

    def __init__(self, config: Path, camera_url: str):
        self.process = subprocess.Popen([sys.executable, "main.py", "run", "--source", camera_url, "--config",
                                         str(config)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.decisions: list[tuple[float, dict]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.decisions.append((time.monotonic(), json.loads(line)))

    def granted(self, person_id: str, since: float = 0.0) -> list[float]:
        return [at for at, d in self.decisions if at > since and d["outcome"] == "granted" and d["person_id"] == person_id]

    def refused(self, since: float) -> list[float]:
        return [at for at, d in self.decisions if at > since and d["outcome"] != "granted"]

    def stop(self) -> str:
        """SIGINT, as Ctrl-C: the kiosk sends what it still holds and closes."""
        self.process.send_signal(signal.SIGINT)
        _, stderr = self.process.communicate(timeout=60)
        return stderr


def colin_at_the_door(lfw_dir) -> MjpegCamera:
    """A loopback camera: Colin Powell for 1.5 s, then nobody for 1 s, over and over."""
    visit = cv2.cvtColor(door_frame(read_image(lfw_dir / "images/Colin_Powell/Colin_Powell_0004.jpg")), cv2.COLOR_RGB2BGR)
    camera = MjpegCamera([(cv2.imencode(".jpg", visit)[1].tobytes(), 1.5),
                          (cv2.imencode(".jpg", np.full_like(visit, 96))[1].tobytes(), 1.0)], free_port(), fps=8)
    camera.plug()
    return camera


def wait_for(condition, timeout_s: float, what, kiosks=()) -> float:
    """Seconds until `condition` held; `what` (text, or a function giving it) says what did not happen."""
    started = time.monotonic()
    while not condition():
        for kiosk in kiosks:
            assert kiosk.process.poll() is None, f"a kiosk stopped: {kiosk.process.stderr.read()}"
        assert time.monotonic() - started < timeout_s, f"{what() if callable(what) else what}: not within {timeout_s} s"
        time.sleep(0.1)
    return time.monotonic() - started


def site_rows(postgres, query: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=postgres.port, user=postgres.owner, password=postgres.owner_password,
                         dbname=postgres.dbname) as connection:
        return connection.execute(query).fetchall()


def replica_holds(config: Path, person_id: str) -> bool:
    """Whether a door's replica still has the person (read beside the running kiosk)."""
    loaded = load_config(config)
    store, _ = open_store(loaded.store.resolved_path, loaded.store.keys)
    with store:
        return store.get_person(person_id) is not None


def local_records(config: Path, after: tuple[int, int] = (0, 0)) -> tuple[int, int]:
    """A door's events and attendance records numbered after `after`."""
    loaded = load_config(config)
    store, _ = open_store(loaded.store.resolved_path, loaded.store.keys)
    with store:
        return len(store.events_after(after[0], 10**9)), len(store.attendance_after(after[1], 10**9))


def last_numbers(config: Path) -> tuple[int, int]:
    """The numbers of a door's last event and attendance record (a deletion may have removed earlier ones)."""
    loaded = load_config(config)
    store, _ = open_store(loaded.store.resolved_path, loaded.store.keys)
    with store:
        events, attendance = store.events_after(0, 10**9), store.attendance_after(0, 10**9)
    return (events[-1][0] if events else 0), (attendance[-1][0] if attendance else 0)


def test_two_doors_follow_the_site_keep_deciding_offline_and_deliver_every_event_once(site, servers, lfw_dir, tmp_path):
    """Enroll at the site: both doors grant. PostgreSQL and the broker go down: both keep granting and
    queue their records; back up: every record arrives once. Delete at the site: both refuse within 5 s."""
    postgres, broker = servers
    admin, doors = site
    camera = colin_at_the_door(lfw_dir)
    service = subprocess.Popen([sys.executable, "main.py", "site", "serve", "--json", "--config", str(admin)],
                               cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kiosks = [KioskProcess(doors[k], f"http://127.0.0.1:{camera.port}/cam.mjpg") for k in KIOSKS]
    try:
        gallery = write_gallery(tmp_path / "g.yaml", [
            person_entry(lfw_dir, "Colin_Powell", [1, 2, 3], person_id="colin-powell"),
            person_entry(lfw_dir, "Serena_Williams", [1, 2, 3], person_id="serena-williams")])
        applied = run_cli("gallery", "apply", str(gallery), "--config", str(admin), "--json")
        assert applied.returncode == 0 and json.loads(applied.stdout)["applied"] == {"add": 2}, applied.stderr
        wait_for(lambda: all(k.granted("colin-powell") for k in kiosks), 90, "both doors grant", kiosks)

        postgres.stop()
        broker.stop()
        outage = time.monotonic()
        wait_for(lambda: all(len(k.granted("colin-powell", outage)) >= 2 for k in kiosks), 30,
                 "both doors keep granting while the site is down", kiosks)
        postgres.start()
        broker.start()

        removed = run_cli("gallery", "remove", "colin-powell", "--yes", "--config", str(admin))
        assert removed.returncode == 0, removed.stderr
        deleted = time.monotonic()
        wait_for(lambda: all(k.refused(deleted + 5) for k in kiosks), 60,
                 lambda: f"both doors refuse after the delete ({[k.decisions[-3:] for k in kiosks]})", kiosks)
        for kiosk in kiosks:
            assert not kiosk.granted("colin-powell", deleted + 5), "a door still granted 5 s after the delete"
    finally:
        stderr = [kiosk.stop() for kiosk in kiosks]
        camera.unplug()
    for kiosk, text in zip(kiosks, stderr):
        assert kiosk.process.returncode == 0, text

    local = {kiosk_id: local_records(doors[kiosk_id]) for kiosk_id in KIOSKS}

    def delivered() -> dict:
        rows = site_rows(postgres, "SELECT kiosk_id, count(*), count(DISTINCT seq), 'e' FROM kiosk_events GROUP BY 1 "
                                   "UNION ALL SELECT kiosk_id, count(*), count(*), 'a' FROM kiosk_attendance GROUP BY 1")
        counts = {(r[0], r[3]): r[1] for r in rows}
        assert all(r[1] == r[2] for r in rows), "an event was stored twice"
        return {k: (counts.get((k, "e"), 0), counts.get((k, "a"), 0)) for k in KIOSKS}

    try:
        wait_for(lambda: delivered() == local, 30, f"every record at the site ({delivered()} of {local})")
    finally:
        service.send_signal(signal.SIGTERM)
        out, err = service.communicate(timeout=30)
    assert service.returncode == 0, err
    assert all(events > 10 and attendance >= 1 for events, attendance in local.values()), local
    status = json.loads(run_cli("site", "status", "--config", str(admin), "--json").stdout)
    assert {k["kiosk"]: k["audit_chain"] for k in status["kiosks"]} == {k: "intact" for k in KIOSKS}
    assert all(k["lag"] == 0 and k["queued"] == 0 and not k["online"] for k in status["kiosks"]), status
    # the deleted person is a pseudonym at the site too, and attendance of both doors is one export
    assert site_rows(postgres, "SELECT count(*) FROM kiosk_events WHERE person_ref = 'colin-powell'") == [(0,)]
    today = date.today().isoformat()
    export = run_cli("attendance", "export", "--from", today, "--to", today, "--out", str(tmp_path / "all.csv"),
                     "--config", str(admin), "--json")
    assert json.loads(export.stdout)["records"] == sum(a for _, a in local.values()), export.stderr


def test_a_sync_killed_between_batches_resumes_where_it_stopped(site, servers, site_gallery, tmp_path):
    """Five people, batches that end after the second: killed after the first batch, the replica holds
    two whole people and its cursor; run again, it completes, and a deletion at the site reaches it as
    a tombstone."""
    from kiosk.store.records import Consent, Person, TemplateSet

    postgres, broker = servers
    admin, _ = site
    admin_config = load_config(admin)
    gallery = site_gallery
    for person_id in list(gallery.template_counts()):
        gallery.hard_delete(person_id, "a clean site for this test")
    with gallery.transaction():
        for number in range(5):
            person_id = f"p{number}"
            gallery.upsert_person(Person(person_id, f"Person {number}"))
            gallery.replace_templates(person_id, TemplateSet(np.eye(3, 128, number, dtype=np.float32), SYNTHETIC,
                                                             "p", 1))
            gallery.add_consent(person_id, Consent("self", date(2026, 12, 1), "door access"))
    door = tmp_path / "door-c"
    door.mkdir()
    credentials = _private(door / "site.json", {"postgres_password": postgres.kiosk_password})
    earlier_deletions = site_rows(postgres, "SELECT count(*) FROM tombstones")[0][0]  # they come first, by revision
    config = write_kiosk_config(door, site=site_section(postgres, broker, credentials, "door-c", postgres.kiosk_role,
                                                        None, sync_batch=earlier_deletions + 2))
    assert run_cli("store", "init", "--template-secret-from", str(admin_config.store.keys.file),
                   "--config", str(config)).returncode == 0

    killed = run_cli("site", "sync", "--no-progress", "--config", str(config), fault="sync:batch_written")
    assert killed.returncode == 137, killed.stderr
    replica, _ = open_store(load_config(config).store.resolved_path, load_config(config).store.keys)
    with replica:
        assert [p.id for p in replica.list_people()] == ["p0", "p1"]
        assert replica.verify() == [] and replica.template_counts() == {"p0": 3, "p1": 3}
    done = run_cli("site", "sync", "--no-progress", "--config", str(config), "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["updated"] == 3, done.stderr

    gallery.hard_delete("p3", "left the company")
    done = run_cli("site", "sync", "--no-progress", "--config", str(config), "--json")
    assert json.loads(done.stdout)["removed"] == 1, done.stderr
    replica, _ = open_store(load_config(config).store.resolved_path, load_config(config).store.keys)
    with replica:
        assert [p.id for p in replica.list_people()] == ["p0", "p1", "p2", "p4"]
        assert replica.consents("p4") == [Consent("self", date(2026, 12, 1), "door access")]
        assert replica.verify() == [] and replica.audit_break() is None

    with gallery.transaction():  # what a claim door needs reaches the replica too: the card, the PIN's digest
        gallery.upsert_person(Person("p4", "Person 4", card="wiegand26:1:4"))
        gallery.set_person_pin("p4", "ab" * 32)
    done = run_cli("site", "sync", "--no-progress", "--config", str(config), "--json")
    assert json.loads(done.stdout)["updated"] == 1, done.stderr
    replica, _ = open_store(load_config(config).store.resolved_path, load_config(config).store.keys)
    with replica:
        assert (replica.get_person("p4").card, replica.get_person("p4").pin_digest) == ("wiegand26:1:4", "ab" * 32)


def test_the_broker_lets_a_kiosk_publish_only_as_itself(servers, site):
    """door-a's login cannot put records under door-b's topic, a wrong password is refused, and the
    broker's TLS listener carries a kiosk's records."""
    _, broker = servers
    outcomes: dict[str, object] = {}

    def connect(user: str, password: str) -> mqtt.Client:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"probe-{user}")
        client.username_pw_set(user, password)
        client.on_connect = lambda c, u, f, reason, p: outcomes.__setitem__(user, reason)
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        wait_for(lambda: user in outcomes, 10, f"the broker answers {user}")
        return client

    clients: list[mqtt.Client] = []
    try:
        # the site service's login: the broker makes its client id the user name, so a copy of this
        # client left running would take the site's session from every later `site serve`
        listener = connect(SITE_SERVICE_USER, broker.site_password)
        clients.append(listener)
        seen: list[str] = []
        subscribed: list[object] = []
        listener.on_message = lambda c, u, message: seen.append(message.topic)
        listener.on_subscribe = lambda c, u, mid, reasons, p: subscribed.append(reasons)
        listener.subscribe("facegate/kiosk/#", qos=1)
        wait_for(lambda: subscribed, 10, "the broker confirms the listener's subscription")
        intruder = connect("door-a", KIOSKS["door-a"])
        clients.append(intruder)
        intruder.publish("facegate/kiosk/door-b/events", "{}", qos=1).wait_for_publish(5)
        intruder.publish("facegate/kiosk/door-a/probe", "{}", qos=1).wait_for_publish(5)
        wait_for(lambda: "facegate/kiosk/door-a/probe" in seen, 10, "door-a's own topic arrives")
        assert "facegate/kiosk/door-b/events" not in seen
        wrong = connect("door-b", "not-the-password")
        clients.append(wrong)
        assert outcomes["door-b"].is_failure
        # over TLS (the kiosks' own client, checking the broker's certificate against the site's CA)
        secure = make_client(BrokerConfig(port=broker.tls_port, tls_ca_file=broker.ca_file), "probe-tls", "door-a",
                             KIOSKS["door-a"])
        clients.append(secure)
        secure.on_connect = lambda c, u, f, reason, p: outcomes.__setitem__("tls", reason)
        secure.connect("127.0.0.1", broker.tls_port)
        secure.loop_start()
        wait_for(lambda: "tls" in outcomes, 10, "the broker answers over TLS")
        assert not outcomes["tls"].is_failure
        secure.publish("facegate/kiosk/door-a/tls-probe", "{}", qos=1).wait_for_publish(5)
        wait_for(lambda: "facegate/kiosk/door-a/tls-probe" in seen, 10, "door-a's record over TLS arrives")
    finally:
        for client in clients:
            client.disconnect()
            client.loop_stop()
        client.disconnect()


def test_a_door_with_another_template_secret_is_refused_by_the_site(site, servers, tmp_path):
    postgres, broker = servers
    door = tmp_path / "stranger"
    door.mkdir()
    credentials = _private(door / "site.json", {"postgres_password": postgres.kiosk_password})
    config = write_kiosk_config(door, site=site_section(postgres, broker, credentials, "stranger", postgres.kiosk_role,
                                                        None))
    assert run_cli("store", "init", "--config", str(config)).returncode == 0  # a key set of its own: wrong secret
    done = run_cli("site", "sync", "--no-progress", "--config", str(config))
    assert done.returncode == SecretsError.exit_status and "template secret is not the site's" in done.stderr
    assert postgres.kiosk_password not in done.stderr + done.stdout


def test_the_gui_administers_the_site_and_a_door_s_read_only_role_changes_nothing(qtbot, site, servers, site_gallery,
                                                                                  lfw_dir, tmp_path):
    """Administration in the GUI shows the site's people and records; with the administrators' role a
    disabling lands at the site, with a door's role it is refused in place."""
    from kiosk.store.records import Person, TemplateSet
    from ui.main_window import MainWindow

    postgres, _ = servers
    admin, doors = site
    with site_gallery.transaction():
        site_gallery.upsert_person(Person("gui-member", "Gui Member"))
        site_gallery.replace_templates("gui-member", TemplateSet(np.eye(2, 128, dtype=np.float32), SYNTHETIC, "p", 1))
    assert run_cli("store", "init", "--config", str(admin)).returncode == 0  # the station's own store: its PIN
    video = tmp_path / "visit.avi"
    write_visits_video(video, [Visit(lfw_dir / "images/Colin_Powell/Colin_Powell_0004.jpg", 1.0)])

    def enabled_at_site() -> bool:
        return site_rows(postgres, "SELECT enabled FROM people WHERE id = 'gui-member'") == [(True,)]

    for path, role_may_change in ((doors["door-a"], False), (admin, True)):
        config = load_config(path)
        window = MainWindow(config.model_copy(update={"gui": config.gui.model_copy(update={"fullscreen": False})}),
                            str(video))
        qtbot.addWidget(window)
        try:
            assert window.show_admin()
            panel = window.admin
            assert "the site's shared gallery" in panel.status.text() and "PostgreSQL" not in panel.status.text()
            panel.search.setText("gui-member")
            assert panel.table.rowCount() == 1
            panel.table.selectRow(0)
            if role_may_change:
                panel.toggle_selected()
                assert not enabled_at_site() and panel.notice.text() == ""
                events = [tuple(panel.events.item(row, column).text() for column in range(5))
                          for row in range(panel.events.rowCount())]
                assert any(what == "Details changed" and who == "Gui Member" for _, what, who, _, _ in events), events
            else:  # it saw the people, may not read the site's records nor change anyone
                assert "(a kiosk's role); read the site's records" in panel.notice.text()
                panel.toggle_selected()
                assert enabled_at_site() and "(a kiosk's role); change the gallery" in panel.notice.text()
        finally:
            window.close()


def test_a_strict_door_grants_nobody_once_the_site_is_away_longer_than_its_bound(site, servers, lfw_dir, tmp_path):
    """max_offline_s 4: granted while in step; PostgreSQL stopped, the door refuses the same member
    (saying why) from 4 s on; PostgreSQL back, it grants again. Doors without the bound keep granting
    (the first test)."""
    postgres, _ = servers
    admin, doors = site
    gallery = write_gallery(tmp_path / "g.yaml", [person_entry(lfw_dir, "Colin_Powell", [1, 2, 3],
                                                                person_id="colin-powell")])
    assert run_cli("gallery", "apply", str(gallery), "--config", str(admin)).returncode == 0
    door = yaml.safe_load(doors["door-b"].read_text())
    door["site"]["server"]["max_offline_s"] = 4
    strict = tmp_path / "strict.yaml"
    strict.write_text(yaml.safe_dump(door))
    camera = colin_at_the_door(lfw_dir)
    kiosk = KioskProcess(strict, f"http://127.0.0.1:{camera.port}/cam.mjpg")
    try:
        wait_for(lambda: kiosk.granted("colin-powell"), 90, "the strict door grants while in step", [kiosk])
        postgres.stop()
        stopped = time.monotonic()
        try:
            wait_for(lambda: any("out of reach" in d["reason"] for at, d in kiosk.decisions if at > stopped), 30,
                     "the strict door refuses once the site is away too long", [kiosk])
            # the last pull may have been up to sync_poll_s (1 s) before the stop
            assert not kiosk.granted("colin-powell", stopped + 4 + 1 + 0.5), "granted past the bound"
        finally:
            postgres.start()
        back = time.monotonic()
        wait_for(lambda: kiosk.granted("colin-powell", back), 30, "the strict door grants again", [kiosk])
    finally:
        kiosk.stop()
        camera.unplug()
    assert kiosk.process.returncode == 0


def test_a_door_can_insist_on_a_verified_tls_connection_to_postgresql(servers):
    """sslmode verify-full with the site's CA: the session is encrypted; with another CA (the broker's
    throwaway one) the door refuses the server, naming it and never the password."""
    from kiosk.config import PostgresConfig
    from kiosk.site.credentials import SiteCredentials
    from kiosk.site.database import SiteUnreachableError, connect_site

    postgres, broker = servers
    credentials = SiteCredentials(postgres.kiosk_password)
    verified = PostgresConfig(port=postgres.port, user=postgres.kiosk_role, sslmode="verify-full",
                              ssl_root_cert=postgres.ca_file)
    with connect_site(verified, credentials) as connection:
        assert connection.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone() == (True,)
    with pytest.raises(SiteUnreachableError) as refused:
        connect_site(verified.model_copy(update={"ssl_root_cert": broker.ca_file}), credentials)
    assert f"127.0.0.1:{postgres.port}" in str(refused.value) and postgres.kiosk_password not in str(refused.value)


def _door_client(broker, kiosk_id: str, client_id: str | None = None, clean_session: bool = True) -> mqtt.Client:
    """A raw MQTT client with a door's login, as anyone holding its password could use it."""
    connected = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"raw-{kiosk_id}",
                         clean_session=clean_session)
    client.username_pw_set(kiosk_id, KIOSKS[kiosk_id])
    client.on_connect = lambda c, u, f, reason, p: connected.set() if not reason.is_failure else None
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    assert connected.wait(10), f"the broker did not accept {kiosk_id}"
    return client


def _attendance(record_id: str, **changes) -> str:
    return json.dumps({"id": record_id, "person_ref": "visitor", "subject": "visitor", "at": "2026-12-06T09:00:00+00:00",
                       "direction": "in", "door": "main", **changes})


def _durable_site_session(admin: Path, postgres) -> None:
    """`site init` (again): the site service's persistent session at the broker, which queues every door's
    records for `site serve` (an earlier test's probe logged in as the site service with a clean session)."""
    done = run_cli("site", "init", "--kiosk-role", postgres.kiosk_role, "--config", str(admin))
    assert done.returncode == 0, done.stderr


def _serve(admin: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "main.py", "site", "serve", "--config", str(admin)], cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop(service: subprocess.Popen) -> str:
    service.send_signal(signal.SIGTERM)
    _, stderr = service.communicate(timeout=30)
    assert service.returncode == 0, stderr
    return stderr


def test_a_door_cannot_take_over_the_site_service_s_session(servers, site):
    """door-a logs in with the site service's client id and a persistent session while door-b sends
    records: once its own login's session, they were delivered to door-a, which may not read them,
    and lost (36 of 40, silently). Each login's client id is its user name now: all arrive."""
    postgres, broker = servers
    admin, _ = site
    from kiosk.site.collector import SITE_CLIENT_ID

    _durable_site_session(admin, postgres)
    tag = f"takeover-{time.monotonic_ns()}"
    thief = _door_client(broker, "door-a", client_id=SITE_CLIENT_ID, clean_session=False)
    sender = _door_client(broker, "door-b")
    for number in range(10):
        sender.publish("facegate/kiosk/door-b/attendance", _attendance(f"{tag}-{number}"), qos=1).wait_for_publish(5)
    for client in (thief, sender):
        client.disconnect()
        client.loop_stop()
    service = _serve(admin)
    try:
        wait_for(lambda: site_rows(postgres, f"SELECT count(*) FROM kiosk_attendance WHERE event_id LIKE "
                                             f"'door-b/{tag}-%'") == [(10,)], 60, "door-b's 10 records at the site")
    finally:
        _stop(service)


def test_a_poison_message_is_set_aside_and_the_next_one_arrives(servers, site, tmp_path):
    """Each bad message a door (or anyone with its login) can send is acknowledged and kept with its
    reason; the good one after them is stored; `site serve` never stops, not even for a retained
    status it meets again at every start."""
    postgres, broker = servers
    admin, _ = site
    _durable_site_session(admin, postgres)
    tag = f"poison-{time.monotonic_ns()}"
    event = {"id": f"{tag}-e1", "store": "s1", "seq": 1, "at": "2026-12-06T09:00:00+00:00", "kind": "access_granted",
             "person_ref": None, "subject": None, "detail": "not json", "prev_hash": "0" * 64, "hash": "1" * 64}
    poison = [("attendance", _attendance(f"{tag}-1", direction="sideways"), "direction"),
              ("attendance", _attendance(f"{tag}-2", at="2026-12-06Tzz"), "not an ISO 8601 time"),
              ("attendance", _attendance(f"{tag}-3", at="2027-02-30T09:00:00+00:00"), "not an ISO 8601 time"),
              ("attendance", _attendance(f"{tag}-4", person_ref="nul\x00inside"), "NUL"),
              ("events", json.dumps(event), "detail is not JSON"),
              ("attendance", "{not json", "not JSON")]
    door = _door_client(broker, "door-a")
    door.publish("facegate/kiosk/door-a/status", json.dumps({"online": True, "revision": "abc"}), qos=1,
                 retain=True).wait_for_publish(5)
    for kind, payload, _ in poison:
        door.publish(f"facegate/kiosk/door-a/{kind}", payload, qos=1).wait_for_publish(5)
    door.publish("facegate/kiosk/door-a/attendance", _attendance(f"{tag}-good"), qos=1).wait_for_publish(5)
    service = _serve(admin)
    try:
        wait_for(lambda: site_rows(postgres, f"SELECT count(*) FROM kiosk_attendance WHERE event_id = "
                                             f"'door-a/{tag}-good'") == [(1,)], 60, "the good record after the poison")
        assert service.poll() is None
    finally:
        _stop(service)
    reasons = [r[0] for r in site_rows(postgres, "SELECT reason FROM dead_letters WHERE kiosk_id = 'door-a'")]
    for _, _, why in poison:
        assert any(why in reason for reason in reasons), (why, reasons)
    assert sum("revision" in reason for reason in reasons) == 1, reasons
    service = _serve(admin)  # the retained status comes again: set aside once, and the service goes on
    try:
        door.publish("facegate/kiosk/door-a/attendance", _attendance(f"{tag}-after"), qos=1).wait_for_publish(5)
        wait_for(lambda: site_rows(postgres, f"SELECT count(*) FROM kiosk_attendance WHERE event_id = "
                                             f"'door-a/{tag}-after'") == [(1,)], 60, "a record after a restart")
    finally:
        _stop(service)
        door.publish("facegate/kiosk/door-a/status", b"", qos=1, retain=True).wait_for_publish(5)  # clear it
        door.disconnect()
        door.loop_stop()
    assert sum("revision" in r[0] for r in site_rows(postgres, "SELECT reason FROM dead_letters")) == 1
    today = date.today().isoformat()
    export = run_cli("attendance", "export", "--from", "2026-12-01", "--to", today, "--out", str(tmp_path / "a.csv"),
                     "--config", str(admin))
    assert export.returncode == 0, export.stderr


def test_rotate_secret_on_a_station_of_a_site_refuses_instead_of_renewing_its_store_alone(site):
    admin, doors = site
    for config in (admin, doors["door-a"]):
        keys = load_config(config).store.keys.file.expanduser()
        before = keys.read_bytes()
        done = run_cli("store", "rotate-secret", "--config", str(config))
        assert done.returncode == 2 and "share one template secret" in done.stderr, done.stderr
        assert keys.read_bytes() == before


def test_the_offline_bound_runs_on_the_monotonic_clock(site, servers, tmp_path, monkeypatch):
    """A door whose wall clock was set back 1 h once granted a deleted person 16 times in 42 s: its
    bound compared wall-clock times. Now the time away is monotonic: setting the clock back neither
    ends nor stretches it."""
    from types import SimpleNamespace

    from kiosk.site import link as link_module

    _, doors = site
    door = yaml.safe_load(doors["door-b"].read_text())
    door["site"]["server"]["max_offline_s"] = 60
    strict = tmp_path / "strict.yaml"
    strict.write_text(yaml.safe_dump(door))
    config = load_config(strict)
    store, secrets = open_store(config.store.resolved_path, config.store.keys)
    store.close()
    link = link_module.SiteLink(config.site.server, config.store.resolved_path, secrets, "door-b")
    try:
        wait_for(lambda: link.offline_problem() is None, 30, "the door in step with the site")
    finally:
        link.close()  # no more pulls: from here on the site is "away"
    real = time.monotonic()
    clock = SimpleNamespace(time=lambda: time.time() - 3600, monotonic=lambda: real + 10)
    monkeypatch.setattr(link_module, "time", clock)
    assert link.offline_problem() is None  # the wall clock set back 1 h: 10 s away, within the bound
    clock.monotonic = lambda: real + 61
    problem = link.offline_problem()
    assert problem is not None and "out of reach for 6" in problem and "max_offline_s (60 s)" in problem, problem


def test_records_forged_in_a_door_s_name_are_named_and_its_real_records_still_arrive(servers, site):
    """Anyone with door-b's broker login published a correctly chained event and attendance in its name:
    the site stored them as door-b's, `site status` said intact, and door-b's real record with that
    number was then dropped as a duplicate. With door-b's public key trusted, what it did not sign is
    set aside and named, and its own records (signed by its uplink) are stored."""
    from kiosk.site.signing import sign_record
    from kiosk.site.uplink import EventUplink
    from kiosk.store.audit_chain import GENESIS, event_hash
    from kiosk.store.keys import load_secrets

    postgres, broker = servers
    admin, doors = site
    _durable_site_session(admin, postgres)
    shown = json.loads(run_cli("site", "door-key", "--config", str(doors["door-b"]), "--json").stdout)
    assert not shown["created"] and len(shown["public_key"]) == 64  # store init made the door's signing key
    bad = run_cli("site", "trust-door", "door-b", "abc", "--config", str(admin))
    assert bad.returncode == 2 and "public_key: a door's public key is 64 hex digits" in bad.stderr
    assert run_cli("site", "trust-door", "door-b", shown["public_key"], "--config", str(admin)).returncode == 0

    door_config = load_config(doors["door-b"])
    secrets = load_secrets(door_config.store.keys)
    store, _ = open_store(door_config.store.resolved_path, door_config.store.keys, create=True)
    with store:
        with store.transaction():
            store.log_event("access_granted", None, door="door-b")
        seq, at, kind, _, subject, detail, prev_hash, digest = store.events_after(0, 10**9)[-1]
        store_id = store.store_id()
        # the forger knows the real record's number: its forgery takes the id first
        forged = {"id": f"{store_id}-e{seq}", "store": store_id, "seq": seq, "at": at, "kind": "access_granted",
                  "person_ref": None, "subject": subject, "detail": json.dumps({"door": "vault"}),
                  "prev_hash": prev_hash, "hash": event_hash(prev_hash, at, "access_granted", subject,
                                                             json.dumps({"door": "vault"}))}
        other_key = KioskSecrets.generate().door_signing_key
        tag = f"forged-{time.monotonic_ns()}"
        chain = {"id": f"{tag}-e1", "store": tag, "seq": 1, "at": "2026-12-07T09:00:00+00:00", "kind": "access_granted",
                 "person_ref": None, "subject": None, "detail": "{}", "prev_hash": GENESIS,
                 "hash": event_hash(GENESIS, "2026-12-07T09:00:00+00:00", "access_granted", None, "{}")}
        forger = _door_client(broker, "door-b")
        for topic, payload in (("events", forged), ("events", chain),  # a new store id's chain, "intact" before
                               ("events", dict(chain, id=f"{tag}-e2", sig=sign_record(other_key, "door-b", "events",
                                                                                       chain))),
                               ("attendance", json.loads(_attendance(f"{tag}-a")))):
            forger.publish(f"facegate/kiosk/door-b/{topic}", json.dumps(payload), qos=1).wait_for_publish(5)
        forger.disconnect()
        forger.loop_stop()
        uplink = EventUplink(store, door_config.site.server.broker, "door-b", "door-b", KIOSKS["door-b"],
                             secrets.door_signing_key)
        try:
            assert uplink.flush(20).queued == 0
        finally:
            uplink.close()
    service = _serve(admin)
    try:
        wait_for(lambda: site_rows(postgres, f"SELECT signed, detail FROM kiosk_events WHERE event_id = "
                                             f"'door-b/{store_id}-e{seq}'") == [(True, detail)], 60,
                 "door-b's real record, signed, in place of the forgery")
        wait_for(lambda: site_rows(postgres, "SELECT count(*) FROM dead_letters WHERE kiosk_id = 'door-b' AND "
                                             "reason LIKE 'not signed with door door-b%'")[0][0] >= 4, 60,
                 "the four forgeries set aside")
    finally:
        _stop(service)
    assert site_rows(postgres, f"SELECT count(*) FROM kiosk_events WHERE store_id = '{tag}'") == [(0,)]
    status = run_cli("site", "status", "--config", str(admin))
    line = next(line for line in status.stdout.splitlines() if line.strip().startswith("door-b"))
    assert status.returncode == 1 and "records signed" in line and "FORGED: 4 records in its name" in line, status.stdout


def test_the_site_stores_templates_sealed_and_seals_rows_from_before(site, servers, site_gallery):
    """A copy of the site's PostgreSQL shows no site-wide transform; an administrator's next open seals
    rows written before sealing; a door's replica gets the same templates either way."""
    from kiosk.site.credentials import SiteCredentials
    from kiosk.site.database import connect_site
    from kiosk.site.gallery import SiteGallery
    from kiosk.store.keys import load_secrets
    from kiosk.store.records import Person, TemplateSet

    postgres, _ = servers
    vectors = np.eye(2, 128, dtype=np.float32)
    with site_gallery.transaction():
        site_gallery.upsert_person(Person("sealed-one", "Sealed One"))
        site_gallery.replace_templates("sealed-one", TemplateSet(vectors, SYNTHETIC, "p", 1))

    def stored() -> list[tuple]:
        return site_rows(postgres, "SELECT template, salt FROM templates t WHERE person_id = 'sealed-one' ORDER BY id")

    rows = stored()
    assert all(salt is not None and abs(np.frombuffer(template, np.float32) @ vectors[i]) < 0.5
               for i, (template, salt) in enumerate(rows))
    np.testing.assert_allclose(site_gallery.gallery_matrix(SYNTHETIC).templates[-2:], vectors, atol=1e-6)
    import psycopg
    with psycopg.connect(host="127.0.0.1", port=postgres.port, user=postgres.owner, password=postgres.owner_password,
                         dbname=postgres.dbname) as connection:
        connection.execute("UPDATE templates SET template = %s, salt = NULL WHERE person_id = 'sealed-one'",
                           (vectors[0].tobytes(),))
    admin_config = load_config(site[0])
    owner = admin_config.site.server.postgres
    with SiteGallery(connect_site(owner, SiteCredentials(postgres.owner_password)), owner,
                     load_secrets(admin_config.store.keys)) as reopened:
        assert all(salt is not None for _, salt in stored())
        np.testing.assert_allclose(reopened.gallery_matrix(SYNTHETIC).templates[-2:], np.stack([vectors[0]] * 2),
                                   atol=1e-6)


def test_two_applies_of_one_face_at_once_enroll_it_once(site, servers, site_gallery):
    """Two administrators enroll the same face under two ids at the same moment: each duplicate check
    read the gallery before the other's commit, and both were enrolled (2 runs of 3). Now a change
    takes the site's lock before it reads, so the second sees the first and refuses."""
    from kiosk.enrollment import Candidate, EnrollmentPolicy, PhotoEnrollment, write_enrollments
    from kiosk.protection import KeyedProtector
    from kiosk.recognition.quality import QualityGates
    from kiosk.site.credentials import SiteCredentials
    from kiosk.site.database import connect_site
    from kiosk.site.gallery import SiteGallery
    from kiosk.store.keys import load_secrets
    from kiosk.store.records import Consent, Person

    postgres, _ = servers
    admin_config = load_config(site[0])
    owner, secrets = admin_config.site.server.postgres, load_secrets(admin_config.store.keys)
    protector = KeyedProtector(secrets.template_secret, secrets.template_secret_version, 128)
    policy = EnrollmentPolicy(QualityGates(), 1, 10, duplicate_threshold=0.5, review_threshold=None)
    face = np.random.default_rng(5).standard_normal(128).astype(np.float32)

    def candidate(person_id: str) -> Candidate:
        return Candidate(Person(person_id, person_id), Consent(person_id, date(2026, 12, 7), "doors"),
                         PhotoEnrollment([face], [50.0]))

    entered, release, reports = threading.Event(), threading.Event(), {}

    def hold(_store) -> None:  # the first apply, inside its transaction, after its writes
        entered.set()
        release.wait(30)

    second = SiteGallery(connect_site(owner, SiteCredentials(postgres.owner_password)), owner, secrets)
    first_apply = threading.Thread(target=lambda: reports.setdefault("first", write_enrollments(
        site_gallery, protector, SYNTHETIC, policy, [candidate("twin-one")], hold)))
    second_apply = threading.Thread(target=lambda: reports.setdefault("second", write_enrollments(
        second, protector, SYNTHETIC, policy, [candidate("twin-two")])))
    first_apply.start()
    assert entered.wait(30)
    second_apply.start()
    try:
        wait_for(lambda: site_rows(postgres, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                   ) != [(0,)], 30, "the second apply waiting for the first")
    finally:
        release.set()
        first_apply.join(30)
        second_apply.join(30)
        second.close()
    assert reports["first"].enrolled == ["twin-one"]
    assert reports["second"].enrolled == [] and reports["second"].refused["twin-two"].startswith(
        "face already enrolled as twin-one")


def test_postgresql_lost_during_a_gallery_apply_is_one_line_and_nobody_is_half_written(site, servers, lfw_dir,
                                                                                       tmp_path):
    """PostgreSQL stopped while `gallery apply` enrolls: nobody was half-enrolled (good), but the
    administrator got a psycopg OperationalError traceback."""
    from tests.gallery_files import lfw_people_with_photos

    postgres, _ = servers
    admin, _ = site
    names = lfw_people_with_photos(lfw_dir, 24, skip=40)
    gallery = write_gallery(tmp_path / "g.yaml", [person_entry(lfw_dir, name, [1]) for name in names])
    apply = subprocess.Popen([sys.executable, "main.py", "gallery", "apply", str(gallery), "--config", str(admin)],
                             cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: site_rows(postgres, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'facegate' "
                                             "AND pid <> pg_backend_pid()") != [(0,)], 60,
                 "the apply's connection to the site")
        postgres.stop()  # before its write: it is still loading models or reading photos
        _, stderr = apply.communicate(timeout=120)
    finally:
        if apply.poll() is None:
            apply.kill()
        postgres.start()
    assert apply.returncode == 2 and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1].startswith("error: the connection to the site's PostgreSQL was lost"), stderr
    quoted = ", ".join(f"'{person_entry(lfw_dir, name, [1])['id']}'" for name in names)
    assert site_rows(postgres, f"SELECT count(*) FROM people WHERE id IN ({quoted})") == [(0,)]


def test_site_init_says_while_a_door_s_role_can_fill_the_disk_with_large_objects(site, servers):
    """A door's read-only role could create persistent large objects (rows outside any table, never
    removed); only the superuser can take that away, and `site init` warns until it is done."""
    import psycopg

    postgres, _ = servers
    admin, _ = site

    def as_role(user: str, password: str):
        return psycopg.connect(host="127.0.0.1", port=postgres.port, user=user, password=password,
                               dbname=postgres.dbname, autocommit=True)

    init = json.loads(run_cli("site", "init", "--kiosk-role", postgres.kiosk_role, "--config", str(admin),
                              "--json").stdout)
    assert init["roles_open_to_large_objects"] == [postgres.kiosk_role]
    with as_role(postgres.kiosk_role, postgres.kiosk_password) as door:
        made = door.execute("SELECT lo_create(0)").fetchone()[0]  # what a door's login could do
        door.execute("SELECT lo_unlink(%s)", (made,))
    with as_role("postgres", "super-pw") as superuser:
        superuser.execute("REVOKE EXECUTE ON FUNCTION lo_create(oid), lo_creat(integer), lo_from_bytea(oid, bytea), "
                          "lo_import(text), lo_import(text, oid) FROM PUBLIC")
    done = run_cli("site", "init", "--kiosk-role", postgres.kiosk_role, "--config", str(admin))
    assert done.returncode == 0 and "WARNING" not in done.stdout, done.stdout
    with as_role(postgres.kiosk_role, postgres.kiosk_password) as door:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            door.execute("SELECT lo_create(0)")


SOAK_ROUNDS = 3  # restarts of each part
SOAK_PAUSE_S = 4.0  # between two disruptions: the door keeps deciding all along
REVOKED_WITHIN_S = 5.0  # a deletion at the site reaches a connected door within this (NOTIFY, then a pull)


def test_soak_restarts_of_every_part_lose_and_duplicate_no_record(site, servers, lfw_dir, tmp_path):
    """The door's kiosk killed (SIGKILL) and restarted, the site service killed and restarted,
    PostgreSQL and the broker stopped and started, SOAK_ROUNDS times each, in a seeded random order,
    while a member keeps coming to the door, then the member revoked at the site: the deletion reaches
    the door within REVOKED_WITHIN_S and it grants him nothing after, and every record the door holds is
    at the site exactly once."""
    import random

    postgres, broker = servers
    admin, doors = site
    _durable_site_session(admin, postgres)
    gallery = write_gallery(tmp_path / "g.yaml", [person_entry(lfw_dir, "Colin_Powell", [1, 2, 3],
                                                                person_id="colin-powell")])
    assert run_cli("gallery", "apply", str(gallery), "--config", str(admin)).returncode == 0
    before_events, before_attendance = last_numbers(doors["door-a"])  # what earlier tests left: not counted
    camera = colin_at_the_door(lfw_dir)
    url = f"http://127.0.0.1:{camera.port}/cam.mjpg"
    door = KioskProcess(doors["door-a"], url)
    service = _serve(admin)
    disruptions = ["kiosk", "service", "postgres", "broker"] * SOAK_ROUNDS
    random.Random(20261207).shuffle(disruptions)
    started = time.monotonic()
    try:
        for part in disruptions:
            if part == "kiosk":
                door.process.kill()
                door.process.wait(timeout=30)
                door = KioskProcess(doors["door-a"], url)
            elif part == "service":
                service.kill()
                service.wait(timeout=30)
                service = _serve(admin)
            elif part == "postgres":
                postgres.stop()
                time.sleep(SOAK_PAUSE_S / 2)  # a real outage, not a blink
                postgres.start()
            else:
                broker.stop()
                time.sleep(SOAK_PAUSE_S / 2)
                broker.start()
            since = time.monotonic()
            wait_for(lambda kiosk=door, after=since: kiosk.granted("colin-powell", after), 90,
                     f"the door granting again after the {part}", [door])
            time.sleep(SOAK_PAUSE_S)
        # revoked at the end of it all: the change reaches the door's replica within the bound, and the
        # door grants him nothing after it
        revoked = time.monotonic()  # the administrator's command starts
        assert run_cli("gallery", "remove", "colin-powell", "--yes", "--config", str(admin)).returncode == 0
        reached_s = time.monotonic() - revoked + wait_for(lambda: not replica_holds(doors["door-a"], "colin-powell"), 60,
                             "the deletion in the door's replica", [door])
        time.sleep(REVOKED_WITHIN_S)  # the door goes on watching the member at its camera
        granted_after_bound = door.granted("colin-powell", revoked + REVOKED_WITHIN_S)
        door.stop()
    finally:
        if door.process.poll() is None:
            door.process.kill()
        camera.unplug()
    soaked_s = time.monotonic() - started
    local_events, local_attendance = local_records(doors["door-a"], after=(before_events, before_attendance))
    store_ids = site_rows(postgres, "SELECT DISTINCT store_id FROM kiosk_events WHERE kiosk_id = 'door-a'")

    def at_site() -> tuple[int, int, int]:
        """The soak's records at the site: numbered after what the door held before it."""
        events, distinct = site_rows(postgres, "SELECT count(*), count(DISTINCT (store_id, seq)) FROM kiosk_events "
                                               f"WHERE kiosk_id = 'door-a' AND seq > {before_events}")[0]
        attendance = site_rows(postgres, "SELECT count(*) FROM kiosk_attendance WHERE kiosk_id = 'door-a' AND "
                                         f"CAST(substring(event_id from '-a([0-9]+)$') AS BIGINT) > {before_attendance}"
                               )[0][0]
        return events, distinct, attendance

    try:
        wait_for(lambda: at_site()[0] >= local_events and at_site()[2] >= local_attendance, 180,
                 lambda: f"the door's {local_events} events and {local_attendance} attendance records at the site "
                         f"(there: {at_site()})")
    finally:
        _stop(service)
    events, distinct, attendance = at_site()
    assert len(store_ids) == 1 and (events, distinct, attendance) == (local_events, local_events, local_attendance), (
        (events, distinct, attendance), (local_events, local_attendance))
    assert reached_s < REVOKED_WITHIN_S and granted_after_bound == [], (reached_s, granted_after_bound)
    print(f"soak: {SOAK_ROUNDS} restarts each of the kiosk, site serve, PostgreSQL and the broker in {soaked_s:.0f} s; "
          f"{local_events} events and {local_attendance} attendance records, 0 lost, 0 duplicated; the member "
          f"revoked at the end reached the door in {reached_s:.1f} s, 0 grants to him after {REVOKED_WITHIN_S:g} s")


def test_a_card_another_person_holds_at_the_site_is_refused_by_name(site, servers, site_gallery):
    """Two applies planned at once both see a card free; the site's unique index refuses the second,
    said as such, and nothing of that apply is written (before: a UniqueViolation traceback)."""
    from kiosk.errors import CardTakenError
    from kiosk.store.records import Person

    with site_gallery.transaction():
        site_gallery.upsert_person(Person("card-one", "Card One", card="wiegand34:9:9"))
    with pytest.raises(CardTakenError, match="card-two: card wiegand34:9:9 is already another person's"):
        with site_gallery.transaction():
            site_gallery.upsert_person(Person("card-two", "Card Two", card="wiegand34:9:9"))
    assert site_gallery.get_person("card-two") is None and site_gallery.get_person("card-one").card == "wiegand34:9:9"
