"""The kiosk as a reader on an access-control panel: card frames bit by bit, Wiegand on gpiozero's mock
pins (which record every edge and its time), OSDP against libosdp's own control panel over a
pseudo-terminal with the real secure channel."""

import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Callable

import cv2
import numpy as np
import pytest

from kiosk.bench.frames import door_frame
from kiosk.config import load_config
from kiosk.imageio import read_image
from kiosk.panel.cards import Card, CardError
from kiosk.panel.osdp import OsdpReader, PanelSignal
from kiosk.panel.wiegand import WiegandOutput, WiegandReader
from kiosk.paths import PROJECT_ROOT
from kiosk.runtime.decisions import Decision, Outcome
from kiosk.runtime.doors import DoorOutputError
from kiosk.site.throwaway import free_port
from kiosk.store.access import open_store
from tests.gallery_files import person_entry, write_gallery, write_kiosk_config
from tests.test_cli import run_cli
from tests.visits import MjpegCamera


def bits(text: str) -> list[int]:
    return [int(c) for c in text.replace(" ", "")]


# Written out by hand from the formats' definitions: even parity | facility | number | odd parity.
# 12 = 00001100; 3456 = 0000 1101 1000 0000; first 12 data bits hold two 1s (even parity 0), the last
# 12 hold four (odd parity 1).
W26_12_3456 = bits("0 00001100 0000110110000000 1")
# 34-bit, facility 1, card 1: one 1 in each half: even parity 1, odd parity 0.
W34_1_1 = bits("1 0000000000000001 0000000000000001 0")


def test_wiegand_frames_are_bit_exact_with_both_parities():
    assert Card.parse("wiegand26:12:3456").bits() == W26_12_3456
    assert Card("wiegand34", 1, 1).bits() == W34_1_1
    assert Card.from_bits(W26_12_3456) == Card("wiegand26", 12, 3456)
    assert Card.from_packed(Card("wiegand34", 65535, 42).packed(), 34) == Card("wiegand34", 65535, 42)
    for broken in range(26):  # any single misread bit fails a parity check
        flipped = list(W26_12_3456)
        flipped[broken] ^= 1
        with pytest.raises(CardError, match="parity"):
            Card.from_bits(flipped)
    with pytest.raises(CardError, match="facility code 256 does not fit wiegand26"):
        Card("wiegand26", 256, 1)
    with pytest.raises(CardError, match="format:facility:number"):
        Card.parse("12-3456")
    with pytest.raises(CardError, match="only 26- and 34-bit"):
        Card.from_bits([0] * 37)


def low_pulses(pin) -> list[tuple[float, float]]:
    """(start, width) of each low pulse, from the pin's recorded (time since last change, state) pairs."""
    pulses, clock, fell = [], 0.0, None
    for since, state in pin.states[1:]:
        clock += since
        if not state:
            fell = clock
        elif fell is not None:
            pulses.append((fell, clock - fell))
    return pulses


def test_wiegand_output_sends_the_granted_persons_card_bit_by_bit_with_its_timing(mock_pins):
    output = WiegandOutput(5, 6, pulse_us=100, interval_ms=2.0)
    d0, d1 = mock_pins.pin(5), mock_pins.pin(6)
    assert d0.state and d1.state, "both lines idle high"
    d0.clear_states()
    d1.clear_states()
    granted = Decision(outcome=Outcome.GRANTED, at_ms=0, track_id=1, person_id="ada", card="wiegand26:12:3456")
    output.deliver(granted)
    output.deliver(Decision(outcome=Outcome.UNKNOWN, at_ms=0, track_id=2))  # nothing sent for a refusal
    # both lines' clocks start at clear_states, microseconds apart: their pulses merge in time order
    pulses = sorted([(t, w, 0) for t, w in low_pulses(d0)] + [(t, w, 1) for t, w in low_pulses(d1)])
    assert [bit for _, _, bit in pulses] == W26_12_3456
    assert min(w for _, w, _ in pulses) >= 100e-6, "each pulse holds its line low at least the configured width"
    intervals = sorted(b[0] - a[0] for a, b in zip(pulses, pulses[1:]))
    assert intervals[0] >= 1.9e-3, intervals  # never closer than the interval, however busy the CPU
    assert d0.state and d1.state, "both lines idle high after the frame"
    with pytest.raises(DoorOutputError, match="has no card"):
        output.deliver(Decision(outcome=Outcome.GRANTED, at_ms=0, track_id=3, person_id="bob"))
    output.close()


