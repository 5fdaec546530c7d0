"""Asks for the administrator PIN, and changes it; every attempt goes through the audited PinGate.

Said in plain words: how many tries are left, and while locked a countdown that moves; the PIN is
changed only with the current one and the new one typed twice."""

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout

from kiosk.admin_pin import PinError, PinGate, set_pin
from ui.texts import text


def _pin_field() -> QLineEdit:
    return QLineEdit(echoMode=QLineEdit.EchoMode.Password, maxLength=12)


class PinDialog(QDialog):
    def __init__(self, gate: PinGate, language: str = "en", parent=None):
        super().__init__(parent)
        self.gate, self.language = gate, language
        self.setWindowTitle(text("enter_pin", language))
        self.pin = _pin_field()
        self.message = QLabel()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.try_pin)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (QLabel(text("enter_pin", language)), self.pin, self.message, self.buttons):
            layout.addWidget(widget)
        self._countdown = QTimer(self, interval=1000)
        self._countdown.timeout.connect(self._show_lock)
        self._show_lock()

    def _show_lock(self) -> None:
        """While locked: the seconds left, each second, and no OK; then the PIN may be typed again."""
        seconds = self.gate.locked_for()
        locked = seconds > 0
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not locked)
        self.pin.setEnabled(not locked)
        if locked:
            self.message.setText(text("pin_locked", self.language, seconds=int(seconds) + 1))
            self._countdown.start()
        elif self._countdown.isActive():
            self._countdown.stop()
            self.message.setText(text("pin_unlocked", self.language))

    def try_pin(self) -> None:
        try:
            accepted = self.gate.check(self.pin.text())
        except PinError as exc:
            self.message.setText(str(exc))
            return
        if accepted:
            self.accept()
            return
        self.pin.clear()
        if self.gate.locked_for() > 0:
            self._show_lock()
        else:
            self.message.setText(text("wrong_pin", self.language, tries=self.gate.tries_left))


class ChangePinDialog(QDialog):
    """The current PIN (checked and audited like any attempt), then the new one twice."""

    def __init__(self, gate: PinGate, language: str = "en", parent=None):
        super().__init__(parent)
        self.gate, self.language = gate, language
        self.setWindowTitle(text("change_pin", language))
        self.current, self.new, self.again = _pin_field(), _pin_field(), _pin_field()
        self.message = QLabel(wordWrap=True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.change)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow(text("current_pin", language), self.current)
        form.addRow(text("new_pin", language), self.new)
        form.addRow(text("new_pin_again", language), self.again)
        form.addRow(self.message)
        form.addRow(self.buttons)

    def change(self) -> None:
        if self.new.text() != self.again.text():
            self.message.setText(text("pins_differ", self.language))
            return
        try:
            if not self.gate.check(self.current.text()):
                self.current.clear()
                self.message.setText(text("wrong_current_pin", self.language, tries=self.gate.tries_left))
                return
            set_pin(self.gate.store, self.new.text())
        except PinError as exc:
            self.message.setText(str(exc))
            return
        self.accept()
