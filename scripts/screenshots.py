"""Render the GUI offscreen into docs/screenshots/: the kiosk screen (granted, not recognised), each
enrollment wizard step, and administration. Faces come from the pinned sample photos of the
face_recognition package (MIT), never from ../shared/data.

    .venv/bin/python scripts/screenshots.py
"""

import os
import sys
import tempfile
from datetime import date
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("GLOG_minloglevel", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PySide6.QtWidgets import QApplication, QTabWidget  # noqa: E402

from kiosk.admin_pin import set_pin  # noqa: E402
from kiosk.bench.frames import door_frame  # noqa: E402
from kiosk.config import GuiConfig, KioskConfig, LivenessConfig, StoreConfig  # noqa: E402
from kiosk.enrollment import Candidate, EnrollmentPolicy, PhotoEnrollment, write_enrollments  # noqa: E402
from kiosk.imageio import decode_image  # noqa: E402
from kiosk.protection import protector_for
from kiosk.recognition.pipeline import FacePipeline  # noqa: E402
from kiosk.store.access import open_store  # noqa: E402
from kiosk.store.keys import KeySourceConfig, KioskSecrets, save_secrets  # noqa: E402
from kiosk.store.records import Consent, Person  # noqa: E402
from models.registry import fetch, load_packages, read_member  # noqa: E402
from ui.main_window import MainWindow  # noqa: E402
from ui.theme import STYLESHEET  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PREFIX = "face_recognition-1.3.0/tests/test_images/"


def sample(name: str) -> np.ndarray:
    return decode_image(read_member(fetch(load_packages()["face-recognition-samples"]), f"{PREFIX}{name}.jpg"), name)


def wait_for(app: QApplication, condition, seconds: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    if not condition():
        raise SystemExit("the GUI did not reach the expected state in time")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="facegate-shots-"))
    keys = KeySourceConfig(file=scratch / "keys.json")
    save_secrets(keys, KioskSecrets.generate())
    # The sample photos stand in for visitors, so liveness (which would refuse them) is off here.
    # windowed: a full-screen kiosk asks for the PIN before it closes
    config = KioskConfig(store=StoreConfig(path=scratch / "gallery.db", keys=keys), liveness=LivenessConfig(enabled=False),
                         gui=GuiConfig(fullscreen=False))
    store, secrets = open_store(config.store.path, keys, create=True)
    with FacePipeline.from_config(config) as pipeline:
        embeddings = np.stack([pipeline.encode_one(sample(n), n).template for n in ("obama", "obama3")])
        protector = protector_for(secrets, pipeline.manifest, provider="cpu")
        write_enrollments(store, protector, pipeline.manifest.id, EnrollmentPolicy.from_config(config, protector),
                          [Candidate(Person("e1044", "Barack Obama", "staff"),
                                     Consent("Barack Obama", date.today(), "door access"),
                                     PhotoEnrollment(list(embeddings), [100.0, 100.0]))])
    set_pin(store, "2468")
    store.close()
    app = QApplication.instance() or QApplication([])
    app.setStyleSheet(STYLESHEET)
    window = kiosk_window(config, still_video(scratch / "visits.avi", ("obama2", "biden"), 60))
    shoot_when(app, window, "Welcome", "kiosk_granted.png")
    shoot_when(app, window, "Not recognised", "kiosk_not_recognised.png")
    window.show_admin()
    window.admin.refresh()
    window.grab().save(str(OUT / "admin.png"))
    tabs = window.admin.findChild(QTabWidget)
    tabs.setCurrentIndex(1)  # the records, in plain words
    app.processEvents()
    window.grab().save(str(OUT / "admin_events.png"))
    tabs.setCurrentIndex(2)  # who came and went, day by day
    app.processEvents()
    window.grab().save(str(OUT / "admin_attendance.png"))
    tabs.setCurrentIndex(3)  # the status, in plain words
    app.processEvents()
    window.grab().save(str(OUT / "admin_status.png"))
    tabs.setCurrentIndex(0)
    wizard = window.make_wizard(None)
    wizard.resize(900, 700)
    wizard.show()
    wizard.details.person_id.setText("e1061")
    wizard.details.name.setText("Joe Biden")
    app.processEvents()
    wizard.grab().save(str(OUT / "wizard_1_details.png"))
    wizard.next()
    wizard.consent.agreed.setChecked(True)
    app.processEvents()
    wizard.grab().save(str(OUT / "wizard_2_consent.png"))
    wizard.next()
    photo = scratch / "biden.jpg"
    cv2.imwrite(str(photo), cv2.cvtColor(sample("biden"), cv2.COLOR_RGB2BGR))
    wizard.capture.enroll_files([photo])
    wait_for(app, wizard.capture.isComplete)
    wizard.grab().save(str(OUT / "wizard_3_capture.png"))
    wizard.next()
    app.processEvents()
    wizard.grab().save(str(OUT / "wizard_4_review.png"))
    wizard.reject()
    window.close()
    _liveness_screens(app, config, scratch)
    print(f"screenshots written to {OUT}")


def _liveness_screens(app, config: KioskConfig, scratch: Path) -> None:
    """Liveness on: a member's photo held to the camera is asked for an action (the draw limited to a
    turn to the left here, so the picture is the same each time), then refused."""
    guarded = config.model_copy(update={"liveness": LivenessConfig(enabled=True, prompt_actions=["turn_left"])})
    window = kiosk_window(guarded, still_video(scratch / "photo.avi", ("obama2",), 15 * 8))
    shoot_when(app, window, "turn your head to your left", "kiosk_turn_prompt.png")
    shoot_when(app, window, "not a photo", "kiosk_spoof_suspected.png")
    window.close()


def still_video(path: Path, names: tuple[str, ...], frames_each: int) -> Path:
    """A 15 fps video of sample photos at a door camera's distance, each held for `frames_each` frames."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15, (640, 480))
    for name in names:
        frame = cv2.cvtColor(door_frame(sample(name)), cv2.COLOR_RGB2BGR)
        for _ in range(frames_each):
            writer.write(frame)
    writer.release()
    return path


def kiosk_window(config: KioskConfig, video: Path) -> MainWindow:
    window = MainWindow(config, str(video))
    window.resize(1280, 800)
    window.show()
    return window


def shoot_when(app, window: MainWindow, banner_text: str, file_name: str) -> None:
    wait_for(app, lambda: banner_text in window.kiosk.banner.text())
    window.grab().save(str(OUT / file_name))

if __name__ == "__main__":
    main()
