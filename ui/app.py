"""`python main.py gui`: start the Qt application on the kiosk configuration."""

import sys

from PySide6.QtCore import QSize, QTimer
from PySide6.QtWidgets import QApplication, QWidget

from kiosk.config import KioskConfig
from ui.main_window import MainWindow
from ui.theme import STYLESHEET


def show_kiosk(window: QWidget, fullscreen: bool) -> None:
    """Full screen with or without a window manager: without one, showFullScreen alone leaves the
    window at its natural size in a corner, so it is first given the whole screen."""
    if fullscreen:
        window.setGeometry(window.screen().geometry())
        window.showFullScreen()
    else:
        window.resize(QSize(1280, 800).boundedTo(window.screen().availableGeometry().size()))
        window.show()


def run_gui(config: KioskConfig, source: str | None, windowed: bool, close_after_s: float | None = None) -> int:
    """The kiosk screen until it is closed (or for `close_after_s`, as the demo shows it)."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyleSheet(STYLESHEET)
    window = MainWindow(config, source)
    show_kiosk(window, config.gui.fullscreen and not windowed)
    if close_after_s is not None:
        QTimer.singleShot(int(close_after_s * 1000), window.close)
    return app.exec()
