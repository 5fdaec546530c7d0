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


def require_training_extra() -> None:
    """Training and privacy evaluation need PyTorch, which the kiosk itself never does."""
    import importlib.util

    from kiosk.errors import FacegateError

    missing = [name for name in ("torch", "skimage") if importlib.util.find_spec(name) is None]
    if missing:
        raise FacegateError(f"this command needs the train extra ({', '.join(missing)} missing): "
                            f".venv/bin/pip install -e '.[train]'")
