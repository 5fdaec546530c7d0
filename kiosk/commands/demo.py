"""`demo`: the kiosk at work in a temporary folder, with no camera and no data (see kiosk/demo.py)."""

import argparse

from kiosk.commands import add_command


def register(subparsers) -> None:
    demo = add_command(subparsers, "demo", "a temporary kiosk: enroll a sample member, run visits of the member, a "
                       "stranger and a held-up photo, show attendance and the audit chain, clean up", _demo)
    demo.add_argument("--keep", action="store_true", help="keep the temporary folder (store, keys, videos) to look at")
    demo.add_argument("--gui", action="store_true", help="also show the visits on the kiosk screen (Qt)")


def _demo(args: argparse.Namespace) -> tuple[dict, str]:
    from kiosk.cli import build_parser
    from kiosk.demo import run_demo

    lines: list[str] = []
    result = run_demo(build_parser, (lambda text: print(text, flush=True)) if not args.json else lines.append,
                      keep=args.keep, gui=args.gui)
    granted = [d for d in result["visits"] if d["outcome"] == "granted"]
    refused = [d for d in result["attack"] if d["outcome"] == "spoof_suspected"]
    ok = len(granted) == 1 and any(d["outcome"] == "unknown" for d in result["visits"]) and bool(refused) \
        and not any(d["outcome"] == "granted" for d in result["attack"])
    result["exit_code"] = 0 if ok else 1
    return result, "\ndemo: as expected" if ok else "\ndemo: the kiosk did not decide as expected (see above)"
