"""A site on real servers (a throwaway PostgreSQL cluster and mosquitto, from Debian's packages):
how long a fresh kiosk takes to pull the whole gallery, how long a disabling or a deletion takes to
reach every connected kiosk's replica, and whether the records a kiosk queued through an outage of
both servers all arrive, each once.

The people are synthetic (random unit templates of the SFace size, five each, as enrollment keeps):
what is timed is the transport and the replica's writes, which do not depend on what the vectors
look like. Revocation is timed to the replica's commit; the kiosk loop sees it within its 0.5 s poll
of the store's gallery revision.
"""

import json
import tempfile
import threading
import time
from contextlib import ExitStack, closing
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from kiosk.config import BrokerConfig, PostgresConfig, SiteCredentialsConfig, SiteServerConfig
from kiosk.site.collector import SITE_SERVICE_USER, EventCollector, subscribe_durably
from kiosk.site.credentials import SiteCredentials
from kiosk.site.database import connect_site, migrate
from kiosk.site.gallery import SiteGallery
from kiosk.site.link import SiteLink
from kiosk.site.replica import Cursor, ReplicaSync
from kiosk.site.throwaway import ThrowawayBroker, ThrowawayPostgres
from kiosk.store.gallery import GalleryStore
from kiosk.store.keys import KioskSecrets
from kiosk.store.records import Person, TemplateSet

KIOSKS = {"bench-a": "bench-a-pw", "bench-b": "bench-b-pw"}
TEMPLATE_DIM = 128  # SFace
POPULATE_BATCH = 500  # people per site transaction while filling the site


@dataclass(frozen=True)
class SiteBenchPlan:
    people: int = 10_000
    templates_per_person: int = 5
    revocations: int = 10
    events: int = 1_000


class BenchSite:
    """The two servers, the site's schema, and configs for the kiosks and the site service."""

    def __init__(self, stack: ExitStack, folder: Path):
        self.postgres = stack.enter_context(ThrowawayPostgres())
        self.broker = stack.enter_context(ThrowawayBroker(KIOSKS))
        self.folder = folder
        self.owner = PostgresConfig(port=self.postgres.port, user=self.postgres.owner, sslmode="disable")
        self.owner_credentials = SiteCredentials(self.postgres.owner_password, self.broker.site_password)
        self.service_broker = BrokerConfig(port=self.broker.port, username=SITE_SERVICE_USER)
        with connect_site(self.owner, self.owner_credentials) as connection:
            migrate(connection, [self.postgres.kiosk_role])
        subscribe_durably(self.service_broker, self.broker.site_password)

    def kiosk_server(self, kiosk_id: str) -> SiteServerConfig:
        """A kiosk's site section, with its credentials in a private file, as an installer writes it."""
        credentials = self.folder / f"{kiosk_id}-site.json"
        credentials.write_text(json.dumps({"postgres_password": self.postgres.kiosk_password,
                                           "broker_password": KIOSKS[kiosk_id]}))
        credentials.chmod(0o600)
        return SiteServerConfig(kiosk_id=kiosk_id, credentials=SiteCredentialsConfig(file=credentials),
                                postgres=PostgresConfig(port=self.postgres.port, user=self.postgres.kiosk_role,
                                                        sslmode="disable"),
                                broker=BrokerConfig(port=self.broker.port), sync_poll_s=2.0, status_every_s=1.0)

    def gallery(self, secrets: KioskSecrets) -> SiteGallery:
        return SiteGallery(connect_site(self.owner, self.owner_credentials), self.owner, secrets)


def _populate(gallery: SiteGallery, plan: SiteBenchPlan) -> float:
    rng = np.random.default_rng(7)
    started = time.perf_counter()
    with tqdm(total=plan.people, desc="filling the site", unit="person") as bar:
        for first in range(0, plan.people, POPULATE_BATCH):
            with gallery.transaction():
                for number in range(first, min(first + POPULATE_BATCH, plan.people)):
                    vectors = rng.standard_normal((plan.templates_per_person, TEMPLATE_DIM)).astype(np.float32)
                    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                    gallery.upsert_person(Person(f"person-{number:05d}", f"Person {number}"))
                    gallery.replace_templates(f"person-{number:05d}", TemplateSet(vectors, "sface", "bench", 1))
            bar.update(min(POPULATE_BATCH, plan.people - first))
    return time.perf_counter() - started


def _wait_until(condition, timeout_s: float, what: str) -> float:
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > timeout_s:
            raise TimeoutError(f"{what}: not within {timeout_s:g} s")
        time.sleep(0.005)
    return time.perf_counter() - started


def _fresh_sync(site: BenchSite, secrets: KioskSecrets, path: Path) -> dict:
    with connect_site(site.kiosk_server("bench-a").postgres, SiteCredentials(site.postgres.kiosk_password)) as db, \
            GalleryStore.open(path, secrets, create=True) as store:
        started = time.perf_counter()
        with tqdm(desc="fresh kiosk sync", unit="person") as bar:
            report = ReplicaSync(store, secrets, 1000).pull(db, bar.update)
        seconds = time.perf_counter() - started
        templates = sum(store.template_counts().values())
    return {"seconds": round(seconds, 2), "people": report.updated, "templates": templates,
            "batches": report.batches, "people_per_second": round(report.updated / seconds)}


def _revoked(store: GalleryStore, person_id: str, disabled: bool) -> bool:
    person = store.get_person(person_id)
    return (person is not None and not person.enabled) if disabled else person is None


