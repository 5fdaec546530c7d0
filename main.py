"""facegate's single entry point: `python main.py <command>`; see `python main.py --help`."""

import sys

from kiosk.cli import main
from models import cli as models_cli
from ui import cli as gui_cli

if __name__ == "__main__":
    sys.exit(main(extra_modules=(models_cli, gui_cli)))
