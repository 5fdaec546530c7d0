"""A kiosk's link to its site, beside the kiosk loop: one thread keeps the replica in step with the
site's gallery (pulled at once when PostgreSQL announces a change, else every sync_poll_s), one
sends the kiosk's records up through MQTT. Each has its own connection to the replica store; the
kiosk loop sees a pulled change through the store's gallery revision, as it sees any other.

Neither thread ever stops the kiosk: while the site or the network is down, the kiosk decides on
its replica and its records wait in the store.
"""

import logging
import threading
import time

from kiosk.config import SiteServerConfig
from kiosk.errors import ConfigError, FacegateError
from kiosk.site.credentials import load_site_credentials
from kiosk.site.database import SiteConnection, SiteDatabaseError, connect_site, describe
from kiosk.site.gallery import NOTIFY_CHANNEL
from kiosk.site.replica import Cursor, ReplicaSync
from kiosk.site.uplink import EventUplink
from kiosk.store.gallery import GalleryStore
from kiosk.store.keys import KioskSecrets

log = logging.getLogger(__name__)

UPLINK_POLL_S = 0.25
IN_STEP_KEY = "site_in_step_at"  # when the replica was last known to hold the site's gallery (epoch seconds)
IN_STEP_WRITE_S = 60.0  # how often that is written to the store, for a restart while the site is away
CLOSE_FLUSH_S = 5.0  # how long a stopping kiosk tries to send what it still holds
RETRY_S = (1, 2, 5)  # waits between attempts to reach PostgreSQL again


def require_kiosk_id(server: SiteServerConfig) -> str:
    if not server.kiosk_id:
        raise ConfigError("site.server.kiosk_id is empty: a kiosk of a site needs its own id (its broker user)")
    return server.kiosk_id


class SiteLink:
    def __init__(self, server: SiteServerConfig, store_path, secrets: KioskSecrets, door: str):
        self.server, self.kiosk_id = server, require_kiosk_id(server)
        self.credentials = load_site_credentials(server.credentials)
        self._stop = threading.Event()
        self._sync_store = GalleryStore.open(store_path, secrets)
        self._uplink_store = GalleryStore.open(store_path, secrets)
        self.sync = ReplicaSync(self._sync_store, secrets, server.sync_batch, describe(server.postgres))
        stored = self._sync_store.get_meta(IN_STEP_KEY)
        self._in_step_written = float(stored) if stored else None
        # the bound runs on the monotonic clock: a wall clock set back must not stretch it. What the store
        # says (wall clock, from before this start) counts only if it is not in the future
        age = time.time() - self._in_step_written if self._in_step_written is not None else -1.0
        self._in_step_monotonic = time.monotonic() - age if age >= 0 else None
        self.uplink = EventUplink(self._uplink_store, server.broker, self.kiosk_id, door,
                                  self.credentials.broker_password, secrets.door_signing_key)
        self._threads = [threading.Thread(target=self._keep_in_sync, name="site-sync", daemon=True),
                         threading.Thread(target=self._send_up, name="site-uplink", daemon=True)]
        for thread in self._threads:
            thread.start()

    def _listen(self) -> SiteConnection:
        connection = connect_site(self.server.postgres, self.credentials)
        connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
        return connection

    def _keep_in_sync(self) -> None:
        failures = 0
        connection: SiteConnection | None = None
        while not self._stop.is_set():
            try:
                if connection is None:
                    connection = self._listen()
                    if failures:
                        log.warning("site reachable again after %d failed attempts", failures)
                    failures = 0
                self.sync.pull(connection)
                self._mark_in_step()
                for _ in connection.notifies(timeout=self.server.sync_poll_s, stop_after=1):
                    pass
            except (FacegateError, SiteDatabaseError) as exc:
                if failures == 0:
                    log.warning("site gallery unreachable (%s); deciding on the replica meanwhile", exc)
                if connection is not None:
                    connection.close()
                connection = None
                self._stop.wait(RETRY_S[min(failures, len(RETRY_S) - 1)])
                failures += 1
        if connection is not None:
            connection.close()

    def _mark_in_step(self) -> None:
        self._in_step_monotonic, now = time.monotonic(), time.time()
        if self._in_step_written is None or abs(now - self._in_step_written) >= IN_STEP_WRITE_S:
            with self._sync_store.transaction():
                self._sync_store.set_meta(IN_STEP_KEY, f"{now:.3f}")
            self._in_step_written = now

    def offline_problem(self) -> str | None:
        """Why this door may grant nobody now: with site.server.max_offline_s set, the site has been out
        of reach for longer than that (fail-secure: a revocation made meanwhile cannot have arrived)."""
        limit = self.server.max_offline_s
        if limit is None:
            return None
        since = self._in_step_monotonic
        if since is None:
            return "the site's gallery was not pulled since this kiosk started (max_offline_s is set)"
        away = time.monotonic() - since
        if away <= limit:
            return None
        return f"the site out of reach for {away:.0f} s, more than max_offline_s ({limit:g} s)"

    def _send_up(self) -> None:
        since_status = self.server.status_every_s
        while not self._stop.wait(UPLINK_POLL_S):
            try:
                self.uplink.send_pending()
                since_status += UPLINK_POLL_S
                if since_status >= self.server.status_every_s:
                    self.uplink.report_status((Cursor.read(self._uplink_store) or Cursor()).complete_revision)
                    since_status = 0.0
            except FacegateError as exc:  # the store busy for long: try again on the next round
                log.warning("site uplink: %s", exc)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        try:
            left = self.uplink.flush(CLOSE_FLUSH_S).queued
            if left:
                log.warning("%d records wait in the store for the site; they go up when the kiosk next starts", left)
        finally:
            self.uplink.close()
            self._sync_store.close()
            self._uplink_store.close()