def _revocations(gallery: SiteGallery, stores: list[GalleryStore], count: int) -> dict:
    """Alternately disable and delete a person at the site; the seconds from the site's commit until
    each replica has it, every replica watched at once."""
    latencies: dict[str, list[float]] = {"disable": [], "delete": []}
    for number in range(count):
        person_id, kind = f"person-{number:05d}", "disable" if number % 2 == 0 else "delete"
        with gallery.transaction():
            if kind == "disable":
                person = gallery.get_person(person_id)
                assert person is not None
                gallery.upsert_person(replace(person, enabled=False))
            else:
                gallery.delete_rows(person_id, "benchmark")
        committed = time.perf_counter()
        waiting = list(stores)
        while waiting:
            if time.perf_counter() - committed > 30:
                raise TimeoutError(f"{person_id}: not revoked at every kiosk within 30 s")
            for store in [s for s in waiting if _revoked(s, person_id, kind == "disable")]:
                latencies[kind].append(time.perf_counter() - committed)
                waiting.remove(store)
            time.sleep(0.002)
    every = np.array(latencies["disable"] + latencies["delete"])
    return {"revocations": count, "kiosks": len(stores), "median_s": round(float(np.median(every)), 3),
            "p95_s": round(float(np.percentile(every, 95)), 3), "max_s": round(float(every.max()), 3),
            **{f"{kind}_median_s": round(float(np.median(v)), 3) for kind, v in latencies.items() if v}}


def _outage(site: BenchSite, store: GalleryStore, count: int) -> dict:
    """Both servers down, `count` records written at the kiosk, both back up: count what arrives."""
    collector = EventCollector(site.owner, site.service_broker, site.owner_credentials)
    stop = threading.Event()
    service = threading.Thread(target=collector.serve, args=(stop,), daemon=True)
    service.start()

    def arrived() -> tuple[int, int]:
        with connect_site(site.owner, site.owner_credentials) as db:
            row = db.execute("SELECT count(*), count(DISTINCT seq) FROM kiosk_events "
                             "WHERE kiosk_id = 'bench-a' AND kind = 'bench_outage'").fetchone()
        return (row[0], row[1]) if row else (0, 0)
    try:
        site.postgres.stop()
        site.broker.stop()
        for number in range(count):
            with store.transaction():
                store.log_event("bench_outage", None, number=number)
        site.postgres.start()
        site.broker.start()
        seconds = _wait_until(lambda: arrived()[0] >= count, 120, f"{count} queued records at the site")
        time.sleep(2)  # anything sent twice would land now
        stored, distinct = arrived()
    finally:
        stop.set()
        service.join(timeout=30)
    return {"queued": count, "stored": stored, "lost": count - distinct, "duplicated": stored - distinct,
            "resends_dropped_as_duplicates": collector.counts["events duplicate"], "delivered_s": round(seconds, 2)}


def site_report(plan: SiteBenchPlan) -> tuple[dict, list[str]]:
    admin = KioskSecrets.generate()
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="facegate-site-bench-")))
        site = BenchSite(stack, folder)
        gallery = stack.enter_context(site.gallery(admin))
        fill_s = _populate(gallery, plan)
        # each door its own database key, the site's template secret (store init --template-secret-from)
        kiosk_secrets = {k: replace(KioskSecrets.generate(), template_secret=admin.template_secret) for k in KIOSKS}
        paths = {k: folder / f"{k}.db" for k in KIOSKS}
        sync = _fresh_sync(site, kiosk_secrets["bench-a"], paths["bench-a"])
        GalleryStore.open(paths["bench-b"], kiosk_secrets["bench-b"], create=True).close()
        for kiosk_id in KIOSKS:
            stack.enter_context(closing(SiteLink(site.kiosk_server(kiosk_id), paths[kiosk_id],
                                                 kiosk_secrets[kiosk_id], kiosk_id)))
        readers = [stack.enter_context(GalleryStore.open(paths[k], kiosk_secrets[k])) for k in KIOSKS]
        head = gallery.revision()
        _wait_until(lambda: all((Cursor.read(r) or Cursor()).complete_revision >= head for r in readers), 120,
                    "both kiosks in step with the site")
        revocation = _revocations(gallery, readers, plan.revocations)
        gallery.close()
        outage = _outage(site, readers[0], plan.events)
    data = {"people": plan.people, "templates_per_person": plan.templates_per_person, "fill_site_s": round(fill_s, 1),
            "fresh_sync": sync, "revocation": revocation, "outage": outage}
    lines = [
        f"site on a throwaway PostgreSQL and mosquitto: {plan.people} people x {plan.templates_per_person} templates "
        f"(filled in {fill_s:.1f} s)",
        f"  fresh kiosk sync: {sync['people']} people, {sync['templates']} templates in {sync['seconds']} s "
        f"({sync['people_per_second']} people/s, {sync['batches']} batches; target <= 20 s)",
        f"  revocation (disable or delete) to {revocation['kiosks']} connected kiosks, {revocation['revocations']} "
        f"times: median {revocation['median_s']} s, p95 {revocation['p95_s']} s, max {revocation['max_s']} s "
        f"(disable median {revocation.get('disable_median_s')} s, delete {revocation.get('delete_median_s')} s; "
        f"target <= 5 s)",
        f"  outage of PostgreSQL and the broker: {outage['queued']} records queued at the kiosk, {outage['stored']} "
        f"stored at the site {outage['delivered_s']} s after the restart, {outage['lost']} lost, "
        f"{outage['duplicated']} duplicated ({outage['resends_dropped_as_duplicates']} resends recognised and dropped)"]
    return data, lines

