"""The kiosk at work on a real video of visits: decisions, attendance, audit chain, camera loss."""

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import date

import cv2
import numpy as np
import pytest

from kiosk.bench.frames import door_frame
from kiosk.config import load_config
from kiosk.imageio import read_image
from kiosk.paths import PROJECT_ROOT
from kiosk.site.throwaway import free_port
from kiosk.store.access import open_store
from kiosk.store.records import WEEKDAYS
from tests.gallery_files import person_entry, write_gallery, write_kiosk_config
from tests.test_cli import run_cli
from tests.visits import MjpegCamera, Visit, write_visits_video

ENROLLED = {"colin-powell": ("Colin_Powell", [1, 2, 3], 4), "serena-williams": ("Serena_Williams", [1, 2, 3], 4)}


@pytest.fixture(scope="module")
def kiosk_with_gallery(tmp_path_factory, lfw_dir, models_built):
    folder = tmp_path_factory.mktemp("kiosk")
    # The visitors are LFW still photos: liveness (which refuses photos) is tested in test_liveness.
    config = write_kiosk_config(folder, liveness={"enabled": False})
    assert run_cli("store", "init", "--config", str(config)).returncode == 0
    people = [person_entry(lfw_dir, name, numbers, person_id=pid) for pid, (name, numbers, _) in ENROLLED.items()]
    people.append(person_entry(lfw_dir, "Tony_Blair", [1, 2], person_id="tony-blair", enabled=False))
    not_today = [day for day in WEEKDAYS if day != WEEKDAYS[date.today().weekday()]]
    people.append(person_entry(lfw_dir, "Jennifer_Aniston", [1, 2, 3], person_id="jennifer-aniston",
                               schedule={"days": not_today, "from": "00:00", "until": "23:59"}))
    applied = run_cli("gallery", "apply", str(write_gallery(folder / "g.yaml", people)), "--config", str(config), "--json")
    assert json.loads(applied.stdout)["applied"] == {"add": 4}, applied.stderr
    return config


def photo(lfw_dir, person, number):
    return lfw_dir / "images" / person / f"{person}_{number:04d}.jpg"