def send_frame(d0, d1, frame: list[int]) -> None:
    """A card reader on the wire: each bit pulls its line low for 100 us, 2 ms apart."""
    for bit in frame:
        line = d1 if bit else d0
        line.drive_low()
        time.sleep(100e-6)
        line.drive_high()
        time.sleep(2e-3)


def test_a_card_reader_on_two_inputs_gives_each_card_once_and_drops_misreads(mock_pins):
    cards: list[Card] = []
    arrived = threading.Event()
    reader = WiegandReader(7, 8, lambda card: (cards.append(card), arrived.set()))
    d0, d1 = mock_pins.pin(7), mock_pins.pin(8)
    misread = list(W34_1_1)
    misread[5] ^= 1
    send_frame(d0, d1, misread)
    send_frame(d0, d1, [])  # nothing
    time.sleep(0.05)  # the wire stays idle past the frame gap (25 ms): the next bit starts a new frame
    send_frame(d0, d1, W26_12_3456)
    assert arrived.wait(5)
    reader.close()
    assert cards == [Card("wiegand26", 12, 3456)]


class FdChannel:
    """The panel's side of the line: the pseudo-terminal's master end, as a libosdp channel."""

    def __init__(self, fd: int):
        from osdp import Channel

        os.set_blocking(fd, False)

        class _Channel(Channel):
            def read(self, max_bytes: int) -> bytes:
                try:
                    return os.read(fd, max_bytes)
                except (BlockingIOError, OSError):
                    return b""

            def write(self, buf: bytes) -> int:
                return os.write(fd, buf)

            def flush(self) -> None:
                pass

        self.channel = _Channel()


class Panel:
    """libosdp's own control panel (CP) on the master end of a pseudo-terminal: the access-control panel."""

    def __init__(self, fd: int, address: int, scbk: bytes | None):
        from osdp import ControlPanel, LibFlag, LogLevel, PDInfo

        flags = [LibFlag.EnforceSecure] if scbk else []
        self.address = address
        self.cp = ControlPanel([PDInfo(address, FdChannel(fd).channel, scbk=scbk, flags=flags)],
                               log_level=LogLevel.Error)
        self.cp.start()

    def card_reads(self, timeout: float) -> list[dict]:
        from osdp import Event

        events, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            event = self.cp.get_event(self.address, timeout=0.2)
            if event is not None and event.get("event") == Event.CardRead:
                events.append(event)
                break
        return events

    def led(self, colour) -> bool:
        from osdp import Command

        return self.cp.submit_command(self.address, {
            "command": Command.LED, "reader": 0, "led_number": 0, "control_code": 1, "on_count": 10,
            "off_count": 10, "on_color": colour, "off_color": 0, "timer_count": 30, "temporary": True})

    def close(self) -> None:
        if self.cp.thread is not None:  # closed once only
            self.cp.teardown()


def drain(fd: int) -> None:
    os.set_blocking(fd, False)
    try:
        while os.read(fd, 4096):
            pass
    except (BlockingIOError, OSError):
        pass


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def line():
    """A pseudo-terminal pair: the kiosk opens the slave as its RS-485 port, the panel holds the master."""
    master, slave = pty.openpty()
    tty.setraw(master)
    yield master, os.ttyname(slave)
    os.close(slave)
    os.close(master)


KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
GRANT = Decision(outcome=Outcome.GRANTED, at_ms=0, track_id=1, person_id="ada", card="wiegand26:12:3456")


