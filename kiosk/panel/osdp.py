"""OSDP both ways: the kiosk as a reader (peripheral device, PD) on an access-control panel's RS-485
line, and the kiosk as the controller (CP) of its own OSDP card reader at a card_and_face door.

libosdp speaks the protocol (Apache-2.0, on PyPI). The secure channel is required: the PD is set up
with the panel's secure channel base key (SCBK) and `EnforceSecure`, so a panel with another key
never gets a session and a panel that talks in plaintext is refused (NAK) before it learns
anything; install mode (which accepts a key sent in the clear) is never set.

On a grant the kiosk reports the person's card as a card read, exactly as a card reader would; the
panel decides and drives the lock. The panel's LED, buzzer and text commands are handed to
`on_signal` (the kiosk screen shows them); the link's state (secure session up, lost, back) to
`on_link`, which the kiosk audits.
"""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from kiosk.panel.cards import Card, CardError
from kiosk.runtime.decisions import Decision, Outcome
from kiosk.runtime.doors import DoorOutputError

log = logging.getLogger(__name__)

LINK_POLL_S = 0.25
# libosdp's panels poll every 50-200 ms and take a PD offline after a few missed replies: a link
# without a secure session this long after start (or after it was lost) is reported as lost.
NEVER_CONNECTED_S = 10.0

_COLOURS = {0: "off", 1: "red", 2: "green", 3: "amber", 4: "blue", 5: "magenta", 6: "cyan", 7: "white"}


@dataclass(frozen=True)
class PanelSignal:
    """What the panel asked the reader to show: an LED colour, a beep, or a line of text."""

    kind: str           # "led", "buzzer" or "text"
    colour: str = ""    # for an LED: its colour while on
    seconds: float = 0  # how long, where the panel says (LED timer, beeps)
    text: str = ""

    def describe(self) -> str:
        if self.kind == "led":
            return f"the panel shows {self.colour}" + (f" for {self.seconds:g} s" if self.seconds else "")
        if self.kind == "buzzer":
            return "the panel beeps"
        return f"the panel says: {self.text}"


def signal_from_command(command: dict) -> PanelSignal | None:
    """A panel command (libosdp's dict) as something to show; None for what a screen cannot show."""
    from osdp import Command

    kind = command.get("command")
    if kind == Command.LED:
        timer = command.get("timer_count", 0) if command.get("temporary") else 0
        return PanelSignal("led", colour=_COLOURS.get(command.get("on_color", 0), "on"), seconds=timer / 10)
    if kind == Command.Buzzer:
        return PanelSignal("buzzer", seconds=(command.get("on_count", 0) * command.get("rep_count", 1)) / 10)
    if kind == Command.Text:
        return PanelSignal("text", text=str(command.get("data", ""))[:64], seconds=command.get("temp_time", 0))
    return None


class SerialChannel:
    """libosdp's byte channel over a serial port (an RS-485 adapter, or a pseudo-terminal in tests)."""

    def __init__(self, port: str, baudrate: int):
        import serial
        from osdp import Channel

        try:
            self._port = serial.Serial(port, baudrate=baudrate, timeout=0, write_timeout=1)
        except (serial.SerialException, OSError) as exc:
            raise DoorOutputError(f"OSDP line {port}: {exc}") from None

        class _Channel(Channel):  # libosdp calls these from its refresh thread
            def read(inner, max_bytes: int) -> bytes:
                return self._port.read(max_bytes)

            def write(inner, buf: bytes) -> int:
                return self._port.write(buf) or 0

            def flush(inner) -> None:
                self._port.reset_input_buffer()

        self.channel = _Channel()

    def close(self) -> None:
        self._port.close()


