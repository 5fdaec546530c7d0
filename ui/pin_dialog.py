"""Asks for the administrator PIN; every attempt goes through the engine's audited PinGate."""

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QLineEdit, QVBoxLayout

from kiosk.admin_pin import PinError, PinGate
from ui.texts import text


class PinDialog(QDialog):
    def __init__(self, gate: PinGate, language: str = "en", parent=None):
        super().__init__(parent)
        self.gate, self.language = gate, language
        self.setWindowTitle(text("enter_pin", language))
        self.pin = QLineEdit(echoMode=QLineEdit.EchoMode.Password, maxLength=12)
        self.pin.setInputMask("")
        self.message = QLabel()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.try_pin)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (QLabel(text("enter_pin", language)), self.pin, self.message, buttons):
            layout.addWidget(widget)

    def try_pin(self) -> None:
        try:
            accepted = self.gate.check(self.pin.text())
        except PinError as exc:
            self.message.setText(str(exc))
            return
        if accepted:
            self.accept()
        else:
            self.message.setText(text("wrong_pin", self.language))
            self.pin.clear()