def test_a_grant_reaches_the_panel_as_a_card_read_over_the_secure_channel(line):
    master, port = line
    signals: list[PanelSignal] = []
    links: list[str] = []
    reader = OsdpReader(port, 115200, 101, KEY, signals.append, lambda kind, detail: links.append(kind))
    panel = Panel(master, 101, KEY)
    try:
        # the kiosk (PD) counts the channel up when it sends the handshake's last reply; the panel when
        # its next refresh reads that reply: both ends, not only the first, before anything is sent
        assert wait_for(lambda: reader.connected and panel.cp.is_sc_active(101), 15), "the secure channel came up"
        reader.deliver(GRANT)
        reads = panel.card_reads(timeout=5)
        assert len(reads) == 1 and reads[0]["length"] == 26
        assert Card.from_packed(reads[0]["data"], 26) == Card("wiegand26", 12, 3456)
        from osdp import CommandLEDColor

        assert panel.led(CommandLEDColor.Green)
        assert wait_for(lambda: any(s.kind == "led" for s in signals), 5)
        assert signals[0] == PanelSignal("led", colour="green", seconds=3.0)
        assert signals[0].describe() == "the panel shows green for 3 s"
        assert wait_for(lambda: "panel_connected" in links, 5)
        panel.close()  # the panel is switched off: the kiosk says the link is lost...
        assert wait_for(lambda: "panel_lost" in links, 20)
        with pytest.raises(DoorOutputError, match="no secure channel"):
            reader.deliver(GRANT)  # ...and a grant it cannot report is a failure, never silence
        drain(master)  # a panel that restarts starts with an empty receive buffer
        panel = Panel(master, 101, KEY)  # ...and back
        assert wait_for(lambda: links.count("panel_connected") == 2, 20), links
        assert links == ["panel_connected", "panel_lost", "panel_connected"]
    finally:
        panel.close()
        reader.close()


@pytest.mark.parametrize("panel_key", [bytes(16), None], ids=["wrong key", "plaintext"])
def test_a_panel_with_another_key_or_none_gets_no_session_and_no_card(line, panel_key):
    master, port = line
    reader = OsdpReader(port, 115200, 101, KEY, lambda signal: None, lambda kind, detail: None)
    panel = Panel(master, 101, panel_key)
    try:
        assert not wait_for(lambda: reader.connected or panel.cp.is_sc_active(101), 4)
        with pytest.raises(DoorOutputError, match="no secure channel"):
            reader.deliver(GRANT)
        assert panel.card_reads(timeout=1) == []
    finally:
        panel.close()
        reader.close()


def test_a_running_kiosk_reports_grants_to_its_panel_and_audits_the_panel_lost_and_back(tmp_path, lfw_dir, line,
                                                                                        models_built):
    """`main.py run` as a reader: the panel (libosdp's CP) gets the member's card when the kiosk grants,
    its LED command is shown (logged headless), and its loss and return are audited in order."""
    master, port = line
    config = write_kiosk_config(tmp_path, liveness={"enabled": False}, doors=[{
        "name": "main", "outputs": [{"type": "osdp", "port": port, "baudrate": 115200, "address": 101,
                                     "scbk_env": "FACEGATE_TEST_SCBK"}]}])
    assert run_cli("store", "init", "--config", str(config)).returncode == 0
    people = [person_entry(lfw_dir, "Colin_Powell", [1, 2, 3], person_id="colin-powell", card="wiegand26:12:3456")]
    assert run_cli("gallery", "apply", str(write_gallery(tmp_path / "g.yaml", people)), "--config",
                   str(config)).returncode == 0
    frame = cv2.cvtColor(door_frame(read_image(lfw_dir / "images" / "Colin_Powell" / "Colin_Powell_0004.jpg")),
                         cv2.COLOR_RGB2BGR)
    camera = MjpegCamera([(cv2.imencode(".jpg", frame)[1].tobytes(), 1.0)], free_port())
    panel = Panel(master, 101, KEY)
    kiosk = subprocess.Popen([sys.executable, "main.py", "-v", "run", "--source",
                              f"http://127.0.0.1:{camera.port}/cam.mjpg", "--config", str(config)],
                             cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "FACEGATE_TEST_SCBK": KEY.hex()})
    log_lines: list[str] = []
    threading.Thread(target=lambda: log_lines.extend(iter(kiosk.stderr.readline, "")), daemon=True).start()

    def logged(text: str, count: int = 1) -> Callable[[], bool]:
        return lambda: sum(text in entry for entry in list(log_lines)) >= count
    try:
        assert wait_for(lambda: panel.cp.is_sc_active(101), 60), "the kiosk's reader came up on the secure channel"
        camera.plug()  # the member walks up once the door is wired
        assert kiosk.stdout is not None
        assert json.loads(kiosk.stdout.readline())["person_id"] == "colin-powell"
        reads = panel.card_reads(timeout=10)
        assert reads and Card.from_packed(reads[0]["data"], reads[0]["length"]) == Card("wiegand26", 12, 3456)
        from osdp import CommandLEDColor

        assert panel.led(CommandLEDColor.Green)
        assert wait_for(logged("panel: the panel shows green"), 10), log_lines[-5:]
        panel.close()
        assert wait_for(logged("panel_lost"), 30), log_lines[-5:]
        drain(master)
        panel = Panel(master, 101, KEY)
        assert wait_for(logged("panel_connected", 2), 30), log_lines[-5:]
        kiosk.send_signal(signal.SIGTERM)
        assert kiosk.wait(timeout=60) == 0, log_lines[-5:]
    finally:
        kiosk.kill()
        camera.unplug()
        panel.close()
    loaded = load_config(config)
    store, _ = open_store(loaded.store.resolved_path, loaded.store.keys)
    with store:
        kinds = [e.kind for e in reversed(store.events(limit=200)) if e.kind.startswith("panel_")]
    assert kinds == ["panel_connected", "panel_lost", "panel_connected"]


