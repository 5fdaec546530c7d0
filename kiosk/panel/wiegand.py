"""Wiegand on two GPIO lines (gpiozero): the kiosk as a card reader to a panel, and a card reader to the kiosk.

Both lines idle high; a 0 bit pulls DATA0 low for the pulse width, a 1 bit pulls DATA1 low, with
the bit interval between the starts of two pulses. The usual figures, which panels accept, are a
50-100 us pulse and a 1-2 ms interval (a frame then takes under 70 ms); a frame ends when the
lines stay idle longer than a few intervals.
"""

import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from kiosk.panel.cards import Card, CardError
from kiosk.runtime.decisions import Decision, Outcome
from kiosk.runtime.doors import DoorOutputError

log = logging.getLogger(__name__)


def _line(what: str, pin: int | str, output: bool) -> Any:
    """One Wiegand line: an output held idle high (active low), or an input pulled up."""
    from gpiozero import DigitalInputDevice, DigitalOutputDevice

    try:
        if output:
            return DigitalOutputDevice(pin, active_high=False, initial_value=False)
        return DigitalInputDevice(pin, pull_up=True)
    except Exception as exc:  # no gpiozero pin factory, no such pin, pin in use: say which
        raise DoorOutputError(f"Wiegand {what} on pin {pin}: {exc}") from None


class WiegandOutput:
    """Sends the granted person's card to the panel as a Wiegand frame; the panel opens the door.
    A grant for someone with no card is reported as a failure (the door stays shut)."""

    name = "wiegand"

    def __init__(self, data0_pin: int | str, data1_pin: int | str, pulse_us: float = 100, interval_ms: float = 2.0):
        # active low: "on" pulls the line to 0 V; both start (and end) idle high
        self._lines = [_line(f"DATA{bit}", pin, output=True) for bit, pin in enumerate((data0_pin, data1_pin))]
        self.pulse_s, self.interval_s = pulse_us / 1e6, interval_ms / 1e3
        self._lock = threading.Lock()

    def deliver(self, decision: Decision) -> None:
        if decision.outcome is not Outcome.GRANTED or decision.person_id is None:
            return
        if decision.card is None:
            raise DoorOutputError(f"{decision.person_id} has no card in the gallery: the panel was told nothing")
        self.send(Card.parse(decision.card))

    def send(self, card: Card) -> None:
        """One frame, bit by bit; a busy wait keeps each pulse to its width (a sleep may overshoot). Each
        bit waits a whole interval after the previous one really started: a thread held up by a busy
        CPU sends late, never two bits closer than the interval (scheduling from the frame's start
        had sent bits 0.1 ms apart after a delay, which a panel misreads)."""
        with self._lock:
            started: float | None = None
            for bit in card.bits():
                line = self._lines[bit]
                if started is not None:
                    _wait_until(started + self.interval_s)
                line.on()
                started = time.perf_counter()  # the line is low from here
                _wait_until(started + self.pulse_s)
                line.off()

    def close(self) -> None:
        for line in self._lines:
            line.close()


class WiegandReader:
    """Reads frames from a card reader wired to two GPIO inputs and hands each card to `on_card`;
    a frame that fails its parity or length is logged and dropped (the reader's holder tries again)."""

    def __init__(self, data0_pin: int | str, data1_pin: int | str, on_card: Callable[[Card], None],
                 frame_gap_ms: float = 25.0):
        self._bits: list[int] = []
        self._frames: list[list[int]] = []  # complete, not yet handed on
        self._last_bit = 0.0
        self._lock = threading.Lock()
        self._on_card = on_card
        self.frame_gap_s = frame_gap_ms / 1e3
        self._lines = [_line(f"reader DATA{bit}", pin, output=False) for bit, pin in enumerate((data0_pin, data1_pin))]
        for bit, line in enumerate(self._lines):
            line.when_deactivated = partial(self._bit, bit)  # a bit is a line pulled low
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="wiegand-reader", daemon=True)
        self._watcher.start()

    def _bit(self, bit: int, _device: object = None) -> None:
        """A bit after a gap starts a new frame: the one before is complete, however late the watcher runs."""
        now = time.monotonic()
        with self._lock:
            if self._bits and now - self._last_bit >= self.frame_gap_s:
                self._frames.append(self._bits)
                self._bits = []
            self._bits.append(bit)
            self._last_bit = now

    def _watch(self) -> None:
        """Hands on each complete frame: one followed by another, or by the frame gap of idle lines."""
        while not self._stop.wait(self.frame_gap_s / 4):
            with self._lock:
                if self._bits and time.monotonic() - self._last_bit >= self.frame_gap_s:
                    self._frames.append(self._bits)
                    self._bits = []
                frames, self._frames = self._frames, []
            for bits in frames:
                try:
                    card = Card.from_bits(bits)
                except CardError as exc:
                    log.warning("card reader: %s", exc)
                    continue
                self._on_card(card)

    def close(self) -> None:
        self._stop.set()
        self._watcher.join(timeout=2)
        for line in self._lines:
            line.close()


def _wait_until(deadline: float) -> None:
    """Sleeps while the deadline is far, then spins: a sleep alone may overshoot a 100 us pulse."""
    if (ahead := deadline - time.perf_counter()) > 0.001:
        time.sleep(ahead - 0.001)
    while time.perf_counter() < deadline:
        pass
