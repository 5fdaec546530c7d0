"""`run`, `attendance export`, `audit verify`: the kiosk at work, and the records it keeps."""

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import numpy as np

from kiosk.commands import add_command
from kiosk.commands.config_check import add_config_option
from kiosk.config import load_config
from kiosk.errors import ConfigError, FacegateError, SourceError
from kiosk.gallery.target import open_gallery
from kiosk.store.access import open_store


def register(subparsers) -> None:
    run = add_command(subparsers, "run", "run the kiosk headless; one JSON line per decision", _run)
    run.add_argument("--source", default=None, help="camera index, stream URL, video file or photo folder "
                                                    "(default: camera.source of the config)")
    run.add_argument("--door", default=None, help="which configured door this kiosk drives (default: the first)")
    run.add_argument("--max-seconds", type=float, default=None, help="stop after this long (default: until the source ends)")
    add_config_option(run)
    attendance = subparsers.add_parser("attendance", help="attendance records").add_subparsers(
        dest="attendance_command", required=True, metavar="ACTION")
    export = add_command(attendance, "export", "write attendance records and per-day summaries (of every door, "
                                                "when the config names a site)", _export)
    export.add_argument("--from", dest="start", type=date.fromisoformat, required=True, help="first day, YYYY-MM-DD")
    export.add_argument("--to", dest="end", type=date.fromisoformat, required=True, help="last day, YYYY-MM-DD")
    export.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    export.add_argument("--out", type=Path, default=None, help="file to write (default attendance_FROM_TO.FORMAT)")
    add_config_option(export)
    audit = subparsers.add_parser("audit", help="the audit log").add_subparsers(
        dest="audit_command", required=True, metavar="ACTION")
    add_config_option(add_command(audit, "verify", "check the hash chain; report the first broken link", _verify))
    add_config_option(add_command(audit, "start", "sign the audit log as it is now, for a store from before the "
                                  "signed head (refused while a head signs the log)", _start_audit))


def _run(args: argparse.Namespace) -> tuple[dict, str]:
    from kiosk.runtime.session import KioskSession, choose_door

    config = load_config(args.config)
    door = choose_door(config, args.door, args.config)
    source = args.source or config.camera.source
    decisions = restarts = 0
    hints: Counter[str] = Counter()  # what the screen asked for, in frames

    def record(decision) -> None:
        nonlocal decisions
        decisions += 1
        write_json_line(decision.to_dict())

    def show(status) -> None:
        nonlocal restarts
        restarts += status.restarted
        if status.hint is not None:
            hints[status.hint.value] += 1
        for decision in status.left:
            record(decision)
        if status.decision is not None:
            record(status.decision)

    stopped_by: list[str] = []
    with KioskSession(config, door, config_text=args.config.read_text()) as session:
        capture = session.capture(source)
        if args.max_seconds:
            timer = threading.Timer(args.max_seconds, capture.stop)
            timer.daemon = True
            timer.start()
        with stop_on_signals(capture.request_stop, stopped_by):
            session.runner.run(capture, show, record)
        stats, runner = capture.stats, session.runner
    if stats.frames == 0 and not args.max_seconds:
        raise SourceError(f"{source}: not a single frame could be read (an empty or damaged video, or a camera "
                          f"that gave nothing); check it with another player")
    frame_ms = np.array(runner.frame_ms or [0.0])
    summary = {"decisions": decisions, "frames": stats.frames, "dropped_frames": stats.dropped,
               "reconnects": stats.reconnects, "threshold": round(runner.threshold, 4),
               "frame_ms_median": round(float(np.median(frame_ms)), 2),
               "frame_ms_p95": round(float(np.percentile(frame_ms, 95)), 2), "hints": dict(hints),
               "visits_started_over": restarts, "stopped_by": stopped_by[0] if stopped_by else None}
    print(json.dumps({"summary": summary}), file=sys.stderr)
    return summary, ""


def write_json_line(record: dict) -> None:
    """One decision, one whole line on stdout, in a single write to the descriptor: print() writes the
    text and its newline separately, through a buffer that a native library writing to the same
    descriptor does not see; a consumer reading JSON lines once got two objects on one line and blank
    lines (under load, during a site outage: not reproduced here, so written so it cannot happen)."""
    sys.stdout.flush()
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    while line:
        line = line[os.write(sys.stdout.fileno(), line):]


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[], None], received: list[str]) -> Iterator[None]:
    """SIGTERM (systemd, Docker, any service manager) and SIGINT (Ctrl-C) end the stream the same way:
    the frame in hand is finished, the session closes in order (the site uplink sends what it holds,
    the store is closed) and the summary is written. SIGINT is caught even when the parent started
    the kiosk with it ignored. The previous handlers come back afterwards."""

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signal.Signals(signum).name)
        stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _export(args: argparse.Namespace) -> tuple[dict, str]:
    from kiosk.runtime.attendance import export_attendance, site_day_bounds, summarise

    if args.end < args.start:
        raise ConfigError(f"--to {args.end} is before --from {args.start}")
    config = load_config(args.config)
    zone = config.site.zone  # --from and --to are site days
    bounds = site_day_bounds(args.start, args.end, zone)
    with open_gallery(config) as (gallery, _):  # a site's: every door's
        rows = gallery.attendance_between(*bounds)
    out = args.out or Path(f"attendance_{args.start}_{args.end}.{args.format}")
    export_attendance(rows, out, args.format, zone)
    days = summarise(rows, zone)
    people = sorted({r.person_ref for r in rows})
    data = {"file": str(out), "records": len(rows), "people": people,
            "days": [{"day": d.day.isoformat(), "person": d.person, "name": d.name, "first_in": d.first_in,
                      "last_out": d.last_out, "records": d.records} for d in days]}
    lines = [f"{len(rows)} records of {len(people)} people written to {out}"]
    lines += [f"  {d.day} {d.name:<28} in {d.first_in or '-':>8}  out {d.last_out or '-':>8}  ({d.records})" for d in days]
    return data, "\n".join(lines)


def _start_audit(args: argparse.Namespace) -> tuple[dict, str]:
    config = load_config(args.config)
    store, _ = open_store(config.store.resolved_path, config.store.keys)
    with store:
        if store.has_signed_head():
            raise FacegateError("the audit log already has a signed head: nothing to start (`audit verify` checks it)")
        store.start_audit_head("started by an administrator")
        count = len(store.events(limit=10**9))
    return {"ok": True, "events": count}, (f"audit head signed over the log as it is ({count} events); "
                                           f"the log records that it was started here")


def _verify(args: argparse.Namespace) -> tuple[dict, str]:
    config = load_config(args.config)
    store, _ = open_store(config.store.resolved_path, config.store.keys)
    with store:
        broken = store.audit_break()
        count = len(store.events(limit=10**9))
    if broken:
        return {"ok": False, "first_broken_link": broken, "events": count, "exit_code": 1}, f"audit chain broken at {broken}"
    return {"ok": True, "events": count}, f"audit chain intact ({count} events)"

