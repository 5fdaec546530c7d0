"""Store work off the Qt event loop: a hard delete rewrites the whole file (VACUUM), which must not
freeze the screen. The result comes back as a signal, delivered on the GUI thread."""

from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(str)


class StoreTask(QRunnable):
    """`StoreTask.start(work, on_done, on_failed)`: run `work()` on Qt's thread pool."""

    def __init__(self, work: Callable[[], object]):
        super().__init__()
        self.work = work
        self.signals = _Signals()

    def run(self) -> None:
        from kiosk.errors import FacegateError

        try:
            self.signals.done.emit(self.work())
        except FacegateError as exc:
            self.signals.failed.emit(str(exc))

    @classmethod
    def start(cls, work: Callable[[], object], on_done: Callable[[object], None],
              on_failed: Callable[[str], None]) -> "StoreTask":
        """The callbacks must be bound methods of GUI objects, so that Qt calls them on the GUI thread."""
        task = cls(work)
        task.signals.done.connect(on_done)
        task.signals.failed.connect(on_failed)
        QThreadPool.globalInstance().start(task)
        return task
