"""`site init | serve | status | sync`: a site with many doors (docs/site.md)."""

import argparse
import json
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
    door_key = add_command(group, "door-key", "this door's public signing key, for `site trust-door` (a key file "
                           "from before signing gets its signing key now)", _door_key)
    trust = add_command(group, "trust-door", "trust a door's public signing key: from now on only records it "
                        "signed are stored in its name", _trust_door)
    trust.add_argument("kiosk_id", help="the door's kiosk id (its broker user)")
    trust.add_argument("public_key", help="the 64 hex digits `site door-key` printed on that door")
    for parser in (init, serve, status, sync, door_key, trust):
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
    from kiosk.site.database import LARGE_OBJECT_FUNCTIONS, describe, large_object_gaps, migrate

    server = _server(load_config(args.config), args.config)
    credentials = load_site_credentials(server.credentials)
    with _connect(server, credentials) as connection:
        before, after = migrate(connection, args.kiosk_role)
        open_to_large_objects = large_object_gaps(connection, args.kiosk_role)
    subscribe_durably(server.broker, credentials.broker_password)  # records sent before `site serve` are kept
    where = describe(server.postgres)
    change = "up to date" if before == after else "created" if before == 0 else f"migrated from version {before}"
    grants = f"; {', '.join(args.kiosk_role)} may read the gallery" if args.kiosk_role else ""
    lines = [f"{where}: site schema {change} (version {after}){grants}",
             f"MQTT broker {server.broker.host}:{server.broker.port}: the site service's session holds every kiosk's "
             f"records until `site serve` stores them"]
    if open_to_large_objects:
        lines.append(f"WARNING: {', '.join(open_to_large_objects)} may still create large objects, which fill the disk "
                     f"and are never removed; as the PostgreSQL superuser run: REVOKE EXECUTE ON FUNCTION "
                     f"{', '.join(LARGE_OBJECT_FUNCTIONS)} FROM PUBLIC; (docs/site.md)")
    return {"schema_version": after, "previous_version": before, "kiosk_roles": args.kiosk_role,
            "roles_open_to_large_objects": open_to_large_objects}, "\n".join(lines)


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
             "audit_chain": "intact" if s.chain is None else s.chain, "key_trusted": s.trusted,
             "unsigned_records": s.unsigned, "forged_records": s.forged, "set_aside": s.set_aside} for s in states]
    lines = [f"site revision {revision}, {people[0] if people else 0} people, {len(rows)} kiosks"]
    lines += [f"  {s.kiosk_id:<14} {s.door or '-':<10} {'online' if s.online else 'OFFLINE':<8} "
              f"seen {_age(s.last_seen):<12} "
              f"lag {s.lag if s.lag is not None else '?':<4} queued {s.queued if s.queued is not None else '?':<6} "
              f"events {s.events:<7} chain {'intact' if s.chain is None else 'BROKEN: ' + s.chain}; "
              + _signatures(s) for s in states]
    broken = any(s.chain or s.forged for s in states)
    return {"revision": revision, "kiosks": rows, "exit_code": 1 if broken else 0}, "\n".join(lines)


def _signatures(state) -> str:
    words = ("records signed" if state.trusted else
             "records NOT SIGNED: no key trusted for this door (site trust-door)")
    if state.trusted and state.unsigned:
        words += f" ({state.unsigned} stored before its key was trusted)"
    if state.forged:
        words += f"; FORGED: {state.forged} records in its name did not verify and were set aside"
    if state.set_aside > state.forged:
        words += f"; {state.set_aside - state.forged} malformed records set aside"
    return words


def _door_key(args: argparse.Namespace) -> tuple[dict, str]:
    import secrets as random_secrets
    from dataclasses import replace

    from kiosk.site.signing import public_key_hex
    from kiosk.store.keys import KEY_BYTES, load_secrets, save_secrets

    config = load_config(args.config)
    keys = load_secrets(config.store.keys)
    made = keys.door_signing_key is None
    if made:
        keys = replace(keys, door_signing_key=random_secrets.token_bytes(KEY_BYTES))
        save_secrets(config.store.keys, keys)
    assert keys.door_signing_key is not None
    public = public_key_hex(keys.door_signing_key)
    kiosk = config.site.server.kiosk_id if config.site.server is not None else None
    return {"kiosk": kiosk, "public_key": public, "created": made}, (
        f"{'made a signing key for this door; ' if made else ''}public key {public}\n"
        f"on the administrators' station: python main.py site trust-door {kiosk or 'KIOSK_ID'} {public}")


def _trust_door(args: argparse.Namespace) -> tuple[dict, str]:
    from kiosk.site.database import describe, require_schema
    from kiosk.site.signing import parse_public_key

    server = _server(load_config(args.config), args.config)
    try:
        public = parse_public_key(args.public_key)
    except ValueError as exc:
        raise ConfigError(f"public_key: {exc}") from None
    with _connect(server) as connection:
        require_schema(connection, describe(server.postgres))
        with connection.transaction():
            before = connection.execute("SELECT public_key FROM door_keys WHERE kiosk_id = %s",
                                        (args.kiosk_id,)).fetchone()
            connection.execute("INSERT INTO door_keys (kiosk_id, public_key) VALUES (%s, %s) ON CONFLICT (kiosk_id) "
                                "DO UPDATE SET public_key = excluded.public_key, trusted_at = now()",
                                (args.kiosk_id, public))
            connection.execute("INSERT INTO site_audit (kind, person_ref, detail) VALUES ('door_key_trusted', NULL, "
                               "%s)", (json.dumps({"kiosk": args.kiosk_id, "public_key": public,
                                                   "replaced": before[0] if before else None}, sort_keys=True),))
    change = "replaced its earlier key" if before and before[0] != public else "trusted"
    return {"kiosk": args.kiosk_id, "public_key": public}, (
        f"door {args.kiosk_id}: key {public[:16]}... {change}; from now on only records it signed are stored in its name")


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
