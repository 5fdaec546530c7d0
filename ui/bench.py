"""Frames per second the kiosk screen really shows from a video source while recognising."""

import os
import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from kiosk.config import KioskConfig


def measure_gui_fps(config: KioskConfig, source: str, seconds: float) -> dict:
    """Counts frames painted by the kiosk screen (offscreen) after a 2 s warm-up."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from ui.main_window import MainWindow
    from ui.theme import STYLESHEET

    app = QApplication.instance() or QApplication([])
    app.setStyleSheet(STYLESHEET)
    window = MainWindow(config, source)
    window.resize(1280, 800)
    window.show()
    shown: list[float] = []
    decisions: list[str] = []

    def count() -> None:
        shown.append(time.perf_counter())
        if window.kiosk.last_decision is not None and window.kiosk.last_decision not in counted:
            counted.append(window.kiosk.last_decision)
            decisions.append(window.kiosk.last_decision.outcome.value)

    counted: list = []
    window.engine.frame_ready.connect(count)
    QTimer.singleShot(int((seconds + 2) * 1000), app.quit)
    app.exec()
    window.close()
    measured = [t for t in shown if t >= shown[0] + 2.0] if shown else []
    span = (measured[-1] - measured[0]) if len(measured) > 1 else 0.0
    return {"frames_shown": len(measured), "seconds": round(span, 2),
            "fps": round((len(measured) - 1) / span, 1) if span else 0.0, "decisions": decisions}
