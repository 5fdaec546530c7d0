"""Door outputs: log, HTTP webhook, MQTT (with Home Assistant discovery), serial relay board, GPIO.

Every output is fail-secure: an error never opens a door, it is reported (and audited by the
caller). Outputs run on their own thread, so a slow webhook never delays the camera.
"""

import hashlib
import hmac
import json
import logging
import os
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Protocol

from kiosk.errors import FacegateError
from kiosk.runtime.decisions import Decision, Outcome

log = logging.getLogger(__name__)


class DoorOutputError(FacegateError):
    """Raised when a door output cannot deliver a command; the door stays closed."""


class DoorOutput(Protocol):
    name: str

    def deliver(self, decision: Decision) -> None: ...

    def close(self) -> None: ...


class LogOutput:
    name = "log"

    def deliver(self, decision: Decision) -> None:
        log.info("door %s: %s %s", decision.door, decision.outcome.value, decision.person_id or "")

    def close(self) -> None:
        pass


class WebhookOutput:
    """JSON POST of every decision; retried with back-off; signed with HMAC-SHA256 when a secret is set."""

    name = "webhook"

    def __init__(self, url: str, timeout_s: float = 2.0, retries: int = 3, backoff_s: float = 0.5,
                 hmac_secret: bytes | None = None):
        self.url, self.timeout_s, self.retries, self.backoff_s = url, timeout_s, retries, backoff_s
        self._secret = hmac_secret

    def deliver(self, decision: Decision) -> None:
        body = json.dumps(decision.to_dict(), sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "facegate"}
        if self._secret:
            headers["X-Facegate-Signature"] = "sha256=" + hmac.new(self._secret, body, hashlib.sha256).hexdigest()
        last_error = ""
        for attempt in range(self.retries + 1):
            try:
                request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    if 200 <= response.status < 300:
                        return
                    last_error = f"HTTP {response.status}"
            except (urllib.error.URLError, OSError) as exc:
                last_error = str(getattr(exc, "reason", exc))
            time.sleep(self.backoff_s * 2**attempt)
        raise DoorOutputError(f"webhook {self.url}: {last_error} after {self.retries + 1} attempts")

    def close(self) -> None:
        pass


class MqttOutput:
    """Publishes each decision, a door command on grants, and Home Assistant discovery at start."""

    name = "mqtt"

    def __init__(self, host: str, port: int, topic_prefix: str, door: str, discovery: bool = True,
                 username: str | None = None, password: str | None = None, timeout_s: float = 5.0):
        import paho.mqtt.client as mqtt

        self.prefix, self.door, self.timeout_s = topic_prefix.rstrip("/"), door, timeout_s
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"facegate-{door}")
        if username:
            self._client.username_pw_set(username, password)
        self._client.will_set(f"{self.prefix}/status", "offline", retain=True)
        try:
            self._client.connect(host, port, keepalive=30)
        except OSError as exc:
            raise DoorOutputError(f"MQTT broker {host}:{port}: {exc}") from None
        self._client.loop_start()
        self._publish(f"{self.prefix}/status", "online", retain=True)
        if discovery:
            self._announce()

    def _announce(self) -> None:
        """Home Assistant MQTT discovery: the last decision as a sensor, the door as a lock."""
        device = {"identifiers": [f"facegate_{self.door}"], "name": f"facegate {self.door}", "manufacturer": "facegate"}
        sensor = {"name": "Last decision", "unique_id": f"facegate_{self.door}_decision",
                  "state_topic": f"{self.prefix}/{self.door}/decision", "value_template": "{{ value_json.outcome }}",
                  "json_attributes_topic": f"{self.prefix}/{self.door}/decision",
                  "availability_topic": f"{self.prefix}/status", "device": device}
        lock = {"name": "Door", "unique_id": f"facegate_{self.door}_door",
                "command_topic": f"{self.prefix}/{self.door}/command", "state_topic": f"{self.prefix}/{self.door}/state",
                "availability_topic": f"{self.prefix}/status", "device": device}
        self._publish(f"homeassistant/sensor/facegate_{self.door}/decision/config", json.dumps(sensor), retain=True)
        self._publish(f"homeassistant/lock/facegate_{self.door}/door/config", json.dumps(lock), retain=True)

    def _publish(self, topic: str, payload: str, retain: bool = False) -> None:
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(timeout=self.timeout_s)
        if not info.is_published():
            raise DoorOutputError(f"MQTT: {topic} was not acknowledged within {self.timeout_s} s")

    def deliver(self, decision: Decision) -> None:
        self._publish(f"{self.prefix}/{self.door}/decision", json.dumps(decision.to_dict(), sort_keys=True))
        if decision.outcome is Outcome.GRANTED:
            self._publish(f"{self.prefix}/{self.door}/command", "UNLOCK")

    def close(self) -> None:
        self._client.publish(f"{self.prefix}/status", "offline", retain=True).wait_for_publish(timeout=1)
        self._client.loop_stop()
        self._client.disconnect()