def test_the_kiosk_screen_shows_what_the_panel_asks_and_when_it_is_lost(qtbot, tmp_path, line, models_built,
                                                                        monkeypatch):
    """The GUI wired to a panel: its LED command appears on the kiosk screen in words; the panel
    switched off, the screen says the door controller is not answering."""
    from osdp import CommandLEDColor

    from ui.main_window import MainWindow

    master, port = line
    config_path = write_kiosk_config(tmp_path, gui={"fullscreen": False}, liveness={"enabled": False}, doors=[{
        "name": "main", "outputs": [{"type": "osdp", "port": port, "baudrate": 115200, "address": 101,
                                     "scbk_env": "FACEGATE_TEST_SCBK"}]}])
    assert run_cli("store", "init", "--config", str(config_path)).returncode == 0
    monkeypatch.setenv("FACEGATE_TEST_SCBK", KEY.hex())
    panel = Panel(master, 101, KEY)
    empty = tmp_path / "empty.avi"
    writer = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"MJPG"), 15, (640, 480))
    for _ in range(15 * 60):
        writer.write(np.full((480, 640, 3), 96, np.uint8))
    writer.release()
    window = MainWindow(load_config(config_path), str(empty))
    qtbot.addWidget(window)
    window.show()
    try:
        qtbot.waitUntil(lambda: panel.cp.is_sc_active(101), timeout=60_000)
        assert panel.led(CommandLEDColor.Red)
        qtbot.waitUntil(lambda: window.kiosk.panel.text() == "The panel shows red for 3 s", timeout=10_000)
        panel.close()
        qtbot.waitUntil(lambda: "Door controller not answering" in window.kiosk.panel.text(), timeout=30_000)
    finally:
        window.close()
        panel.close()


class CardReaderDevice:
    """An OSDP card reader (libosdp's PD) on the master end of a pseudo-terminal: the kiosk is its panel."""

    def __init__(self, fd: int, address: int, scbk: bytes):
        from osdp import Capability, LibFlag, LogLevel, PDCapabilities, PDInfo, PeripheralDevice

        self.pd = PeripheralDevice(PDInfo(address, FdChannel(fd).channel, scbk=scbk, flags=[LibFlag.EnforceSecure]),
                                   PDCapabilities([(Capability.CardDataFormat, 1, 1)]), log_level=LogLevel.Error)
        self.pd.start()

    def swipe(self, card: Card) -> None:
        from osdp import CardFormat, Event

        self.pd.submit_event({"event": Event.CardRead, "reader_no": 0, "direction": 0, "length": card.length,
                              "format": CardFormat.Wiegand, "data": card.packed()})

    def close(self) -> None:
        self.pd.teardown()


@pytest.mark.parametrize("reader_key", [KEY, bytes(16)], ids=["its key", "another key"])
def test_an_osdp_card_reader_gives_its_cards_over_the_secure_channel_only(line, reader_key):
    from kiosk.panel.osdp import OsdpCardReader

    master, port = line
    cards: list[Card] = []
    reader = CardReaderDevice(master, 0, reader_key)
    kiosk_side = OsdpCardReader(port, 115200, 0, KEY, cards.append)
    try:
        if reader_key == KEY:
            assert wait_for(lambda: kiosk_side.connected, 15)
            reader.swipe(Card("wiegand34", 7, 42))
            assert wait_for(lambda: cards == [Card("wiegand34", 7, 42)], 10), cards
        else:
            assert not wait_for(lambda: kiosk_side.connected, 4)
            reader.swipe(Card("wiegand34", 7, 42))
            assert not wait_for(lambda: bool(cards), 2)  # a reader the kiosk cannot authenticate is not heard
    finally:
        kiosk_side.close()
        reader.close()