def run_kiosk(config, source) -> tuple[list[dict], dict]:
    done = subprocess.run([sys.executable, "main.py", "run", "--source", str(source), "--config", str(config)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    decisions = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    summary = json.loads(done.stderr.strip().splitlines()[-1])["summary"]
    return decisions, summary


def test_a_video_of_visits_gives_one_decision_per_visit(kiosk_with_gallery, lfw_dir, tmp_path):
    visits = [Visit(photo(lfw_dir, "Colin_Powell", 4)), Visit(photo(lfw_dir, "Gerhard_Schroeder", 1)),
              Visit(photo(lfw_dir, "Serena_Williams", 4)), Visit(photo(lfw_dir, "Tony_Blair", 3)),
              Visit(photo(lfw_dir, "Jennifer_Aniston", 4)), Visit(photo(lfw_dir, "Vladimir_Putin", 1))]
    video = write_visits_video(tmp_path / "visits.avi", visits)
    decisions, summary = run_kiosk(kiosk_with_gallery, video)
    assert [(d["outcome"], d["person_id"]) for d in decisions] == [
        ("granted", "colin-powell"), ("unknown", None), ("granted", "serena-williams"),
        ("denied", "tony-blair"), ("denied", "jennifer-aniston"), ("unknown", None)]
    assert decisions[3]["reason"] == "disabled" and decisions[4]["reason"].startswith("outside schedule")
    assert summary["dropped_frames"] == 0 and summary["decisions"] == 6 and summary["visits_started_over"] == 0
    today = date.today().isoformat()
    export = json.loads(run_cli("attendance", "export", "--from", today, "--to", today, "--out",
                                str(tmp_path / "a.xlsx"), "--format", "xlsx", "--config", str(kiosk_with_gallery),
                                "--json").stdout)
    assert export["people"] == ["colin-powell", "serena-williams"]
    assert (tmp_path / "a.xlsx").read_bytes()[:2] == b"PK"
    audit = json.loads(run_cli("audit", "verify", "--config", str(kiosk_with_gallery), "--json").stdout)
    assert audit["ok"] is True and audit["events"] >= 5


def test_a_face_that_changes_in_place_starts_its_visit_over_and_each_person_is_decided(kiosk_with_gallery, lfw_dir,
                                                                                      tmp_path):
    """One photo replaced by another in the same place, with no empty doorway between: the tracker
    keeps the track, the embedding says another face, the visit starts over (counted in the summary)."""
    swapped = write_visits_video(tmp_path / "swapped.avi", [Visit(photo(lfw_dir, "Colin_Powell", 4)),
                                                            Visit(photo(lfw_dir, "Serena_Williams", 4))], gap_seconds=0)
    decisions, summary = run_kiosk(kiosk_with_gallery, swapped)
    assert [(d["outcome"], d["person_id"]) for d in decisions] == [
        ("granted", "colin-powell"), ("granted", "serena-williams")], decisions
    assert summary["visits_started_over"] >= 1, summary


def test_a_camera_that_dies_and_comes_back_is_reconnected_and_audited(kiosk_with_gallery, lfw_dir):
    frame = cv2.cvtColor(door_frame(read_image(photo(lfw_dir, "Colin_Powell", 4))), cv2.COLOR_RGB2BGR)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    camera = MjpegCamera([(cv2.imencode(".jpg", frame)[1].tobytes(), 1.0)], port)
    camera.plug()

    def outage() -> None:
        time.sleep(4)
        camera.unplug()
        time.sleep(3)
        camera.plug()

    threading.Thread(target=outage, daemon=True).start()
    done = subprocess.run([sys.executable, "main.py", "run", "--source", f"http://127.0.0.1:{port}/cam.mjpg",
                           "--max-seconds", "14", "--config", str(kiosk_with_gallery)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    camera.unplug()
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stderr.strip().splitlines()[-1])["summary"]
    assert summary["reconnects"] >= 1
    decisions = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert decisions and decisions[0]["outcome"] == "granted"
    config = load_config(kiosk_with_gallery)
    store, _ = open_store(config.store.resolved_path, config.store.keys)
    with store:
        kinds = [e.kind for e in reversed(store.events(limit=50, kinds=("source_lost", "source_recovered")))]
        assert store.audit_break() is None
    assert "source_lost" in kinds and kinds.index("source_recovered") > kinds.index("source_lost")


def test_a_person_deleted_while_the_kiosk_runs_is_refused_within_two_seconds(tmp_path, lfw_dir, models_built):
    """`gallery remove` from another process while `run` watches a camera where Colin Powell keeps
    coming back: from 2 s after the delete he is a stranger, and his id is never written again."""
    config = write_kiosk_config(tmp_path, liveness={"enabled": False}, recognition={"cooldown_s": 0})
    assert run_cli("store", "init", "--config", str(config)).returncode == 0
    people = [person_entry(lfw_dir, name, numbers, person_id=pid) for pid, (name, numbers, _) in ENROLLED.items()]
    gallery = write_gallery(tmp_path / "g.yaml", people)
    assert run_cli("gallery", "apply", str(gallery), "--config", str(config)).returncode == 0
    visit = cv2.cvtColor(door_frame(read_image(photo(lfw_dir, "Colin_Powell", 4))), cv2.COLOR_RGB2BGR)
    doorway = np.full_like(visit, 96)
    port = free_port()
    camera = MjpegCamera([(cv2.imencode(".jpg", visit)[1].tobytes(), 1.2),
                          (cv2.imencode(".jpg", doorway)[1].tobytes(), 1.2)], port)
    camera.plug()
    kiosk = subprocess.Popen([sys.executable, "main.py", "run", "--source", f"http://127.0.0.1:{port}/cam.mjpg",
                              "--max-seconds", "20", "--config", str(config)],
                             cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    arrivals: list[tuple[float, dict]] = []  # when each decision reached us, and the decision

    def read_decisions() -> None:
        for line in kiosk.stdout:
            arrivals.append((time.monotonic(), json.loads(line)))

    reader = threading.Thread(target=read_decisions, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not any(d["outcome"] == "granted" for _, d in arrivals):
            assert time.monotonic() < deadline and kiosk.poll() is None, kiosk.stderr.read() if kiosk.poll() else arrivals
            time.sleep(0.1)
        removed = run_cli("gallery", "remove", "colin-powell", "--yes", "--config", str(config))
        assert removed.returncode == 0, removed.stderr
        deleted_at = time.monotonic()
        assert kiosk.wait(timeout=90) == 0, kiosk.stderr.read()
        reader.join(timeout=5)
    finally:
        kiosk.kill()
        camera.unplug()
    later = [d for at, d in arrivals if at > deleted_at + 2]
    assert len(later) >= 3 and all(d["outcome"] == "unknown" and d["person_id"] is None for d in later), arrivals
    store, _ = open_store(load_config(config).store.resolved_path, load_config(config).store.keys)
    with store:
        assert "colin-powell" not in {event.person_ref for event in store.events(limit=1000)}
        assert store.audit_break() is None


def test_run_on_a_video_that_gives_no_frame_fails_with_a_message(kiosk_with_gallery, lfw_dir, tmp_path):
    video = write_visits_video(tmp_path / "visits.avi", [Visit(photo(lfw_dir, "Colin_Powell", 4))])
    damaged = tmp_path / "damaged.avi"
    damaged.write_bytes(video.read_bytes()[:300])  # the header only
    done = subprocess.run([sys.executable, "main.py", "run", "--source", str(damaged), "--config",
                           str(kiosk_with_gallery)], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          errors="replace", timeout=120)
    assert done.returncode == 2 and "not a single frame could be read" in done.stderr, done.stderr


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_run_stops_cleanly_on_a_service_managers_signal(kiosk_with_gallery, lfw_dir, stop_signal):
    """SIGTERM as systemd and Docker send it, and SIGINT to a kiosk whose parent started it with
    SIGINT ignored (a background job): the kiosk finishes, writes its summary and exits 0 within 10 s."""
    frame = cv2.cvtColor(door_frame(read_image(photo(lfw_dir, "Colin_Powell", 4))), cv2.COLOR_RGB2BGR)
    camera = MjpegCamera([(cv2.imencode(".jpg", frame)[1].tobytes(), 1.0)], free_port())
    camera.plug()
    kiosk = subprocess.Popen([sys.executable, "main.py", "run", "--source", f"http://127.0.0.1:{camera.port}/cam.mjpg",
                              "--config", str(kiosk_with_gallery)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        assert kiosk.stdout is not None
        first = json.loads(kiosk.stdout.readline())  # blocks until the kiosk has decided once: it is at work
        assert first["outcome"] == "granted", first
        kiosk.send_signal(stop_signal)
        signalled = time.monotonic()
        stdout, stderr = kiosk.communicate(timeout=60)
        stopped_within = time.monotonic() - signalled
    finally:
        kiosk.kill()
        camera.unplug()
    assert kiosk.returncode == 0, stderr
    assert stopped_within < 10, stopped_within
    assert all(json.loads(line) for line in stdout.splitlines())  # every line it wrote is whole
    summary = json.loads(stderr.strip().splitlines()[-1])["summary"]
    assert summary["stopped_by"] == stop_signal.name and summary["decisions"] >= 1
    config = load_config(kiosk_with_gallery)
    store, _ = open_store(config.store.resolved_path, config.store.keys)
    with store:
        assert store.audit_break() is None


def test_rotate_secret_refuses_while_a_kiosk_runs_on_the_store(kiosk_with_gallery, lfw_dir):
    """Before, it renewed the templates under the running kiosk, which then called every member
    "unknown" (542 times) and wrote records it could not sign, even after a restart."""
    frame = cv2.cvtColor(door_frame(read_image(photo(lfw_dir, "Colin_Powell", 4))), cv2.COLOR_RGB2BGR)
    camera = MjpegCamera([(cv2.imencode(".jpg", frame)[1].tobytes(), 1.0)], free_port())
    camera.plug()
    config = load_config(kiosk_with_gallery)
    keys_before = config.store.keys.file.expanduser().read_bytes()
    kiosk = subprocess.Popen([sys.executable, "main.py", "run", "--source", f"http://127.0.0.1:{camera.port}/cam.mjpg",
                              "--config", str(kiosk_with_gallery)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert kiosk.stdout is not None
        assert json.loads(kiosk.stdout.readline())["outcome"] == "granted"  # at work on the store
        rotated = run_cli("store", "rotate-secret", "--config", str(kiosk_with_gallery))
        assert rotated.returncode == 2 and "in use" in rotated.stderr and f"pid {kiosk.pid}" in rotated.stderr, \
            rotated.stderr
        assert config.store.keys.file.expanduser().read_bytes() == keys_before
        assert not config.store.keys.file.expanduser().with_suffix(".pending.json").exists()
        kiosk.send_signal(signal.SIGTERM)
        kiosk.communicate(timeout=60)
    finally:
        kiosk.kill()
        camera.unplug()
    assert kiosk.returncode == 0


HOLD_THE_STORE = """
import sys, time
from pathlib import Path
from kiosk.config import load_config
from kiosk.store.access import open_store
config = load_config(Path(sys.argv[1]))
store, _ = open_store(config.store.resolved_path, config.store.keys)
with store, store.transaction():
    print("held", flush=True)
    time.sleep(8)
"""


def test_a_running_kiosk_keeps_deciding_while_another_process_holds_the_store(tmp_path, lfw_dir, models_built):
    """Another process holds the write lock for 8 s (a long rotation, a big apply): before, the kiosk
    stopped after 5 s (exit 2). Now it goes on deciding on the gallery it has loaded, and its records
    wait in memory and are written, in order and chained, once the lock is free."""
    config = write_kiosk_config(tmp_path, liveness={"enabled": False}, recognition={"cooldown_s": 0})
    assert run_cli("store", "init", "--config", str(config)).returncode == 0
    gallery = write_gallery(tmp_path / "g.yaml", [person_entry(lfw_dir, "Colin_Powell", [1, 2, 3],
                                                               person_id="colin-powell")])
    assert run_cli("gallery", "apply", str(gallery), "--config", str(config)).returncode == 0
    visit = cv2.cvtColor(door_frame(read_image(photo(lfw_dir, "Colin_Powell", 4))), cv2.COLOR_RGB2BGR)
    camera = MjpegCamera([(cv2.imencode(".jpg", visit)[1].tobytes(), 1.0),
                          (cv2.imencode(".jpg", np.full_like(visit, 96))[1].tobytes(), 1.0)], free_port())
    camera.plug()
    kiosk = subprocess.Popen([sys.executable, "main.py", "run", "--source", f"http://127.0.0.1:{camera.port}/cam.mjpg",
                              "--config", str(config)], cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    arrivals: list[tuple[float, dict]] = []
    threading.Thread(target=lambda: [arrivals.append((time.monotonic(), json.loads(line))) for line in kiosk.stdout],
                     daemon=True).start()
    holder = None
    try:
        deadline = time.monotonic() + 60
        while not arrivals:
            assert time.monotonic() < deadline and kiosk.poll() is None, "the kiosk never decided"
            time.sleep(0.1)
        holder = subprocess.Popen([sys.executable, "-c", HOLD_THE_STORE, str(config)], cwd=PROJECT_ROOT,
                                  stdout=subprocess.PIPE, text=True)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        held_at = time.monotonic()
        assert holder.wait(timeout=60) == 0
        released_at = time.monotonic()
        assert kiosk.poll() is None, kiosk.stderr.read() if kiosk.stderr else ""
        during = [d for at, d in arrivals if held_at + 0.5 < at < released_at]
        assert len(during) >= 2 and all(d["outcome"] == "granted" for d in during), arrivals
        time.sleep(1)  # a frame or two after the release writes what waited
        kiosk.send_signal(signal.SIGTERM)
        kiosk.wait(timeout=60)
    finally:
        kiosk.kill()
        if holder is not None:
            holder.kill()
        camera.unplug()
    assert kiosk.returncode == 0
    loaded = load_config(config)
    store, _ = open_store(loaded.store.resolved_path, loaded.store.keys)
    with store:
        granted = [e for e in store.events(limit=1000) if e.kind == "access_granted"]
        assert store.audit_break() is None
    assert len(granted) == sum(d["outcome"] == "granted" for _, d in arrivals), (len(granted), len(arrivals))
    assert any("decided_at" in e.detail for e in granted)  # written after the lock, with their own time


def test_a_kiosk_does_not_run_on_a_store_with_a_damaged_page(tmp_path, lfw_dir, models_built):
    """A page failing its HMAC (a bad sector, a bit flipped on the card) went unseen by `run`, which
    granted on: it reads only the pages it needs. The kiosk checks every page as it starts."""
    config = write_kiosk_config(tmp_path, liveness={"enabled": False})
    assert run_cli("store", "init", "--config", str(config)).returncode == 0
    gallery = write_gallery(tmp_path / "g.yaml", [person_entry(lfw_dir, "Colin_Powell", [1, 2, 3])])
    assert run_cli("gallery", "apply", str(gallery), "--config", str(config)).returncode == 0
    video = write_visits_video(tmp_path / "visit.avi", [Visit(photo(lfw_dir, "Colin_Powell", 4))])
    loaded = load_config(config)
    store, _ = open_store(loaded.store.resolved_path, loaded.store.keys)
    with store:  # a page the kiosk never reads as it starts: the consent records'
        page = store._db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'consents'").fetchone()[0]
    data = bytearray(loaded.store.resolved_path.read_bytes())
    data[(page - 1) * 4096 + 2000] ^= 0x40  # one bit
    loaded.store.resolved_path.write_bytes(bytes(data))
    done = subprocess.run([sys.executable, "main.py", "run", "--source", str(video), "--config", str(config)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 3 and done.stdout.strip() == "", (done.returncode, done.stdout, done.stderr)
    assert "the store is damaged" in done.stderr and "restored from a backup" in done.stderr, done.stderr
