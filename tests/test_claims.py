"""Claim, then verify, on real faces (LFW photos at a door camera's distance): a card from a Wiegand
reader on gpiozero's mock pins, or a signed code held up to the camera beside the face."""

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import cv2
import numpy as np
import pytest

from kiosk.bench.frames import door_frame
from kiosk.config import load_config
from kiosk.imageio import read_image
from kiosk.panel.cards import Card
from kiosk.panel.codes import CodeError, code_image, code_key, issue_code, verify_code
from kiosk.paths import PROJECT_ROOT
from kiosk.runtime.session import KioskSession
from kiosk.sources import Frame
from kiosk.store.access import open_store
from kiosk.store.keys import load_secrets
from tests.gallery_files import person_entry, write_gallery, write_kiosk_config
from tests.test_cli import run_cli
from tests.test_panel import W26_12_3456, send_frame
from tests.test_runtime import photo, run_kiosk
from tests.visits import FPS

COLIN_CARD, SERENA_CARD = "wiegand26:12:3456", "wiegand26:12:3457"


def enrolled_door(folder, lfw_dir, door: dict):
    config = write_kiosk_config(folder, liveness={"enabled": False}, doors=[{"name": "main", **door}])
    assert run_cli("store", "init", "--config", str(config)).returncode == 0
    people = [person_entry(lfw_dir, "Colin_Powell", [1, 2, 3], person_id="colin-powell", card=COLIN_CARD),
              person_entry(lfw_dir, "Serena_Williams", [1, 2, 3], person_id="serena-williams", card=SERENA_CARD)]
    applied = run_cli("gallery", "apply", str(write_gallery(folder / "g.yaml", people)), "--config", str(config),
                      "--json")
    assert json.loads(applied.stdout)["applied"] == {"add": 2}, applied.stderr
    return config


def test_codes_are_signed_and_expire():
    key, other = code_key(b"k" * 32), code_key(b"x" * 32)
    later = datetime.now(timezone.utc) + timedelta(days=1)
    code = issue_code(key, "ada", later)
    assert verify_code(key, code) == "ada"
    with pytest.raises(CodeError, match="not valid here"):
        verify_code(other, code)  # another site's key
    with pytest.raises(CodeError, match="not valid here"):
        verify_code(key, code.replace(":ada:", ":bob:"))  # a name changed in a genuine code
    with pytest.raises(CodeError, match="expired"):
        verify_code(key, code, now=later + timedelta(seconds=1))
    with pytest.raises(CodeError, match="not an access code"):
        verify_code(key, "https://example.com")


def with_code(frame_rgb: np.ndarray, code_png: np.ndarray) -> np.ndarray:
    """A phone held up beside the face: the code in the frame's lower left corner."""
    small = cv2.resize(code_png, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_NEAREST)
    framed = frame_rgb.copy()
    framed[-small.shape[0]:, :small.shape[1]] = small[..., None]
    return framed


def write_video(path, scenes: list[np.ndarray], seconds: float = 1.6, gap_seconds: float = 2.0):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (640, 480))
    empty = np.full((480, 640, 3), 96, dtype=np.uint8)
    for scene in scenes:
        for _ in range(int(seconds * FPS)):
            writer.write(cv2.cvtColor(scene, cv2.COLOR_RGB2BGR))
        for _ in range(int(gap_seconds * FPS)):
            writer.write(empty)
    writer.release()
    return path


def test_a_code_and_face_door_grants_the_codes_owner_only(tmp_path, lfw_dir, models_built):
    config = enrolled_door(tmp_path, lfw_dir, {"mode": "code_and_face"})
    codes = {}
    for name, days in (("first", 30), ("second", 31)):  # two codes of Colin's, as printed and on his phone
        made = run_cli("gallery", "code", "colin-powell", "--days", str(days), "--out", str(tmp_path / f"{name}.png"),
                       "--config", str(config), "--json")
        assert made.returncode == 0, made.stderr
        codes[name] = cv2.imread(str(tmp_path / f"{name}.png"), cv2.IMREAD_GRAYSCALE)
    key = code_key(load_secrets(load_config(config).store.keys).digest_key)
    expired = issue_code(key, "colin-powell", datetime.now(timezone.utc) - timedelta(days=1))
    genuine = issue_code(key, "colin-powell", datetime.now(timezone.utc) + timedelta(days=7))
    forged = genuine.rsplit(":", 1)[0] + ":" + "A" * 22  # a made-up signature
    colin, serena = (door_frame(read_image(photo(lfw_dir, *who))) for who in (("Colin_Powell", 4),
                                                                               ("Serena_Williams", 4)))
    video = write_video(tmp_path / "codes.avi", [
        with_code(colin, codes["first"]),           # Colin with his code: granted
        with_code(serena, codes["second"]),         # Colin's code shown by Serena: not him
        with_code(colin, code_image(expired)),      # an expired code: refused before any face is checked
        with_code(colin, code_image(forged)),       # a forged one: refused
        colin,                                      # no code at all: the door waits for one
    ])
    decisions, summary = run_kiosk(config, video)
    outcomes = [(d["outcome"], d["person_id"], d["reason"]) for d in decisions]
    assert outcomes[0][:2] == ("granted", "colin-powell")
    assert outcomes[1] == ("unknown", None, "not the person the code names")
    assert outcomes[2][0] == "denied" and outcomes[2][2].startswith("expired on")
    assert outcomes[3][:3] == ("denied", None, "not valid here")
    assert len(decisions) == 4 and summary["decisions"] == 4
    store, _ = open_store(load_config(config).store.resolved_path, load_config(config).store.keys)
    with store:
        claims = [e for e in reversed(store.events(limit=50)) if e.kind == "claim_presented"]
        issued = store.events(limit=50, kinds=("code_issued",))
    assert [(e.person_ref, e.detail["source"]) for e in claims] == [
        ("colin-powell", "code"), ("colin-powell", "code"), ("colin-powell", "code"), (None, "code")]
    assert len(issued) == 2


