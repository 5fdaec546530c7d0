"""A kiosk's events up to the site through MQTT: every audit record and attendance record of the
replica store, oldest first, QoS 1 on a persistent session, and the kiosk's state now and then.

The store's own tables are the outbox: a record is sent after it is committed, and the cursor of
what the broker acknowledged (PUBACK) moves in the store only then. Offline, records simply wait in
the store (they survive a power cut); on reconnect they go up in order. A record may go up twice
(a crash between the PUBACK and the cursor's write): each has a unique id, and the site stores it
once.
"""

import json
import logging
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from kiosk.config import BrokerConfig
from kiosk.site.signing import sign_record
from kiosk.store.derived import PSEUDONYM_PREFIX
from kiosk.store.gallery import GalleryStore

log = logging.getLogger(__name__)

CURSORS = {"events": "uplink_events", "attendance": "uplink_attendance"}


def kiosk_topic(prefix: str, kiosk_id: str, kind: str) -> str:
    """`facegate/kiosk/door-a/events`: the broker's ACL lets kiosk door-a publish under its own id only."""
    return f"{prefix}/kiosk/{kiosk_id}/{kind}"


def make_client(broker: BrokerConfig, client_id: str, username: str, password: str | None,
                manual_ack: bool = False) -> mqtt.Client:
    """A client on a persistent session (clean_session off: the broker keeps what was not acknowledged)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                         protocol=mqtt.MQTTv311, manual_ack=manual_ack)
    client.username_pw_set(username, password)
    if broker.tls_ca_file is not None:
        client.tls_set(ca_certs=str(broker.tls_ca_file.expanduser()))
    client.reconnect_delay_set(min_delay=1, max_delay=5)
    client.max_inflight_messages_set(100)
    return client


@dataclass
class UplinkReport:
    sent: int = 0
    queued: int = 0


class EventUplink:
    def __init__(self, store: GalleryStore, broker: BrokerConfig, kiosk_id: str, door: str, password: str | None,
                 signing_key: bytes | None = None, batch: int = 500, ack_timeout_s: float = 10.0):
        self.store, self.kiosk_id, self.door, self.batch, self.ack_timeout_s = store, kiosk_id, door, batch, ack_timeout_s
        self.signing_key = signing_key  # None: a key file from before signing (`site door-key` makes one)
        self.prefix = broker.topic_prefix
        self.store_id = store.store_id()
        self.connected = False
        self._closing = False
        self._client = make_client(broker, f"facegate-kiosk-{kiosk_id}", broker.username or kiosk_id, password)
        self._client.will_set(kiosk_topic(self.prefix, kiosk_id, "status"),
                              json.dumps({"kiosk": kiosk_id, "door": door, "online": False}), qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.connect_async(broker.host, broker.port, keepalive=15)
        self._client.loop_start()  # connects, and reconnects for as long as the kiosk runs

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("site broker refused the kiosk: %s", reason_code)
            return
        self.connected = True
        log.info("site broker connected")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self.connected and not self._closing:
            log.warning("site broker connection lost (%s); events wait in the store", reason_code)
        self.connected = False

    def queued(self) -> int:
        return sum(self.store.rows_after(table, self._cursor(table)) for table in CURSORS)

    def _cursor(self, table: str) -> int:
        return int(self.store.get_meta(CURSORS[table]) or 0)

    def send_pending(self) -> UplinkReport:
        """Send what waits, a batch per table at a time, until nothing waits or the broker stops acknowledging."""
        report = UplinkReport()
        for table in CURSORS:
            while self.connected:
                sent = self._send_batch(table)
                report.sent += sent
                if sent < self.batch:
                    break
        report.queued = self.queued()
        return report

    def flush(self, timeout_s: float) -> UplinkReport:
        """Send everything that waits, riding out a reconnect in progress, for at most `timeout_s`:
        what the kiosk decided last goes up before it stops if the broker can be reached at all."""
        deadline = time.monotonic() + timeout_s
        while True:
            report = self.send_pending()
            if report.queued == 0 or time.monotonic() >= deadline:
                return report
            time.sleep(0.1)

    def _send_batch(self, table: str) -> int:
        cursor = self._cursor(table)
        rows = (self.store.events_after(cursor, self.batch) if table == "events"
                else self.store.attendance_after(cursor, self.batch))
        if not rows:
            return 0
        topic = kiosk_topic(self.prefix, self.kiosk_id, table)
        infos = [self._client.publish(topic, json.dumps(self._signed(table, self._message(table, row))), qos=1)
                 for row in rows]
        deadline = time.monotonic() + self.ack_timeout_s
        acknowledged = 0
        for info in infos:
            try:
                info.wait_for_publish(timeout=max(0.0, deadline - time.monotonic()))
            except (RuntimeError, ValueError):
                break
            if not info.is_published():
                break
            acknowledged += 1
        if acknowledged:
            with self.store.transaction():
                self.store.set_meta(CURSORS[table], str(rows[acknowledged - 1][0]))
        return acknowledged  # fewer than the batch: the broker stopped acknowledging, or nothing more waits

    def _signed(self, table: str, record: dict) -> dict:
        if self.signing_key is None:
            return record
        return dict(record, sig=sign_record(self.signing_key, self.kiosk_id, table, record))

    def _message(self, table: str, row: tuple) -> dict:
        if table == "events":
            seq, at, kind, person_ref, subject, detail, prev_hash, digest = row
            return {"id": f"{self.store_id}-e{seq}", "store": self.store_id, "seq": seq, "at": at, "kind": kind,
                    "person_ref": person_ref, "subject": subject, "detail": detail, "prev_hash": prev_hash,
                    "hash": digest}
        seq, person_ref, at, direction, door = row
        subject = person_ref if person_ref.startswith(PSEUDONYM_PREFIX) else self.store.pseudonym(person_ref)
        return {"id": f"{self.store_id}-a{seq}", "person_ref": person_ref, "subject": subject, "at": at,
                "direction": direction, "door": door}

    def report_status(self, revision: int) -> None:
        """The kiosk's state, retained, for `site status`; dropped quietly when offline."""
        if not self.connected:
            return
        state = {"kiosk": self.kiosk_id, "door": self.door, "online": True, "revision": revision,
                 "queued": self.queued(), "store": self.store_id}
        self._client.publish(kiosk_topic(self.prefix, self.kiosk_id, "status"), json.dumps(state), qos=1, retain=True)

    def close(self) -> None:
        self._closing = True
        if self.connected:
            info = self._client.publish(kiosk_topic(self.prefix, self.kiosk_id, "status"),
                                        json.dumps({"kiosk": self.kiosk_id, "door": self.door, "online": False}),
                                        qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2)
            except (RuntimeError, ValueError):
                pass
        self._client.disconnect()
        self._client.loop_stop()
