"""`site serve`: every kiosk's events, attendance and state from the broker into PostgreSQL, each
exactly once.

A message is acknowledged to the broker (manual PUBACK) only after its row is committed; a message
seen again (a kiosk's resend, a redelivery after a crash) hits the row's unique id and is counted
as a duplicate, not stored. The kiosk id comes from the topic, which the broker's ACL ties to the
kiosk's login, never from the payload. While PostgreSQL is down nothing is acknowledged: the
collector leaves the broker, which keeps the messages on its persistent session, and comes back
when PostgreSQL does.

The site service's session at the broker is made durable by `site init` (subscribe_durably): from
then on the broker queues every kiosk's records for it, even those sent before `site serve` first
runs; without that session a record published with nobody subscribed would be acknowledged and
dropped.
"""

import hashlib
import logging
import threading
import time
from collections import Counter

import paho.mqtt.client as mqtt
import psycopg

from kiosk.config import BrokerConfig, PostgresConfig
from kiosk.errors import FacegateError
from kiosk.site.credentials import SiteCredentials
from kiosk.site.database import (
    SiteConnection,
    SiteDatabaseError,
    SiteUnreachableError,
    connect_site,
    describe,
    require_schema,
)
from kiosk.site.messages import RejectedMessage, parse_message
from kiosk.site.signing import FORGED_REASON, verifies
from kiosk.site.uplink import make_client

log = logging.getLogger(__name__)

SITE_CLIENT_ID = "facegate-site"
SITE_SERVICE_USER = "facegate-site"  # the broker user `site serve` logs in as when broker.username is empty

_INSERT_EVENT = """
INSERT INTO kiosk_events (event_id, kiosk_id, store_id, seq, at, kind, person_ref, subject, detail, prev_hash, hash,
                          signed)
VALUES (%(id)s, %(kiosk)s, %(store)s, %(seq)s, %(at)s, %(kind)s,
        CASE WHEN EXISTS (SELECT 1 FROM tombstones WHERE person_id = %(person_ref)s) THEN %(subject)s
             ELSE %(person_ref)s END,
        %(subject)s, %(detail)s, %(prev_hash)s, %(hash)s, %(signed)s)
ON CONFLICT DO NOTHING
"""
_INSERT_ATTENDANCE = """
INSERT INTO kiosk_attendance (event_id, kiosk_id, person_ref, subject, at, direction, door, signed)
VALUES (%(id)s, %(kiosk)s,
        CASE WHEN EXISTS (SELECT 1 FROM tombstones WHERE person_id = %(person_ref)s) THEN %(subject)s
             ELSE %(person_ref)s END,
        %(subject)s, %(at)s, %(direction)s, %(door)s, %(signed)s)
ON CONFLICT DO NOTHING
"""
_UPSERT_KIOSK = """
INSERT INTO kiosks (kiosk_id, door, online, revision, queued, last_seen)
VALUES (%(kiosk)s, %(door)s, %(online)s, %(revision)s, %(queued)s, now())
ON CONFLICT (kiosk_id) DO UPDATE SET door = coalesce(excluded.door, kiosks.door), online = excluded.online,
    revision = coalesce(excluded.revision, kiosks.revision), queued = coalesce(excluded.queued, kiosks.queued),
    last_seen = now()
"""


_INSERT_DEAD_LETTER = """
INSERT INTO dead_letters (kiosk_id, topic, payload, payload_sha256, reason)
VALUES (%(kiosk)s, %(topic)s, %(payload)s, %(sha)s, %(reason)s)
ON CONFLICT DO NOTHING
"""
MAX_DEAD_LETTER_BYTES = 65536  # a huge poison message is kept in part (its digest is of the whole)


def first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


class BrokerUnreachableError(FacegateError):
    """Raised when the site's broker cannot be reached, refuses the login or the subscription."""


def subscriptions(prefix: str) -> list[tuple[str, int]]:
    return [(f"{prefix}/kiosk/+/{kind}", 1) for kind in ("events", "attendance", "status")]


def service_client(broker: BrokerConfig, password: str | None, manual_ack: bool = False) -> mqtt.Client:
    """The site service's client: one client id, so `site init` and `site serve` share one session."""
    return make_client(broker, SITE_CLIENT_ID, broker.username or SITE_SERVICE_USER, password, manual_ack=manual_ack)


