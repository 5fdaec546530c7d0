"""The command line as a user meets it: readable answers, JSON for scripts, one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.paths import PROJECT_ROOT
from tests.conftest import lfw_photo


def run_cli(*args: str, fault: str | None = None) -> subprocess.CompletedProcess:
    """A facegate command in its own process; `fault` names a crash point where it dies (kiosk/faults.py)."""
    env = os.environ | {"PYTHONPATH": str(PROJECT_ROOT)} | ({"FACEGATE_FAULT": fault} if fault else {})
    return subprocess.run([sys.executable, "main.py", *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, lfw_dir) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad")
    photo = lfw_photo(lfw_dir, "Tony_Blair", 1).read_bytes()
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(photo[: len(photo) // 2])
    # cut short with the end marker appended: it decoded whole-looking, 105 of 250 rows grey, and was enrolled
    (folder / "truncated_ended.jpg").write_bytes(photo[: len(photo) * 6 // 10] + b"\xff\xd9")
    (folder / "notes.jpg").write_text("this is a text file, not a photo\n")
    # A real photo without a face: the top-left corner of an LFW picture, enlarged.
    corner = cv2.imdecode(np.frombuffer(photo, np.uint8), cv2.IMREAD_COLOR)[:60, :60]
    cv2.imwrite(str(folder / "no_face.png"), cv2.resize(corner, (240, 240)))
    # formats whose size is not read before decoding: a TIFF header claiming 20000x20000 (which hung past
    # 60 s at 3.2 GB), a JPEG 2000, a Radiance HDR and a PPM, all refused without decoding
    (folder / "huge_tiff.tif").write_bytes(b"II*\x00\x08\x00\x00\x00" + b"\x00" * 64)
    (folder / "small.jp2").write_bytes(b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\x00" * 64)
    (folder / "radiance.hdr").write_bytes(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 9000 +X 9000\n")
    cv2.imwrite(str(folder / "netpbm.ppm"), corner)
    return {p.stem: p for p in folder.iterdir()}


@pytest.mark.parametrize("case, message", [
    ("empty", "the file is empty"),
    ("truncated", "the JPEG is truncated"),
    ("truncated_ended", "the JPEG is truncated (its last"),
    ("notes", "not a photo facegate reads"),
    ("huge_tiff", "a TIFF file; facegate reads JPEG, PNG, BMP and WebP"),
    ("small", "a JPEG 2000 file"),
    ("radiance", "a Radiance HDR file"),
    ("netpbm", "a PPM file"),
    ("no_face", "no face found"),
    ("missing", "no such file"),
])
def test_bad_photos_give_a_one_line_error_not_a_traceback(models_built, bad_inputs, case, message):
    path = bad_inputs.get(case, Path("/nonexistent/missing.jpg"))
    done = run_cli("embed", str(path))
    assert done.returncode == 2
    # the last line (libjpeg itself warns "Corrupt JPEG data" on stderr as it decodes a cut-short file)
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: {path}: {message}"), done.stderr
    assert "Traceback" not in done.stderr


def test_verify_prints_a_decision_and_json(models_built, lfw_dir):
    a, b = lfw_photo(lfw_dir, "Colin_Powell", 1), lfw_photo(lfw_dir, "Colin_Powell", 3)
    text = run_cli("verify", str(a), str(b))
    assert text.returncode == 0 and text.stdout.startswith("same person: distance"), text.stdout + text.stderr
    other = json.loads(run_cli("verify", str(a), str(lfw_photo(lfw_dir, "Tony_Blair", 1)), "--json").stdout)
    assert other["same_person"] is False and other["distance"] > other["threshold"]


def test_identify_finds_the_person_in_a_folder_and_no_one_for_a_stranger(models_built, lfw_dir, tmp_path):
    for person in ("Colin_Powell", "Tony_Blair", "Serena_Williams"):
        (tmp_path / person).mkdir()
        for number in (1, 2):
            (tmp_path / person / f"{number}.jpg").symlink_to(lfw_photo(lfw_dir, person, number))
    known = json.loads(run_cli("identify", str(lfw_photo(lfw_dir, "Tony_Blair", 5)), "--people", str(tmp_path),
                               "--json").stdout)
    assert known["match"] == "Tony_Blair"
    stranger = json.loads(run_cli("identify", str(lfw_photo(lfw_dir, "Gerhard_Schroeder", 1)), "--people",
                                  str(tmp_path), "--json").stdout)
    assert stranger["match"] is None and stranger["candidates"][0]["distance"] > stranger["threshold"]


def test_embed_json_has_the_manifest_dimension(models_built, lfw_dir):
    data = json.loads(run_cli("embed", str(lfw_photo(lfw_dir, "Serena_Williams", 1)), "--provider", "cpu",
                              "--json").stdout)
    assert len(data["embedding"]) == 128 and data["provider"] == "CPUExecutionProvider"


def test_the_demo_shows_a_member_granted_a_stranger_unknown_and_a_held_photo_refused(models_built):
    done = run_cli("demo", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [d["outcome"] for d in result["visits"]] == ["granted", "unknown"], result["visits"]
    assert [d["outcome"] for d in result["attack"]] == ["spoof_suspected"], result["attack"]
    assert not Path(result["folder"]).exists()  # it cleans up after itself


def test_input_that_once_gave_a_traceback_gives_a_one_line_error(tmp_path):
    """Each of these ended in a Python traceback before: a retention that overflows a date, a date the
    calendar lacks, set-pin with no terminal, a key file nested 100,000 deep."""
    from tests.gallery_files import write_kiosk_config

    config = write_kiosk_config(tmp_path)
    assert run_cli("store", "init", "--config", str(config)).returncode == 0
    (tmp_path / "huge").mkdir()
    huge = write_kiosk_config(tmp_path / "huge", retention={"events_days": 10**20})
    gallery = tmp_path / "gallery.yaml"
    gallery.write_text("people:\n  - id: a1\n    name: A\n    photos: [a.jpg]\n    valid_until: 2027-02-30\n"
                       "    consent: {given_by: A, date: 2026-11-01, scope: door}\n")
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    deep.chmod(0o600)
    deep_config = tmp_path / "deep.yaml"
    deep_config.write_text(config.read_text().replace(str(tmp_path / "keys.json"), str(deep)))
    cases = [(("config", "check", str(huge)), "retention.events_days", "less than or equal to 36525"),
             (("store", "purge", "--config", str(huge)), "retention.events_days", "less than or equal to 36525"),
             (("gallery", "plan", str(gallery), "--config", str(config)), f"{gallery}:5", "not a date on the calendar"),
             (("store", "set-pin", "--config", str(config)), "no PIN was typed", "in a terminal"),
             (("gallery", "list", "--config", str(deep_config)), str(deep), "nested far too deep")]
    for argv, place, message in cases:
        done = subprocess.run([sys.executable, "main.py", *argv], cwd=PROJECT_ROOT, capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)
        assert done.returncode == 2 and place in done.stderr and message in done.stderr, (argv, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("unit", ["facegate-kiosk.service", "facegate-site.service"])
def test_the_systemd_units_run_a_command_this_facegate_has(unit):
    """The units' ExecStart, read as the command line parser reads it: a renamed command or option
    would make systemd restart a service that can never start."""
    from kiosk.cli import build_parser

    lines = (PROJECT_ROOT / "deploy" / unit).read_text().splitlines()
    (command,) = [line.split("=", 1)[1].split() for line in lines if line.startswith("ExecStart=")]
    assert command[0].endswith("/.venv/bin/python") and command[1] == "main.py"
    args = build_parser().parse_args(command[2:])
    assert args.config.name.endswith(".yaml") and callable(args.handler)
    assert "KillSignal=SIGTERM" in lines and "RestartPreventExitStatus=2 3" in lines
