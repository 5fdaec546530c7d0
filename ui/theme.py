"""Colours and sizes for a screen read from two metres by anyone, colour-blind people included:
outcomes differ by colour (blue / orange, the pair most colour-blind people tell apart), by
symbol and by words, never by colour alone."""

BACKGROUND = "#101418"
TEXT = "#FFFFFF"
GRANTED = "#1565C0"     # blue
DENIED = "#E65100"      # orange
GRANTED_LIGHT = "#90CAF9"
HINT = "#37474F"        # neutral slate
FACE_BOX = "#FFD54F"    # amber outline, visible on any skin tone and background

BANNER_FONT_PT = 44     # about 6 cm tall letters on a 24" screen: readable from two metres
BANNER_PADDING_PX = 18
GUIDE_FONT_PT = 24
STATUS_FONT_PT = 18

SYMBOLS = {"granted": "\u2714", "denied": "\u2716", "unknown": "?", "hint": "\u25B6"}

STYLESHEET = f"""
QWidget {{ background: {BACKGROUND}; color: {TEXT}; font-size: {STATUS_FONT_PT}pt; }}
QLabel#banner {{ font-size: {BANNER_FONT_PT}pt; font-weight: 600; padding: {BANNER_PADDING_PX}px; border-radius: 12px; }}
QLabel#guide {{ font-size: {GUIDE_FONT_PT}pt; font-weight: 600; padding: 12px; border-radius: 10px;
               background: {HINT}; }}
QLabel#door_open {{ color: {BACKGROUND}; background: {GRANTED_LIGHT}; padding: 4px 12px; border-radius: 8px; }}
QLabel#door_locked {{ padding: 4px 12px; }}
QPushButton {{ background: #263238; border: 2px solid #90A4AE; border-radius: 8px; padding: 8px 18px; }}
QPushButton:focus {{ border-color: {FACE_BOX}; }}
QLineEdit, QTableWidget, QListWidget, QPlainTextEdit, QComboBox, QDateEdit {{
    background: #1C2329; border: 1px solid #607D8B; border-radius: 6px; padding: 4px; }}
QCheckBox::indicator {{ width: 28px; height: 28px; }}
QHeaderView::section {{ background: #263238; color: {TEXT}; padding: 6px; border: 0; }}
QPushButton#keypad_key, QLineEdit#keypad_pin {{ font-size: {GUIDE_FONT_PT}pt; font-weight: 600; }}
"""