def subscribe_durably(broker: BrokerConfig, password: str | None, timeout_s: float = 10.0) -> None:
    """Open the site service's persistent session and subscribe it (QoS 1), so that the broker keeps
    every kiosk record for the service from now on, whether `site serve` runs or not."""
    client = service_client(broker, password)
    outcome: dict[str, object] = {}
    done = threading.Event()

    def on_connect(client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            outcome["error"] = f"refused the login ({reason_code})"
            done.set()
        else:
            client.subscribe(subscriptions(broker.topic_prefix))

    def on_subscribe(client, userdata, mid, reason_codes, properties) -> None:
        refused = [code for code in reason_codes if code.is_failure]
        if refused:
            outcome["error"] = f"refused the subscription ({refused[0]}; check the broker's ACL)"
        done.set()

    client.on_connect, client.on_subscribe = on_connect, on_subscribe
    where = f"MQTT broker {broker.host}:{broker.port}"
    try:
        client.connect(broker.host, broker.port, keepalive=15)
    except OSError as exc:
        raise BrokerUnreachableError(f"{where}: cannot connect ({exc.strerror or exc})") from None
    client.loop_start()
    try:
        if not done.wait(timeout_s):
            raise BrokerUnreachableError(f"{where}: no answer to the subscription within {timeout_s:.0f} s")
        if "error" in outcome:
            raise BrokerUnreachableError(f"{where}: {outcome['error']}")
    finally:
        client.disconnect()
        client.loop_stop()


class EventCollector:
    def __init__(self, postgres: PostgresConfig, broker: BrokerConfig, credentials: SiteCredentials):
        self.postgres, self.broker, self.credentials = postgres, broker, credentials
        self.counts: Counter[str] = Counter()  # stored / duplicate / rejected, by kind
        self._db: SiteConnection | None = None
        self._database_lost = threading.Event()
        self._client: mqtt.Client | None = None

    def _connect_database(self) -> None:
        self._db = connect_site(self.postgres, self.credentials)
        require_schema(self._db, describe(self.postgres))

    def _connect_broker(self) -> None:
        client = service_client(self.broker, self.credentials.broker_password, manual_ack=True)
        prefix = self.broker.topic_prefix

        def on_connect(client, userdata, flags, reason_code, properties) -> None:
            if reason_code.is_failure:
                log.error("the broker refused the site service: %s", reason_code)
                return
            client.subscribe(subscriptions(prefix))
            log.info("site service subscribed to every kiosk's events")

        client.on_connect = on_connect
        client.on_message = self._on_message
        client.connect_async(self.broker.host, self.broker.port, keepalive=15)
        client.loop_start()
        self._client = client

    def _leave_broker(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def _on_message(self, client: mqtt.Client, userdata, message: mqtt.MQTTMessage) -> None:
        parts = message.topic.split("/")
        kiosk_id, kind = parts[-2], parts[-1]
        if self._database_lost.is_set():
            return  # not acknowledged: the broker delivers it again once the collector is back
        try:
            try:
                fields, sent = parse_message(kind, bytes(message.payload))
                stored = self.store(kind, kiosk_id, fields, self._signed(kind, kiosk_id, sent))
            except RejectedMessage as exc:
                self._dead_letter(kiosk_id, message, str(exc))
                stored = None
            except (psycopg.DataError, psycopg.IntegrityError) as exc:  # PostgreSQL refuses the values themselves
                self._dead_letter(kiosk_id, message, f"refused by PostgreSQL: {first_line(exc)}")
                stored = None
        except SiteDatabaseError as exc:  # the connection, not the message: nothing acknowledged
            log.warning("PostgreSQL failed (%s); leaving the broker until it is back", first_line(exc))
            self._database_lost.set()
            return
        if stored is not None:
            self.counts[f"{kind} {'stored' if stored else 'duplicate'}"] += 1
        client.ack(message.mid, message.qos)

    def _dead_letter(self, kiosk_id: str, message: mqtt.MQTTMessage, reason: str) -> None:
        """Set a message aside with the reason (once per payload), so it is acknowledged and the next
        one is read: one door's bad message never stops the others'."""
        assert self._db is not None
        log.warning("set aside a %s message from kiosk %s: %s", message.topic.rsplit("/", 1)[-1], kiosk_id, reason)
        payload = bytes(message.payload)
        self._db.execute(_INSERT_DEAD_LETTER, {"kiosk": kiosk_id, "topic": message.topic,
                                               "payload": payload[:MAX_DEAD_LETTER_BYTES],
                                               "sha": hashlib.sha256(payload).hexdigest(), "reason": reason[:1000]})
        self.counts[f"{message.topic.rsplit('/', 1)[-1]} set aside"] += 1

    def _signed(self, kind: str, kiosk_id: str, sent: dict) -> bool:
        """Whether a record verified under its door's trusted key; RejectedMessage when the door has one
        and the record does not verify (forged, or another door's). A door with no trusted key yet is
        stored as unsigned, and `site status` says so."""
        if kind == "status":
            return False
        assert self._db is not None
        row = self._db.execute("SELECT public_key FROM door_keys WHERE kiosk_id = %s", (kiosk_id,)).fetchone()
        if row is None:
            return False
        if not verifies(row[0], kiosk_id, kind, sent):
            raise RejectedMessage(f"{FORGED_REASON} {kiosk_id}'s key ("
                                  f"{'no signature' if sent.get('sig') is None else 'the signature does not verify'}): "
                                  f"a forged record, or another door's")
        return True

    def store(self, kind: str, kiosk_id: str, data: dict, signed: bool = False) -> bool:
        """Write one message; False when it was stored before (its id is known)."""
        assert self._db is not None
        if kind == "status":
            self._db.execute(_UPSERT_KIOSK, {"kiosk": kiosk_id, "door": data.get("door"),
                                             "online": bool(data.get("online")), "revision": data.get("revision"),
                                             "queued": data.get("queued")})
            return True
        # ids are the kiosk's own: prefixed with its (ACL-checked) id, no kiosk can shadow another's records
        row = dict(data, id=f"{kiosk_id}/{data['id']}", kiosk=kiosk_id, signed=signed)  # checked by parse_message
        query = _INSERT_EVENT if kind == "events" else _INSERT_ATTENDANCE
        return self._db.execute(query, row).rowcount == 1

    def serve(self, stop: threading.Event) -> None:
        """Until `stop` is set: collect, and ride out PostgreSQL and broker outages."""
        while not stop.is_set():
            try:
                self._connect_database()
            except SiteUnreachableError as exc:
                log.warning("%s; trying again in 2 s", exc)
                stop.wait(2)
                continue
            self._database_lost.clear()
            self._connect_broker()
            while not stop.is_set() and not self._database_lost.is_set():
                stop.wait(0.5)
            self._leave_broker()
            if self._db is not None:
                self._db.close()
            if self._database_lost.is_set():
                time.sleep(1)
