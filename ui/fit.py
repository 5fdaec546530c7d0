"""Does every text on screen fit its widget? Used by the screenshot script at each screen size, so a
label cut off at 1280x800 (a prompt's third line, a clipped consent statement) fails loudly."""

from PySide6.QtWidgets import QAbstractButton, QLabel, QWidget


def clipped_texts(window: QWidget) -> list[str]:
    """The visible labels and buttons whose text needs more room than they have, with what they need."""
    problems = []
    for label in window.findChildren(QLabel):
        if not label.isVisible() or not label.text() or label.pixmap() is not None and not label.pixmap().isNull():
            continue
        room = label.contentsRect()
        if label.wordWrap():
            needed = label.heightForWidth(label.width())
            if needed > label.height() + 1:
                problems.append(f"{_name(label)}: needs {needed} px of height, has {label.height()}")
        elif label.sizeHint().width() > label.width() + 1 and room.width() > 0:
            problems.append(f"{_name(label)}: needs {label.sizeHint().width()} px of width, has {label.width()}")
    for button in window.findChildren(QAbstractButton):
        if button.isVisible() and button.text() and button.sizeHint().width() > button.width() + 1:
            problems.append(f"{_name(button)}: needs {button.sizeHint().width()} px of width, has {button.width()}")
    return problems


def _name(widget: QWidget) -> str:
    words = " ".join(widget.text().split())  # type: ignore[attr-defined]
    return f"{type(widget).__name__} {words[:60]!r}"
