"""`demo`: the kiosk at work on a machine with no camera and no data, in a temporary folder.

It runs what an administrator would: `store init`, `gallery apply` of one member from the sample
photos of a pinned package, then the kiosk on rendered videos of visits (a member, a stranger, and,
with liveness on, the member's photo held up to the camera), the day's attendance and `audit verify`.
The visitors are photos, so the first video runs with liveness off, as a test rig would.
"""

import argparse
import contextlib
import io
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import yaml

from kiosk.bench.frames import door_frame, jittered_frames
from kiosk.errors import FacegateError
from kiosk.imageio import read_image
from kiosk.paths import samples_dir

FPS = 15
CHALLENGE_HINTS = ("turn_left", "turn_right", "look_up", "smile", "blink")
MEMBER = {"id": "e1044", "name": "Barack Obama", "photos": ("obama.jpg", "obama3.jpg")}
MEMBER_VISIT, STRANGER_VISIT = "obama2.jpg", "biden.jpg"  # Joe Biden is not enrolled


def sample_photos() -> Path:
    folder = samples_dir()
    missing = [name for name in (*MEMBER["photos"], MEMBER_VISIT, STRANGER_VISIT) if not (folder / name).exists()]
    if missing:
        raise FacegateError(f"{folder}: the demo's sample photos are missing ({', '.join(missing)}); "
                            f"run ./scripts/setup.sh or python main.py models build first")
    return folder


def write_video(path: Path, frames: list[np.ndarray]) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (640, 480))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def visits_video(path: Path, photos: Path) -> Path:
    """The member, then the stranger, each 1.6 s in front of the camera with an empty doorway after."""
    empty = np.full((480, 640, 3), 96, np.uint8)
    frames: list[np.ndarray] = []
    for name in (MEMBER_VISIT, STRANGER_VISIT):
        frames += [door_frame(read_image(photos / name))] * int(1.6 * FPS) + [empty] * int(2 * FPS)
    return write_video(path, frames)


def held_photo_video(path: Path, photos: Path) -> Path:
    """The member's photo held up to the camera by hand for 8 s."""
    return write_video(path, jittered_frames(read_image(photos / MEMBER_VISIT), count=8 * FPS, seed=5))


def write_config(folder: Path, liveness: bool) -> Path:
    """A kiosk config for the temporary store; liveness off for the visits of photos, on for the attack."""
    config = {"store": {"path": str(folder / "gallery.db"), "keys": {"source": "file", "file": str(folder / "keys.json")}},
              "recognition": {"cooldown_s": 0}, "gui": {"fullscreen": False},
              "liveness": {"enabled": liveness, "texture": liveness and _texture_built()},
              "doors": [{"name": "main", "pulse_s": 1, "outputs": [{"type": "log"}]}]}
    path = folder / ("kiosk_liveness.yaml" if liveness else "kiosk.yaml")
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _texture_built() -> bool:
    from kiosk.manifest import load_liveness_manifest

    return all(network.path.exists() for network in load_liveness_manifest().networks)


def _command(build_parser: Callable[[], argparse.ArgumentParser], *argv: str) -> str:
    """Run one facegate command as an administrator would, and return what it says."""
    args = build_parser().parse_args(list(argv))
    with contextlib.redirect_stderr(io.StringIO()):  # progress bars belong to a terminal, not to the tour
        _, text = args.handler(args)
    return text


def run_kiosk(config_path: Path, video: Path) -> tuple[list[dict], Counter[str]]:
    """The kiosk headless on a video file: its decisions, and in how many frames the screen asked what."""
    from kiosk.config import load_config
    from kiosk.runtime.kiosk import FrameStatus
    from kiosk.runtime.session import KioskSession

    config = load_config(config_path)
    decisions: list[dict] = []
    hints: Counter[str] = Counter()

    def seen(status: FrameStatus) -> None:
        if status.hint is not None:
            hints[status.hint.value] += 1
        if status.decision is not None:
            decisions.append(status.decision.to_dict())

    with KioskSession(config, config.doors[0], config_text=config_path.read_text()) as session:
        session.runner.run(session.capture(str(video)), seen)
    return decisions, hints


def _indented(text: str) -> str:
    return "   " + text.strip().replace("\n", "\n   ")


