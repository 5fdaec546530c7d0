"""One module per command group; each has `register(subparsers)` and handlers returning (data, text)."""

import argparse
from collections.abc import Callable

Handler = Callable[[argparse.Namespace], tuple[dict, str]]


def command_group(subparsers, name: str, help_text: str):
    """The sub-commands of a group (`eval`, `models`), made on first use, so that modules outside
    the engine (models/, ui/) can add commands to a group the engine also fills."""
    parser = subparsers.choices.get(name)
    if parser is None:
        parser = subparsers.add_parser(name, help=help_text, description=help_text)
        parser.set_defaults(group_actions=parser.add_subparsers(dest=f"{name}_command", required=True,
                                                                metavar="ACTION"))
    return parser.get_default("group_actions")


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