class OsdpReader:
    """A door output that reports grants to an OSDP panel as card reads, over the secure channel only."""

    name = "osdp"

    def __init__(self, port: str, baudrate: int, address: int, scbk: bytes,
                 on_signal: Callable[[PanelSignal], None], on_link: Callable[[str, str], None]):
        from osdp import Capability, LibFlag, LogLevel, PDCapabilities, PDInfo, PeripheralDevice

        if len(scbk) != 16:
            raise DoorOutputError(f"OSDP secure channel key: {len(scbk)} bytes, it must be 16 (32 hex digits)")
        self._line = SerialChannel(port, baudrate)
        capabilities = PDCapabilities([(Capability.CardDataFormat, 1, 1), (Capability.LEDControl, 1, 1),
                                       (Capability.AudibleControl, 1, 1), (Capability.TextOutput, 1, 1),
                                       (Capability.CommunicationSecurity, 1, 1)])
        self._on_signal, self._on_link = on_signal, on_link
        self.address, self.port = address, port
        self._pd = PeripheralDevice(PDInfo(address, self._line.channel, scbk=scbk, flags=[LibFlag.EnforceSecure],
                                           name=f"facegate-{address}"), capabilities, log_level=LogLevel.Warning,
                                    command_handler=self._command)
        self._pd.start()
        self._stop = threading.Event()
        self._monitor = threading.Thread(target=self._watch_link, name="osdp-link", daemon=True)
        self._monitor.start()

    def _command(self, command: dict) -> tuple[int, None]:
        signal = signal_from_command(command)
        if signal is not None:
            self._on_signal(signal)
        return 0, None

    @property
    def connected(self) -> bool:
        """A secure session with the panel is up (a plaintext or wrong-key panel never makes one)."""
        return bool(self._pd.is_sc_active())

    def _watch_link(self) -> None:
        """Tells `on_link` when the secure session comes up, and once per outage when it is lost (or
        never came within NEVER_CONNECTED_S of start)."""
        was_up, said_lost, down_s = False, False, 0.0
        while not self._stop.wait(LINK_POLL_S):
            up = self.connected
            where = f"OSDP address {self.address} on {self.port}"
            if up and not was_up:
                self._on_link("panel_connected", f"{where}: secure channel up")
                said_lost, down_s = False, 0.0
            elif was_up and not up:
                self._on_link("panel_lost", f"{where}: the panel stopped polling")
                said_lost = True
            elif not up and not said_lost:
                down_s += LINK_POLL_S
                if down_s >= NEVER_CONNECTED_S:
                    self._on_link("panel_lost", f"{where}: no secure channel for {NEVER_CONNECTED_S:g} s (wiring, "
                                                f"address, baud rate or key)")
                    said_lost = True
            was_up = up

    def deliver(self, decision: Decision) -> None:
        if decision.outcome is not Outcome.GRANTED or decision.person_id is None:
            return
        if decision.card is None:
            raise DoorOutputError(f"{decision.person_id} has no card in the gallery: the panel was told nothing")
        if not self.connected:
            raise DoorOutputError("no secure channel with the panel: the grant was not reported (door stays shut)")
        from osdp import CardFormat, Event

        card = Card.parse(decision.card)
        self._pd.submit_event({"event": Event.CardRead, "reader_no": 0, "direction": 0, "length": card.length,
                               "format": CardFormat.Wiegand, "data": card.packed()})

    def close(self) -> None:
        self._stop.set()
        self._monitor.join(timeout=2)
        self._pd.teardown()
        self._line.close()


class OsdpCardReader:
    """An OSDP card reader wired to the kiosk (card_and_face): the kiosk is its control panel, over the
    secure channel only; each card read is handed to `on_card`, a read that is not a 26- or 34-bit
    Wiegand card (or fails its parity) is logged and dropped."""

    def __init__(self, port: str, baudrate: int, address: int, scbk: bytes, on_card: Callable[[Card], None]):
        from osdp import ControlPanel, LibFlag, LogLevel, PDInfo

        if len(scbk) != 16:
            raise DoorOutputError(f"OSDP card reader key: {len(scbk)} bytes, it must be 16 (32 hex digits)")
        self._line = SerialChannel(port, baudrate)
        self._on_card, self.address = on_card, address
        self._cp = ControlPanel([PDInfo(address, self._line.channel, scbk=scbk, flags=[LibFlag.EnforceSecure])],
                                log_level=LogLevel.Warning, event_handler=self._event)
        self._cp.start()

    def _event(self, _pd: int, event: dict) -> int:
        from osdp import CardFormat, Event

        if event.get("event") != Event.CardRead:
            return 0
        if event.get("format") != CardFormat.Wiegand:
            log.warning("card reader %d: a card in a format the kiosk does not read (%s)", self.address,
                        event.get("format"))
            return 0
        try:
            card = Card.from_packed(bytes(event.get("data", b"")), int(event.get("length", 0)))
        except CardError as exc:
            log.warning("card reader %d: %s", self.address, exc)
            return 0
        self._on_card(card)
        return 0

    @property
    def connected(self) -> bool:
        return bool(self._cp.is_sc_active(self.address))

    def close(self) -> None:
        self._cp.teardown()
        self._line.close()
