"""The kiosk screen: live video with the acting face outlined, one large message, time and door state."""

import time

from PySide6.QtCore import QDateTime, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QKeySequence, QPainter, QPen, QPixmap, QShortcut
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from kiosk.runtime.decisions import Decision, Outcome
from ui import theme
from ui.engine_worker import FrameView
from ui.texts import text

DECISION_HOLD_S = 3.0


class KioskScreen(QWidget):
    admin_requested = Signal()
    pin_entered = Signal(str)  # a pin_and_face door: the PIN typed on the keypad, when OK is pressed

    def __init__(self, language: str = "en", pulse_s: float = 3.0, keypad: bool = False):
        super().__init__()
        self.language, self.pulse_s = language, pulse_s
        self._decision_until = 0.0
        self.last_decision: Decision | None = None  # the newest decision shown (the GUI benchmark reads it)
        self._door_open_until = 0.0
        self.video = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.video.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.video.setMinimumSize(320, 240)
        self.banner = QLabel(objectName="banner", alignment=Qt.AlignmentFlag.AlignCenter)
        self.banner.setWordWrap(True)
        # Room for two lines of the large font, always: a long message (a refusal and what to do,
        # a denial's reason) is never clipped, and the video does not jump when one appears.
        self.banner.ensurePolished()
        self.banner.setMinimumHeight(2 * self.banner.fontMetrics().lineSpacing() + 2 * theme.BANNER_PADDING_PX + 8)
        self.clock = QLabel()
        self.door = QLabel()
        self.camera = QLabel()
        self.panel = QLabel(objectName="panel")  # what the access-control panel asks the reader to show
        admin = QPushButton(text("admin", language))
        admin.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        admin.clicked.connect(self.admin_requested)
        QShortcut(QKeySequence("F10"), self, activated=self.admin_requested.emit)
        top = QHBoxLayout()
        for widget in (self.clock, self.camera, self.panel):
            top.addWidget(widget)
        top.addStretch()
        top.addWidget(self.door)
        top.addWidget(admin)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        middle = QHBoxLayout()
        middle.addWidget(self.video, stretch=1)
        self.keypad = Keypad(language) if keypad else None
        if self.keypad is not None:
            self.keypad.entered.connect(self.pin_entered)
            middle.addWidget(self.keypad)
        layout.addLayout(middle, stretch=1)
        layout.addWidget(self.banner)
        self._set_banner(text("idle", language), theme.HINT, "hint")
        self._tick()
        timer = QTimer(self, interval=1000)
        timer.timeout.connect(self._tick)
        timer.start()

    def _tick(self) -> None:
        self.clock.setText(QDateTime.currentDateTime().toString("dddd d MMMM  HH:mm"))
        opened = time.monotonic() < self._door_open_until
        self.door.setText(text("door_open" if opened else "door_closed", self.language))
        self.door.setObjectName("door_open" if opened else "door_locked")
        self.door.style().unpolish(self.door)
        self.door.style().polish(self.door)

    def _set_banner(self, message: str, colour: str, symbol: str) -> None:
        self.banner.setText(f"{theme.SYMBOLS[symbol]}  {message}")
        self.banner.setStyleSheet(f"background: {colour};")

    def show_camera_event(self, kind: str, detail: str) -> None:
        """Where the person looks, not in a corner: a lost camera while it reconnects, a video that ended
        (its last frame would otherwise stay on screen as if the kiosk still watched)."""
        self.camera.setText(text("camera_lost", self.language) if kind == "source_lost" else "")
        if kind in ("source_lost", "source_ended"):
            self._set_banner(text("camera_lost" if kind == "source_lost" else "video_ended", self.language),
                             theme.DENIED, "unknown")
            self._decision_until = float("inf")  # held until the camera is back
        elif kind == "source_recovered":
            self._decision_until = 0.0
            self._set_banner(text("idle", self.language), theme.HINT, "hint")

    def show_panel_event(self, kind: str, detail: str) -> None:
        """The panel this kiosk reports to: what it shows (its LED, beeper, text), and whether it is there."""
        if kind == "panel_signal":
            self.panel.setText(detail[:1].upper() + detail[1:])
        elif kind == "panel_lost":
            self.panel.setText(text("panel_lost", self.language))
        elif kind == "panel_connected" and self.panel.text() == text("panel_lost", self.language):
            self.panel.setText("")  # only the notice of the loss goes: the link's poll may lag what the panel showed

    def show_failure(self, message: str) -> None:
        """The engine could not start or stopped: say so, and what to do, where the person looks."""
        self.banner.setText(message)

    def show_frame(self, view: FrameView) -> None:
        self._draw_video(view)
        now = time.monotonic()
        decision = view.decision
        if decision is not None:
            self.last_decision = decision
            self._decision_until = now + DECISION_HOLD_S
            if decision.outcome is Outcome.GRANTED:
                self._door_open_until = now + self.pulse_s
                self._set_banner(text("welcome", self.language, name=decision.display_name), theme.GRANTED, "granted")
            elif decision.outcome is Outcome.DENIED:
                self._set_banner(text("denied_reason", self.language, name=decision.display_name, reason=decision.reason),
                                 theme.DENIED, "denied")
            elif decision.outcome is Outcome.SPOOF_SUSPECTED:
                self._set_banner(text("spoof_suspected", self.language), theme.DENIED, "denied")
            else:
                self._set_banner(text("not_recognised", self.language), theme.DENIED, "unknown")
            self._tick()
        elif now >= self._decision_until:
            message = text(view.hint.value, self.language) if view.hint else text("idle", self.language)
            self._set_banner(message, theme.HINT, "hint")

    def _draw_video(self, view: FrameView) -> None:
        pixmap = QPixmap.fromImage(view.image)
        if view.box is not None:
            painter = QPainter(pixmap)
            painter.setPen(QPen(QColor(theme.FACE_BOX), max(3, pixmap.width() // 160)))
            x0, y0, x1, y1 = view.box
            margin = 0.15 * (x1 - x0)
            painter.drawRoundedRect(QRectF(x0 - margin, y0 - margin, x1 - x0 + 2 * margin, y1 - y0 + 2 * margin), 12, 12)
            painter.end()
        self.video.setPixmap(pixmap.scaled(self.video.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation))


class Keypad(QWidget):
    """Large keys for a PIN at a pin_and_face door; the digits show as dots, OK hands them on."""

    entered = Signal(str)

    def __init__(self, language: str):
        super().__init__()
        self.pin = QLineEdit(readOnly=True, echoMode=QLineEdit.EchoMode.Password, alignment=Qt.AlignmentFlag.AlignCenter)
        self.pin.setObjectName("keypad_pin")
        grid = QGridLayout(self)
        grid.addWidget(self.pin, 0, 0, 1, 3)
        self.keys: dict[str, QPushButton] = {}
        labels = [*"123456789", text("keypad_clear", language), "0", text("keypad_ok", language)]
        for index, label in enumerate(labels):
            key = self.keys[label] = QPushButton(label, objectName="keypad_key")
            key.setMinimumSize(96, 72)
            key.clicked.connect(lambda _checked=False, label=label: self._press(label))
            grid.addWidget(key, 1 + index // 3, index % 3)
        self._clear, self._ok = labels[9], labels[11]

    def _press(self, label: str) -> None:
        if label == self._clear:
            self.pin.clear()
        elif label == self._ok:
            if self.pin.text():
                self.entered.emit(self.pin.text())
            self.pin.clear()
        elif len(self.pin.text()) < 8:
            self.pin.setText(self.pin.text() + label)