def describe(decision: dict) -> str:
    who = f"{decision['display_name']} ({decision['person_id']})" if decision.get("person_id") else "-"
    reason = f": {decision['reason']}" if decision.get("reason") else ""
    return f"{decision['outcome']:<16} {who}{reason}  (decided {decision['visit_ms']} ms into the visit)"


def show_on_screen(config: Path, video: Path, seconds: float) -> int:
    """The same visits on the kiosk screen, in its own process (the engine never imports Qt)."""
    from kiosk.paths import PROJECT_ROOT

    return subprocess.run([sys.executable, str(PROJECT_ROOT / "main.py"), "gui", "--windowed", "--source", str(video),
                           "--close-after", f"{seconds:g}", "--config", str(config)], check=False).returncode


def run_demo(build_parser: Callable[[], argparse.ArgumentParser], say: Callable[[str], None],
             keep: bool = False, gui: bool = False) -> dict:
    """The whole tour; the temporary folder is removed at the end unless `keep`. With `gui`, the
    visits are then shown on the kiosk screen too."""
    photos = sample_photos()
    folder = Path(tempfile.mkdtemp(prefix="facegate-demo-"))
    try:
        say(f"facegate demo in {folder} ({'kept' if keep else 'removed at the end'})")
        plain, guarded = write_config(folder, liveness=False), write_config(folder, liveness=True)
        gallery = folder / "gallery.yaml"
        gallery.write_text(yaml.safe_dump({"people": [{
            "id": MEMBER["id"], "name": MEMBER["name"], "role": "staff",
            "photos": [str(photos / name) for name in MEMBER["photos"]],
            "consent": {"given_by": MEMBER["name"], "date": date.today().isoformat(), "scope": "door access"}}]},
            sort_keys=False))
        say("\n1. store init: a new encrypted store and its keys (a key file readable by its owner only)")
        say(_indented(_command(build_parser, "store", "init", "--config", str(plain))))
        say(f"\n2. gallery apply: {MEMBER['name']} enrolled from two sample photos (face_recognition 1.3.0, MIT)")
        say(_indented(_command(build_parser, "gallery", "apply", str(gallery), "--config", str(plain), "--no-progress")))
        say("\n3. the kiosk at the door, on a rendered video: the member, then a stranger (Joe Biden, not "
            "enrolled); liveness is off in this part because the visitors are photos")
        video = visits_video(folder / "visits.avi", photos)
        visits, _ = run_kiosk(plain, video)
        for decision in visits:
            say("   " + describe(decision))
        if gui:
            say("   ... and on the kiosk screen (it closes by itself after 12 s)")
            if show_on_screen(plain, video, 12) != 0:
                say("   the kiosk screen could not be shown (no display?): the rest goes on headless")
        say("\n4. liveness on: the member's photo held up to the camera (the screen asks for an action drawn "
            "at random, which a photo cannot make)")
        held = held_photo_video(folder / "held_photo.avi", photos)
        attack, asked = run_kiosk(guarded, held)
        prompts = [hint for hint in asked if hint in CHALLENGE_HINTS]
        say(f"   the screen asked for {' / '.join(h.replace('_', ' ') for h in prompts) or 'nothing'} in "
            f"{sum(asked[h] for h in prompts)} of {8 * FPS} frames")
        for decision in attack:
            say("   " + describe(decision))
        if gui:
            say("   ... and on the kiosk screen: the request for an action, then the refusal (closes after 12 s)")
            if show_on_screen(guarded, held, 12) != 0:
                say("   the kiosk screen could not be shown (no display?): the rest goes on headless")
        today = datetime.now(timezone.utc)
        days = [(today + timedelta(days=shift)).date().isoformat() for shift in (-1, 1)]  # whatever the site's zone
        say("\n5. attendance today")
        say(_indented(_command(build_parser, "attendance", "export", "--from", days[0], "--to", days[1],
                               "--out", str(folder / "attendance.csv"), "--config", str(plain))))
        say(_indented((folder / "attendance.csv").read_text()))
        say("\n6. audit verify: every decision, enrollment and configuration is a link in a hash chain")
        say(_indented(_command(build_parser, "audit", "verify", "--config", str(plain))))
        return {"folder": str(folder), "kept": keep, "visits": visits, "attack": attack}
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
