"""`python main.py gui`: start the Qt application on the kiosk configuration."""

import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from kiosk.config import KioskConfig
from ui.main_window import MainWindow
from ui.theme import STYLESHEET


def run_gui(config: KioskConfig, source: str | None, windowed: bool, close_after_s: float | None = None) -> int:
    """The kiosk screen until it is closed (or for `close_after_s`, as the demo shows it)."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyleSheet(STYLESHEET)
    window = MainWindow(config, source)
    if config.gui.fullscreen and not windowed:
        window.showFullScreen()
    else:
        window.resize(1280, 800)
        window.show()
    if close_after_s is not None:
        QTimer.singleShot(int(close_after_s * 1000), window.close)
    return app.exec()
