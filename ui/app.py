"""`python main.py gui`: start the Qt application on the kiosk configuration."""

import sys

from PySide6.QtWidgets import QApplication

from kiosk.config import KioskConfig
from ui.main_window import MainWindow
from ui.theme import STYLESHEET


def run_gui(config: KioskConfig, source: str | None, windowed: bool) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyleSheet(STYLESHEET)
    window = MainWindow(config, source)
    if config.gui.fullscreen and not windowed:
        window.showFullScreen()
    else:
        window.resize(1280, 800)
        window.show()
    return app.exec()
