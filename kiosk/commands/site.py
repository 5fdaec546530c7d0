"""`site init | serve | status | sync`: a site with many doors (docs/site.md)."""

import argparse
import signal
import sys
import threading
import time
from datetime import datetime, timezone

from kiosk.commands import add_command
from kiosk.commands.config_check import add_config_option
from kiosk.config import KioskConfig, SiteServerConfig, load_config
from kiosk.errors import ConfigError


def register(subparsers) -> None:
    group = subparsers.add_parser("site", help="a site with many doors: gallery in PostgreSQL, events through MQTT"
                                  ).add_subparsers(dest="site_command", required=True, metavar="ACTION")
    init = add_command(group, "init", "create or migrate the site's tables (with the role that will own them) and "
                       "open the site service's durable session at the broker", _init)
    init.add_argument("--kiosk-role", action="append", default=[], metavar="ROLE",
                      help="a PostgreSQL role the kiosks log in with: it may read the gallery, nothing else")
    serve = add_command(group, "serve", "store every kiosk's events, attendance and state in PostgreSQL", _serve)
    serve.add_argument("--max-seconds", type=float, default=None, help="stop after this long (default: until stopped)")
    status = add_command(group, "status", "the kiosks: last seen, revision lag, queued events, audit chain", _status)
    sync = add_command(group, "sync", "bring this kiosk's replica up to the site's gallery now", _sync)
    sync.add_argument("--no-progress", action="store_true", help="no progress bar")
    for parser in (init, serve, status, sync):
        add_config_option(parser)


def _server(config: KioskConfig, path) -> SiteServerConfig:
    if config.site.server is None:
        raise ConfigError(f"{path}: site.server is not set; a kiosk on its own has no site (see docs/site.md)")
    return config.site.server


def _connect(server: SiteServerConfig, credentials=None):
    from kiosk.site.credentials import load_site_credentials
    from kiosk.site.database import connect_site

    return connect_site(server.postgres, credentials or load_site_credentials(server.credentials))


def _init(args: argparse.Namespace) -> tuple[dict, str]:
    from kiosk.site.collector import subscribe_durably
    from kiosk.site.credentials import load_site_credentials
    from kiosk.site.database import describe, migrate

    server = _server(load_config(args.config), args.config)
    credentials = load_site_credentials(server.credentials)
    with _connect(server, credentials) as connection:
        before, after = migrate(connection, args.kiosk_role)
    subscribe_durably(server.broker, credentials.broker_password)  # records sent before `site serve` are kept
    where = describe(server.postgres)
    change = "up to date" if before == after else "created" if before == 0 else f"migrated from version {before}"
    grants = f"; {', '.join(args.kiosk_role)} may read the gallery" if args.kiosk_role else ""
    return {"schema_version": after, "previous_version": before, "kiosk_roles": args.kiosk_role}, \
        (f"{where}: site schema {change} (version {after}){grants}\n"
         f"MQTT broker {server.broker.host}:{server.broker.port}: the site service's session holds every kiosk's "
         f"records until `site serve` stores them")


def _serve(args: argparse.Namespace) -> tuple[dict, str]:
    from kiosk.site.collector import EventCollector
    from kiosk.site.credentials import load_site_credentials

    server = _server(load_config(args.config), args.config)
    collector = EventCollector(server.postgres, server.broker, load_site_credentials(server.credentials))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.max_seconds:
        threading.Timer(args.max_seconds, stop.set).start()
    print(f"site service: collecting from {server.broker.host}:{server.broker.port} into "
          f"{server.postgres.host}:{server.postgres.port}/{server.postgres.dbname}", file=sys.stderr, flush=True)
    try:
        collector.serve(stop)
    except KeyboardInterrupt:
        stop.set()
    counts = dict(sorted(collector.counts.items()))
    return {"counts": counts}, "collected: " + (", ".join(f"{n} {k}" for k, n in counts.items()) or "nothing")


def _age(moment: datetime) -> str:
    seconds = (datetime.now(timezone.utc) - moment).total_seconds()
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago" if seconds < 7200 else \
        f"{seconds / 3600:.0f} h ago"


def _status(args: argparse.Namespace) -> tuple[dict, str]:
    from kiosk.site.database import describe, require_schema
    from kiosk.site.report import kiosk_states

    server = _server(load_config(args.config), args.config)
    with _connect(server) as connection:
        require_schema(connection, describe(server.postgres))
        revision, states = kiosk_states(connection)
        people = connection.execute("SELECT count(*) FROM people").fetchone()
    rows = [{"kiosk": s.kiosk_id, "door": s.door, "online": s.online, "last_seen": s.last_seen.isoformat(),
             "revision": s.revision, "lag": s.lag, "queued": s.queued, "events": s.events,
             "audit_chain": "intact" if s.chain is None else s.chain} for s in states]
    lines = [f"site revision {revision}, {people[0] if people else 0} people, {len(rows)} kiosks"]
    lines += [f"  {s.kiosk_id:<14} {s.door or '-':<10} {'online' if s.online else 'OFFLINE':<8} "
              f"seen {_age(s.last_seen):<12} "
              f"lag {s.lag if s.lag is not None else '?':<4} queued {s.queued if s.queued is not None else '?':<6} "
              f"events {s.events:<7} chain {'intact' if s.chain is None else 'BROKEN: ' + s.chain}" for s in states]
    broken = any(s.chain for s in states)
    return {"revision": revision, "kiosks": rows, "exit_code": 1 if broken else 0}, "\n".join(lines)


def _sync(args: argparse.Namespace) -> tuple[dict, str]:
    from tqdm import tqdm

    from kiosk.site.database import describe
    from kiosk.site.replica import ReplicaSync
    from kiosk.store.access import open_store

    config = load_config(args.config)
    server = _server(config, args.config)
    store, secrets = open_store(config.store.resolved_path, config.store.keys, create=True)
    started = time.perf_counter()
    with store, _connect(server) as connection, tqdm(desc="syncing people", unit="person",
                                                     disable=args.no_progress or args.json) as bar:
        report = ReplicaSync(store, secrets, server.sync_batch, describe(server.postgres)).pull(connection, bar.update)
    seconds = time.perf_counter() - started
    data = {"updated": report.updated, "removed": report.removed, "batches": report.batches,
            "revision": report.revision, "seconds": round(seconds, 2)}
    return data, (f"replica at site revision {report.revision}: {report.updated} people written, {report.removed} "
                  f"removed, in {report.batches} batches, {seconds:.1f} s")
