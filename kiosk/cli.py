"""Command line: parses arguments, runs one command, turns FacegateError into a one-line message."""

import argparse
import json
import logging
import os
import sys

# MediaPipe's C++ logging writes start-up chatter to stderr; keep warnings and errors only.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kiosk.commands import bench, config_check, demo, evaluation, gallery, liveness, recognition, runtime, site, store  # noqa: E402
from kiosk.errors import FacegateError, StoreDamagedError  # noqa: E402
from kiosk.store.database import DatabaseError  # noqa: E402

log = logging.getLogger("facegate")


def build_parser(extra_modules: tuple = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python main.py", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the engine does (providers, models)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (demo, recognition, evaluation, bench, config_check, store, gallery, runtime, liveness, site,
                   *extra_modules):
        module.register(commands)
    return parser


def _site_connection_lost(exc: Exception) -> bool:
    """PostgreSQL went away under a site command (killed, restarted, the network cut)."""
    psycopg = sys.modules.get("psycopg")  # loaded only by the commands that talk to a site
    return psycopg is not None and isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def main(argv: list[str] | None = None, extra_modules: tuple = ()) -> int:
    """`extra_modules` add commands from outside the engine (models/, the GUI), which it never imports."""
    args = build_parser(extra_modules).parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        result, text = args.handler(args)
    except FacegateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except DatabaseError as exc:  # a page of the store failed to read: damage, not a bug of the command
        print(f"error: the store is damaged ({exc}); `python main.py store verify` lists what, and it must be "
              f"restored from a backup", file=sys.stderr)
        return StoreDamagedError.exit_status
    except Exception as exc:
        if not _site_connection_lost(exc):
            raise
        print(f"error: the connection to the site's PostgreSQL was lost ({_first_line(exc)}); the change under "
              f"way was rolled back, nobody is half-written: run the command again once the site is back",
              file=sys.stderr)
        return FacegateError.exit_status
    if args.json:
        print(json.dumps(result, indent=2))
    elif text:
        print(text)
    return int(result.get("exit_code", 0))