class PulsedRelay:
    """A relay output: switched on by a grant, off again after the pulse. Subclasses say how to
    switch (serial board, GPIO) and what to release; the relay starts and ends off (locked)."""

    name = "relay"

    def _start_relay(self, pulse_s: float) -> None:
        self.pulse_s = pulse_s
        self._timer: threading.Timer | None = None
        self._switch(False)

    def _switch(self, on: bool) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError

    def deliver(self, decision: Decision) -> None:
        if decision.outcome is not Outcome.GRANTED:
            return
        if self._timer:
            self._timer.cancel()
        self._switch(True)
        self._timer = threading.Timer(self.pulse_s, self._switch, (False,))
        self._timer.daemon = True
        self._timer.start()

    def close(self) -> None:
        if self._timer:
            self._timer.cancel()
        self._switch(False)
        self._release()


class SerialRelayOutput(PulsedRelay):
    """A USB relay board driven by byte commands over a serial port (pyserial)."""

    name = "serial"

    def __init__(self, port: str, baudrate: int, open_command: bytes, close_command: bytes, pulse_s: float):
        import serial

        try:
            self._port = serial.Serial(port, baudrate=baudrate, timeout=1, write_timeout=1)
        except (serial.SerialException, OSError) as exc:
            raise DoorOutputError(f"serial relay {port}: {exc}") from None
        self._commands = {True: open_command, False: close_command}
        self._start_relay(pulse_s)

    def _switch(self, on: bool) -> None:
        self._port.write(self._commands[on])
        self._port.flush()

    def _release(self) -> None:
        self._port.close()


class GpioOutput(PulsedRelay):
    """A relay on a GPIO pin (gpiozero), where the hardware exists."""

    name = "gpio"

    def __init__(self, pin: int, active_high: bool, pulse_s: float):
        try:
            from gpiozero import OutputDevice

            self._device = OutputDevice(pin, active_high=active_high, initial_value=False)
        except Exception as exc:  # no gpiozero, no pin factory, no such pin: say which
            raise DoorOutputError(f"GPIO pin {pin}: {exc} (on the device with the relay, gpiozero needs its pin "
                                  f"library, e.g. lgpio)") from None
        self._start_relay(pulse_s)

    def _switch(self, on: bool) -> None:
        if on:
            self._device.on()
        else:
            self._device.off()

    def _release(self) -> None:
        self._device.close()


class DoorDispatcher:
    """Hands decisions to every output on a worker thread; failures go to `on_failure`, never up."""

    def __init__(self, outputs: list[DoorOutput], on_failure: Callable[[Decision, str, str], None]):
        self.outputs = outputs
        self._on_failure = on_failure
        self._queue: queue.Queue[Decision | None] = queue.Queue(maxsize=64)
        self._thread = threading.Thread(target=self._run, name="doors", daemon=True)
        self._thread.start()

    def submit(self, decision: Decision) -> None:
        try:
            self._queue.put_nowait(decision)
        except queue.Full:
            self._on_failure(decision, "dispatcher", "too many decisions waiting; door left closed")

    def _run(self) -> None:
        while (decision := self._queue.get()) is not None:
            for output in self.outputs:
                try:
                    output.deliver(decision)
                except Exception as exc:  # fail secure: report, keep the door closed, go on
                    self._on_failure(decision, output.name, str(exc))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)
        for output in self.outputs:
            output.close()


def secret_key_from_env(variable: str, length: int = 16) -> bytes:
    """A binary key written in hex in an environment variable (a panel's secure channel key): the error
    names the variable, never its value."""
    value = os.environ.get(variable, "").strip()
    if not value:
        raise DoorOutputError(f"environment variable {variable} (an OSDP secure channel key) is not set")
    try:
        key = bytes.fromhex(value)
    except ValueError:
        key = b""
    if len(key) != length:
        raise DoorOutputError(f"environment variable {variable}: the key must be {2 * length} hex digits")
    return key


def hmac_secret_from_env(variable: str | None) -> bytes | None:
    if not variable:
        return None
    value = os.environ.get(variable)
    if not value:
        raise DoorOutputError(f"environment variable {variable} (webhook HMAC secret) is not set")
    return value.encode()
