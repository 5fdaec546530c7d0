"""Seeded fuzzing of what an administrator feeds facegate: photos and YAML files. Every input must
give a clear error of facegate's own or a correct result; never another exception, never a hang."""

import random
import signal
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.config import DEFAULT_CONFIG, load_config
from kiosk.errors import ConfigError, ImageError
from kiosk.gallery.spec import load_gallery_file
from kiosk.imageio import decode_image, read_image
from kiosk.paths import PROJECT_ROOT


@pytest.fixture
def deadline():
    """The whole test must finish in a minute: a hang fails it instead of stalling the suite."""
    def expired(*_):
        raise TimeoutError("an input made facegate hang")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def mutated(data: bytes, rng: random.Random) -> bytes:
    """One of the ways files arrive broken: cut short, bytes flipped, a chunk repeated or dropped,
    a header claiming another size, garbage appended."""
    data = bytearray(data)
    kind = rng.randrange(6)
    if kind == 0:
        return bytes(data[:rng.randrange(len(data))])
    if kind == 1:
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if kind == 2:
        start = rng.randrange(len(data))
        return bytes(data[:start] + data[start:start + rng.randint(1, 400)] * 2 + data[start:])
    if kind == 3:
        start = rng.randrange(len(data))
        return bytes(data[:start] + data[start + rng.randint(1, 400):])
    if kind == 4:
        for offset in (16, 18, 20, 22):  # PNG IHDR and BMP size fields; JPEG bytes here are header too
            if offset + 4 <= len(data):
                data[offset:offset + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\xfd\xe8", b"\x00\x00\x00\x00"])
        return bytes(data)
    return bytes(data) + bytes(rng.randrange(256) for _ in range(rng.randint(1, 5000)))


def test_hundreds_of_broken_photos_give_an_image_error_or_a_picture(deadline, lfw_dir):
    rng = random.Random(2026)
    photo = cv2.cvtColor(read_image(lfw_dir / "images/Colin_Powell/Colin_Powell_0001.jpg"), cv2.COLOR_RGB2BGR)
    originals = [cv2.imencode(ext, photo)[1].tobytes() for ext in (".jpg", ".png", ".bmp", ".webp")]
    originals.append(cv2.imencode(".png", np.zeros((8, 8, 4), np.uint8))[1].tobytes())
    outcomes = {"error": 0, "picture": 0}
    for index in range(300):
        data = mutated(rng.choice(originals), rng) if index % 10 else bytes(rng.randrange(256) for _ in range(300))
        try:
            picture = decode_image(data, f"fuzz-{index}")
        except ImageError as exc:
            assert str(exc).startswith(f"fuzz-{index}: "), exc
            outcomes["error"] += 1
        else:
            assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[2] == 3
            outcomes["picture"] += 1
    assert outcomes["error"] > 50 and outcomes["picture"] > 20, outcomes  # both paths really ran


def test_hundreds_of_broken_yaml_files_give_a_config_error_naming_the_file_or_load(deadline, tmp_path):
    rng = random.Random(7)
    sources = [DEFAULT_CONFIG.read_text(), (PROJECT_ROOT / "config/gallery.example.yaml").read_text()]
    outcomes = {"error": 0, "loaded": 0}
    for index in range(200):
        which = index % 2
        lines = sources[which].splitlines()
        for _ in range(rng.randint(1, 3)):
            spot = rng.randrange(len(lines))
            action = rng.randrange(5)
            if action == 0:
                del lines[spot]
            elif action == 1:
                lines.insert(spot, lines[rng.randrange(len(lines))])  # a duplicated key, often
            elif action == 2:
                lines[spot] = lines[spot].replace(":", "", 1)
            elif action == 3:
                lines[spot] = "\t" + lines[spot]
            else:
                lines[spot] = lines[spot] + rng.choice([" .inf", " -1", " 17:00", " [", " {a: 1}", " null"])
        path = tmp_path / f"fuzz_{index}.yaml"
        text = "\n".join(lines).encode()
        path.write_bytes(text if index % 25 else text + b"\xff\xfe")
        try:
            (load_config if which == 0 else load_gallery_file)(path)
        except ConfigError as exc:
            assert str(exc).startswith(str(path)), exc
            outcomes["error"] += 1
        else:
            outcomes["loaded"] += 1
    assert outcomes["error"] > 40 and outcomes["loaded"] > 10, outcomes


@pytest.mark.parametrize("text, message", [
    ("liveness:\n  enabled: true\nliveness:\n  enabled: false\n", "key 'liveness' is given twice (first on line 1)"),
    ("recognition:\n  threshold: .inf\n", "recognition.threshold"),
    ("recognition:\n  false_accepts_per_day: .inf\n", "recognition.false_accepts_per_day"),
    ("".join("  " * depth + f"k{depth}:\n" for depth in range(3000)), "nested too deeply"),
    # a door of a site on its machine's own zone: one visit granted under TZ=UTC, refused under Asia/Tokyo
    ("site:\n  server:\n    kiosk_id: door-a\n", "site: Value error, timezone: the doors of a site"),
    # depth asked for, but nothing the prompt could draw is judged in depth: no visitor could pass
    ("liveness:\n  depth_required: true\n  prompt_actions: [blink, smile]\n",
     "depth_required needs a turn or a look among prompt_actions (blink, smile)"),
])
def test_security_relevant_config_mistakes_are_refused_with_their_place(tmp_path, text, message):
    path = tmp_path / "kiosk.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(").replace(")", r"\)")):
        load_config(path)


def test_a_schedule_time_written_unquoted_is_refused(tmp_path, lfw_dir):
    photo = lfw_dir / "images/Colin_Powell/Colin_Powell_0001.jpg"
    path = tmp_path / "gallery.yaml"
    path.write_text(f"people:\n  - id: e1\n    name: A\n    photos: [{photo}]\n"
                    f"    consent: {{given_by: A, date: 2026-11-01, scope: door}}\n"
                    f"    schedule: {{days: [mon], from: 08:00, until: 17:00}}\n")
    with pytest.raises(ConfigError, match="write it quoted"):
        load_gallery_file(path)
    assert Path(path).exists()
