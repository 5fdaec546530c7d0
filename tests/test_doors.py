"""Door outputs against real peers on this machine: an HTTP server, a mosquitto broker, a serial pty."""

import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kiosk.runtime.decisions import Decision, Outcome
from kiosk.runtime.doors import DoorDispatcher, DoorOutputError, MqttOutput, SerialRelayOutput, WebhookOutput

GRANT = Decision(outcome=Outcome.GRANTED, at_ms=1000, track_id=1, person_id="e1001", display_name="Ada Lovelace",
                 distance=0.31, door="main")
UNKNOWN = Decision(outcome=Outcome.UNKNOWN, at_ms=2000, track_id=2, distance=0.8, door="main")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def webhook_server():
    """Answers 500 to the first request, then 200; keeps what it received."""
    received: list[tuple[bytes, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, dict(self.headers)))
            self.send_response(500 if len(received) == 1 else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/door", received
    server.shutdown()


def test_webhook_retries_and_signs_the_decision(webhook_server):
    url, received = webhook_server
    WebhookOutput(url, timeout_s=2, retries=2, backoff_s=0.01, hmac_secret=b"shared-secret").deliver(GRANT)
    assert len(received) == 2  # the first answer was a 500
    body, headers = received[-1]
    assert json.loads(body)["person_id"] == "e1001" and json.loads(body)["outcome"] == "granted"
    expected = "sha256=" + hmac.new(b"shared-secret", body, hashlib.sha256).hexdigest()
    assert headers["X-Facegate-Signature"] == expected


def test_an_unreachable_webhook_fails_secure_and_is_reported():
    failures = []
    output = WebhookOutput(f"http://127.0.0.1:{free_port()}/door", timeout_s=0.5, retries=1, backoff_s=0.01)
    dispatcher = DoorDispatcher([output], lambda decision, name, error: failures.append((decision.person_id, name, error)))
    started = time.perf_counter()
    dispatcher.submit(GRANT)
    assert time.perf_counter() - started < 0.05, "a failing output must not hold up the camera loop"
    dispatcher.close()
    assert failures and failures[0][:2] == ("e1001", "webhook") and "after 2 attempts" in failures[0][2]


@pytest.fixture
def mosquitto():
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.path.exists(binary):
        pytest.fail("mosquitto is not installed: run scripts/setup.sh (it installs Debian's mosquitto)", pytrace=False)
    port = free_port()
    broker = subprocess.Popen([binary, "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(50):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield port
    broker.terminate()
    broker.wait(timeout=5)


def test_mqtt_announces_the_door_and_publishes_decisions_and_commands(mosquitto):
    import paho.mqtt.client as mqtt

    messages: list[tuple[str, str]] = []
    listener = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    listener.on_message = lambda client, userdata, message: messages.append((message.topic, message.payload.decode()))
    listener.connect("127.0.0.1", mosquitto)
    listener.subscribe("#")
    listener.loop_start()
    time.sleep(0.3)
    output = MqttOutput("127.0.0.1", mosquitto, "facegate", "main")
    output.deliver(GRANT)
    output.deliver(UNKNOWN)
    output.close()
    deadline = time.time() + 5
    while time.time() < deadline and ("facegate/status", "offline") not in messages:
        time.sleep(0.05)
    listener.loop_stop()
    topics = [topic for topic, _ in messages]
    assert "homeassistant/lock/facegate_main/door/config" in topics
    decisions = [json.loads(p)["outcome"] for t, p in messages if t == "facegate/main/decision"]
    assert decisions == ["granted", "unknown"]
    assert [p for t, p in messages if t == "facegate/main/command"] == ["UNLOCK"]


def test_an_absent_broker_is_a_clear_error():
    with pytest.raises(DoorOutputError, match=r"MQTT broker 127.0.0.1:\d+"):
        MqttOutput("127.0.0.1", free_port(), "facegate", "main")


def test_serial_relay_pulses_on_a_grant_only(tmp_path):
    controller, device = os.openpty()
    relay = SerialRelayOutput(os.ttyname(device), 9600, bytes.fromhex("A00101A2"), bytes.fromhex("A00100A1"), pulse_s=0.3)
    os.set_blocking(controller, False)

    def read_all() -> bytes:
        time.sleep(0.05)
        try:
            return os.read(controller, 1024)
        except BlockingIOError:
            return b""

    assert read_all() == bytes.fromhex("A00100A1")   # locked at start (fail-secure)
    relay.deliver(UNKNOWN)
    assert read_all() == b""
    relay.deliver(GRANT)
    assert read_all() == bytes.fromhex("A00101A2")   # unlocked ...
    time.sleep(0.4)
    assert read_all() == bytes.fromhex("A00100A1")   # ... and locked again after the pulse
    relay.close()
