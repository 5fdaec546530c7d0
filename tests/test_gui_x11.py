"""The GUI under a real X server (Xvfb, no window manager), as a kiosk with a bare X session runs it:
at 1280x800 and 1920x1080 the kiosk window covers the screen, every screen is saved, and no text on
any of them is cut off (scripts/screenshots.py checks each visible label and button)."""

import os
import shutil
import struct
import subprocess
import sys

import pytest

from kiosk.paths import PROJECT_ROOT


def png_size(path) -> tuple[int, int]:
    return struct.unpack(">II", path.read_bytes()[16:24])


@pytest.fixture
def x_server(request):
    """Xvfb of the size asked for, on a display it picks itself."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.fail("Xvfb is not installed: scripts/setup.sh installs it (Debian package xvfb)")
    width, height = request.param
    read, write = os.pipe()
    server = subprocess.Popen([xvfb, "-displayfd", str(write), "-screen", "0", f"{width}x{height}x24", "-nolisten",
                               "tcp"], pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as announced:
        display = announced.readline().strip()  # written once the server accepts clients
    assert display, "Xvfb did not start"
    yield f":{display}", (width, height)
    server.terminate()
    server.wait(timeout=10)


@pytest.mark.parametrize("x_server", [(1280, 800), (1920, 1080)], indirect=True, ids=["1280x800", "1920x1080"])
def test_the_kiosk_fills_a_bare_x_screen_and_every_text_fits(x_server, tmp_path, models_built):
    display, (width, height) = x_server
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}
    done = subprocess.run([sys.executable, "scripts/screenshots.py", "--out", str(tmp_path), "--size",
                           f"{width}x{height}"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    folder = tmp_path / f"{width}x{height}"
    shots = {path.name: png_size(path) for path in folder.glob("*.png")}
    screens = ["kiosk_granted.png", "kiosk_not_recognised.png", "kiosk_turn_prompt.png", "kiosk_spoof_suspected.png",
               "admin.png", "admin_events.png", "admin_attendance.png", "admin_status.png"]
    assert all(shots[name] == (width, height) for name in screens), shots  # full screen, without a window manager
    wizard = [shots[f"wizard_{n}"] for n in ("1_details.png", "2_consent.png", "3_capture.png", "4_review.png")]
    assert all(800 <= w <= width and 600 <= h <= height for w, h in wizard), wizard  # sized to its content