def test_a_card_and_face_door_checks_the_face_against_the_cards_holder(tmp_path, lfw_dir, models_built, mock_pins):
    config_path = enrolled_door(tmp_path, lfw_dir, {"mode": "card_and_face",
                                                    "card_reader": {"data0_pin": 20, "data1_pin": 21}})
    config = load_config(config_path)
    colin, serena = (door_frame(read_image(photo(lfw_dir, *who))) for who in (("Colin_Powell", 4),
                                                                               ("Serena_Williams", 4)))
    d0, d1 = mock_pins.pin(20), mock_pins.pin(21)
    clock = iter(range(0, 10**9, 1000 // FPS))
    with KioskSession(config) as session:
        runner = session.runner

        def visit(rgb: np.ndarray, card: list[int] | None, frames: int = 20) -> list:
            assert runner.claims is not None
            if card is not None:
                send_frame(d0, d1, card)
                deadline = time.monotonic() + 10
                while runner.claims.current() is None and time.monotonic() < deadline:
                    time.sleep(0.01)  # the reader hands the card on after the frame gap
            decided = []
            for index in range(frames):
                status = runner.process(Frame(rgb, next(clock), index, "test"))
                decided += [status.decision] if status.decision is not None else []
                if status.decision is None and card is None:
                    assert status.hint is not None and status.hint.value == "show_card"
            for index in range(10):  # the doorway empties
                runner.process(Frame(np.full_like(rgb, 96), next(clock), index, "test"))
            return decided

        granted = visit(colin, Card.parse(COLIN_CARD).bits())
        assert [(d.outcome.value, d.person_id) for d in granted] == [("granted", "colin-powell")]
        assert granted[0].card == COLIN_CARD  # what a panel output reports
        stolen = visit(serena, Card.parse(COLIN_CARD).bits())  # Colin's card in Serena's hand
        assert [(d.outcome.value, d.reason) for d in stolen] == [("unknown", "not the person the card names")]
        unknown_card = visit(colin, Card("wiegand26", 99, 1).bits())
        assert [(d.outcome.value, d.reason) for d in unknown_card] == [("denied", "not known here")]
        assert visit(colin, None) == []  # no card: nothing is decided, the screen asks for one
        assert W26_12_3456 == Card.parse(COLIN_CARD).bits()


def test_a_claim_waits_its_window_then_runs_out_and_a_code_in_view_is_not_claimed_twice():
    from kiosk.runtime.claims import Claim, ClaimDesk

    desk = ClaimDesk(window_s=0.05)
    card = Claim("card", COLIN_CARD, "colin-powell")
    assert desk.present(card) and not desk.present(card)  # the same card again while it is being checked
    assert desk.poll().new == desk.current() and desk.poll().active is not None
    time.sleep(0.06)  # the window passes with no face
    assert desk.poll().expired is not None and desk.current() is None and desk.accepting()
    assert desk.present(card)  # a card read is one act: read again, it is a new claim
    desk.used(card)
    code = Claim("code", "FG1:colin-powell:1:x", "colin-powell")
    assert desk.present(code, seen_continuously=True)
    desk.used(code)
    assert not desk.present(code, seen_continuously=True)  # still held up after its visit: not claimed again
    time.sleep(0.06)
    assert desk.present(code, seen_continuously=True)  # shown again later: a new claim


def test_a_pin_belongs_to_one_person_and_is_kept_only_as_a_keyed_digest(tmp_path, lfw_dir, models_built):
    config = enrolled_door(tmp_path, lfw_dir, {"mode": "pin_and_face"})

    def set_pin(person: str, typed: str):
        return subprocess.run([sys.executable, "main.py", "gallery", "pin", person, "--config", str(config)],
                              cwd=PROJECT_ROOT, input=typed, capture_output=True, text=True, timeout=120)
    assert set_pin("colin-powell", "4711\n4711\n").returncode == 0
    taken = set_pin("serena-williams", "4711\n4711\n")
    assert taken.returncode != 0 and "another person has this PIN" in taken.stderr
    assert "4 to 8 digits" in set_pin("serena-williams", "12\n12\n").stderr
    assert "differ" in set_pin("serena-williams", "1234\n1235\n").stderr
    loaded = load_config(config)
    store, _ = open_store(loaded.store.resolved_path, loaded.store.keys)
    with store:
        pins = {p.id: p.pin_digest for p in store.list_people()}
    assert pins["serena-williams"] is None and len(pins["colin-powell"]) == 64 and "4711" not in pins["colin-powell"]
    # an apply of the gallery file (which never carries PINs) keeps it
    assert run_cli("gallery", "apply", str(tmp_path / "g.yaml"), "--config", str(config)).returncode == 0
    with open_store(loaded.store.resolved_path, loaded.store.keys)[0] as store:
        assert store.get_person("colin-powell").pin_digest == pins["colin-powell"]
