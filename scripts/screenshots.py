"""Render the GUI into docs/screenshots/WxH/ at 1280x800 and 1920x1080: the kiosk screen (granted,
not recognised, an action prompt, a refused photo), each enrollment wizard step, and administration.
At each size every visible text is checked to fit its widget (ui/fit.py); a clipped one is listed and
the script exits 1. Where the X screen is as large as a size, the kiosk window is shown full screen
as the kiosk shows it (also without a window manager), and must cover the screen. Faces come from
the pinned sample photos of the face_recognition package (MIT), never from ../shared/data.

    .venv/bin/python scripts/screenshots.py                          # offscreen
    xvfb-run -s "-screen 0 1920x1080x24" env QT_QPA_PLATFORM=xcb .venv/bin/python scripts/screenshots.py
"""

import argparse
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
from PySide6.QtCore import QSize  # noqa: E402
from PySide6.QtWidgets import QApplication, QTabWidget, QWidget  # noqa: E402

from kiosk.admin_pin import set_pin  # noqa: E402
from kiosk.bench.frames import door_frame  # noqa: E402
from kiosk.config import GuiConfig, KioskConfig, LivenessConfig, StoreConfig  # noqa: E402
from kiosk.enrollment import Candidate, EnrollmentPolicy, PhotoEnrollment, write_enrollments  # noqa: E402
from kiosk.imageio import decode_image  # noqa: E402
from kiosk.protection import protector_for  # noqa: E402
from kiosk.recognition.pipeline import FacePipeline  # noqa: E402
from kiosk.store.access import open_store  # noqa: E402
from kiosk.store.keys import KeySourceConfig, KioskSecrets, save_secrets  # noqa: E402
from kiosk.store.records import Consent, Person  # noqa: E402
from models.registry import fetch, load_packages, read_member  # noqa: E402
from ui.app import show_kiosk  # noqa: E402
from ui.fit import clipped_texts  # noqa: E402
from ui.main_window import MainWindow  # noqa: E402
from ui.theme import STYLESHEET  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
SIZES = (QSize(1280, 800), QSize(1920, 1080))
PREFIX = "face_recognition-1.3.0/tests/test_images/"


def sample(name: str) -> np.ndarray:
    return decode_image(read_member(fetch(load_packages()["face-recognition-samples"]), f"{PREFIX}{name}.jpg"), name)


def wait_for(app: QApplication, condition, seconds: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    if not condition():
        raise SystemExit("the GUI did not reach the expected state in time")


class Shots:
    """Saves each screen of one size into its folder, and notes every text that does not fit."""

    def __init__(self, app: QApplication, out: Path, size: QSize):
        self.app, self.size = app, size
        self.folder = out / f"{size.width()}x{size.height()}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.problems: list[str] = []

    def save(self, widget: QWidget, file_name: str) -> None:
        self.app.processEvents()
        widget.grab().save(str(self.folder / file_name))
        self.problems += [f"{self.folder.name} {file_name}: {problem}" for problem in clipped_texts(widget)]

    def kiosk_window(self, config: KioskConfig, video: Path) -> MainWindow:
        """Full screen as the kiosk shows itself where the screen is this size; else a window of it."""
        window = MainWindow(config, str(video))
        if window.screen().geometry().size() == self.size:
            show_kiosk(window, fullscreen=True)
            wait_for(self.app, lambda: window.geometry().size() == self.size, 10)
        else:
            window.resize(self.size)
            window.show()
        return window

    def when(self, window: MainWindow, banner_text: str, file_name: str) -> None:
        wait_for(self.app, lambda: banner_text in window.kiosk.banner.text())
        self.save(window, file_name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the WxH subfolders (default docs/screenshots)")
    parser.add_argument("--size", action="append", default=None, metavar="WxH", help="screen size (repeat; default "
                        "1280x800 and 1920x1080)")
    args = parser.parse_args(argv)
    sizes = [QSize(*map(int, size.split("x"))) for size in args.size] if args.size else list(SIZES)
    scratch = Path(tempfile.mkdtemp(prefix="facegate-shots-"))
    keys = KeySourceConfig(file=scratch / "keys.json")
    save_secrets(keys, KioskSecrets.generate())
    # The sample photos stand in for visitors, so liveness (which would refuse them) is off here.
    # fullscreen off in the config: a full-screen kiosk asks for the PIN before it closes
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
    problems = []
    for size in sizes:
        shots = Shots(app, args.out, size)
        _screens(shots, config, scratch)
        problems += shots.problems
        print(f"screenshots written to {shots.folder}")
    for problem in problems:
        print(f"text does not fit: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _screens(shots: Shots, config: KioskConfig, scratch: Path) -> None:
    app = shots.app
    window = shots.kiosk_window(config, still_video(scratch / "visits.avi", ("obama2", "biden"), 60))
    shots.when(window, "Welcome", "kiosk_granted.png")
    shots.when(window, "Not recognised", "kiosk_not_recognised.png")
    window.show_admin()
    window.admin.refresh()
    shots.save(window, "admin.png")
    tabs = window.admin.findChild(QTabWidget)
    for index, name in ((1, "admin_events.png"), (2, "admin_attendance.png"), (3, "admin_status.png")):
        tabs.setCurrentIndex(index)  # the records in plain words; who came and went; the status in words
        shots.save(window, name)
    tabs.setCurrentIndex(0)
    wizard = window.make_wizard(None)  # as it opens: sized to its content, never larger than the screen
    wizard.show()
    wizard.details.person_id.setText("e1061")
    wizard.details.name.setText("Joe Biden")
    shots.save(wizard, "wizard_1_details.png")
    wizard.next()
    wizard.consent.agreed.setChecked(True)
    shots.save(wizard, "wizard_2_consent.png")
    wizard.next()
    photo = scratch / "biden.jpg"
    cv2.imwrite(str(photo), cv2.cvtColor(sample("biden"), cv2.COLOR_RGB2BGR))
    wizard.capture.enroll_files([photo])
    wait_for(app, wizard.capture.isComplete)
    shots.save(wizard, "wizard_3_capture.png")
    wizard.next()
    shots.save(wizard, "wizard_4_review.png")
    wizard.reject()
    window.close()
    _liveness_screens(shots, config, scratch)


def _liveness_screens(shots: Shots, config: KioskConfig, scratch: Path) -> None:
    """Liveness on: a member's photo held to the camera is asked for an action (the draw limited to a
    turn to the left here, so the picture is the same each time), then refused."""
    guarded = config.model_copy(update={"liveness": LivenessConfig(enabled=True, prompt_actions=["turn_left"])})
    window = shots.kiosk_window(guarded, still_video(scratch / "photo.avi", ("obama2",), 15 * 8))
    shots.when(window, "turn your head to your left", "kiosk_turn_prompt.png")
    shots.when(window, "not a photo", "kiosk_spoof_suspected.png")
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


if __name__ == "__main__":
    sys.exit(main())
