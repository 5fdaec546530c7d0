"""One module per command group; each has `register(subparsers)` and handlers returning (data, text)."""

import argparse
from collections.abc import Callable

Handler = Callable[[argparse.Namespace], tuple[dict, str]]


def add_command(subparsers, name: str, help_text: str, handler: Handler) -> argparse.ArgumentParser:
    """A subcommand whose handler returns a dict (printed with --json) and the text people read."""
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(handler=handler)
    return parser
