"""`python main.py gui`: registered by main.py, so that the engine's command line never imports Qt."""

import argparse

from kiosk.commands import add_command
from kiosk.commands.config_check import add_config_option
from kiosk.config import load_config


def register(subparsers) -> None:
    gui = add_command(subparsers, "gui", "the kiosk screen with administration and enrollment (Qt)", _gui)
    gui.add_argument("--source", default=None, help="camera index, stream URL or video file (default: config)")
    gui.add_argument("--windowed", action="store_true", help="a window instead of full screen")
    gui.add_argument("--close-after", type=float, default=None, metavar="SECONDS",
                     help="close the screen after this long (a demonstration)")
    add_config_option(gui)
    bench = add_command(subparsers, "gui-bench", "frames per second the kiosk screen shows while recognising", _bench)
    bench.add_argument("--source", required=True, help="a video file (played at its own frame rate) or a camera")
    bench.add_argument("--seconds", type=float, default=10.0)
    add_config_option(bench)


def _gui(args: argparse.Namespace) -> tuple[dict, str]:
    from ui.app import run_gui

    return {"exit_code": run_gui(load_config(args.config), args.source, args.windowed, args.close_after)}, ""


def _bench(args: argparse.Namespace) -> tuple[dict, str]:
    from ui.bench import measure_gui_fps

    result = measure_gui_fps(load_config(args.config), args.source, args.seconds)
    return result, (f"kiosk screen: {result['fps']} frames per second over {result['seconds']} s "
                    f"({result['frames_shown']} frames, decisions: {', '.join(result['decisions']) or 'none'})")
