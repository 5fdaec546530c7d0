"""facegate's single entry point: `python main.py <command>`; see `python main.py --help`."""

import sys

from kiosk.cli import main
from ui import cli as gui_cli

if __name__ == "__main__":
    sys.exit(main(extra_modules=(gui_cli,)))
