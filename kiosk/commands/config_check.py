"""`config check FILE`: validate a kiosk config and print every error with file, line and key."""

import argparse
from pathlib import Path

from kiosk.commands import add_command
from kiosk.config import DEFAULT_CONFIG, load_config


def register(subparsers) -> None:
    group = subparsers.add_parser("config", help="check the kiosk configuration").add_subparsers(
        dest="config_command", required=True, metavar="ACTION")
    check = add_command(group, "check", "validate a kiosk config file; print every error with its line", _check)
    check.add_argument("file", type=Path, nargs="?", default=DEFAULT_CONFIG)


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=f"kiosk config (default {DEFAULT_CONFIG})")


def _check(args: argparse.Namespace) -> tuple[dict, str]:
    config = load_config(args.file)
    doors = [d.name for d in config.doors]
    summary = {"file": str(args.file), "valid": True, "store": str(config.store.resolved_path),
               "key_source": config.store.keys.source, "doors": doors}
    server = config.site.server
    site = ""
    if server is not None:  # say which site, and as what: a door or an administrators' station
        postgres, broker = f"{server.postgres.host}:{server.postgres.port}", f"{server.broker.host}:{server.broker.port}"
        summary["site"] = {"kiosk_id": server.kiosk_id, "postgres": postgres, "broker": broker}
        role = f"door {server.kiosk_id}" if server.kiosk_id else "administrators"
        site = f", {role} of the site at {postgres}, broker {broker}"
    return summary, (f"{args.file}: valid (store {summary['store']}, keys from {summary['key_source']}, "
                     f"doors {', '.join(doors)}{site})")
