"""The PySide6 GUI: kiosk screen, enrollment wizard, administration. It calls kiosk/, never the reverse."""
