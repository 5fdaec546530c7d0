"""The main window: the kiosk screen, and behind the administrator PIN, administration and enrollment.
The engine runs in a worker thread; entering administration stops it (the wizard needs the camera).
At a site, administration opens the site's gallery (with the config's PostgreSQL role) for as long
as it is shown; the kiosk itself decides on its replica whether the site is reachable or not."""

from PySide6.QtCore import QThread
from PySide6.QtWidgets import QMainWindow, QMessageBox, QStackedWidget

from kiosk.admin_pin import PinGate
from kiosk.config import KioskConfig
from kiosk.enrollment import EnrollmentPolicy
from kiosk.errors import FacegateError
from kiosk.gallery.target import is_site, open_site_gallery
from kiosk.protection import protector_for
from kiosk.store.access import open_store
from ui.admin_panel import AdminPanel
from ui.engine_worker import EngineWorker
from ui.enroll_wizard import EnrollWizard
from ui.kiosk_screen import KioskScreen
from ui.pin_dialog import PinDialog
from ui.texts import text

ENGINE_STOP_WAIT_MS = 2000  # how long administration waits for the engine to let go of the camera


class MainWindow(QMainWindow):
    def __init__(self, config: KioskConfig, source: str | None = None):
        super().__init__()
        self.config = config
        self.source = source or config.camera.source
        self.language = config.gui.language
        self.setWindowTitle(text("app_title", self.language))
        self.store, self._secrets = open_store(config.store.resolved_path, config.store.keys)
        self.pin_gate = PinGate(self.store)
        self.kiosk = KioskScreen(self.language, config.doors[0].pulse_s, keypad=config.doors[0].mode == "pin_and_face")
        self.admin = AdminPanel(self.store, self.language, config.site.zone)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.kiosk)
        self.pages.addWidget(self.admin)
        self.setCentralWidget(self.pages)
        self.kiosk.admin_requested.connect(self.ask_pin)
        self.kiosk.pin_entered.connect(self._pin_typed)
        self.admin.back_requested.connect(self.show_kiosk)
        self.admin.enroll_requested.connect(self.open_wizard)
        self.engine: EngineWorker | None = None
        self.engine_thread: QThread | None = None
        self._closing_engines: list[tuple[QThread, EngineWorker]] = []  # stopped, still finishing
        self.start_engine()

    def start_engine(self) -> None:
        self.engine, self.engine_thread = EngineWorker(self.config, self.source), QThread()
        self.engine.moveToThread(self.engine_thread)
        self.engine_thread.started.connect(self.engine.run)
        self.engine.frame_ready.connect(self._show_latest)
        self.engine.camera_event.connect(self.kiosk.show_camera_event)
        self.engine.panel_event.connect(self.kiosk.show_panel_event)
        # bound methods of GUI objects: Qt delivers them on the GUI thread (a lambda would run on the engine's)
        self.engine.camera_event.connect(self.admin.set_camera_state)
        self.engine.provider_known.connect(self.admin.set_provider)
        self.engine.failed.connect(self.kiosk.show_failure)
        self.engine.finished.connect(self.engine_thread.quit)
        self.engine_thread.start()

    def _pin_typed(self, pin: str) -> None:
        if self.engine is not None:
            self.engine.present_pin(pin)

    def _show_latest(self) -> None:
        view = self.engine.latest_view() if self.engine is not None else None
        if view is not None:
            self.kiosk.show_frame(view)
            self.admin.frames_arrive()

    def stop_engine(self) -> None:
        """Never waits long on the engine: one that is still closing (a camera that does not answer)
        finishes in the background, its thread kept alive until then (a QThread destroyed while it
        runs aborts the whole process)."""
        if self.engine is not None and self.engine_thread is not None:
            self.engine.stop()
            self.engine_thread.quit()
            if not self.engine_thread.wait(ENGINE_STOP_WAIT_MS):
                thread, worker = self.engine_thread, self.engine
                self._closing_engines.append((thread, worker))
                thread.finished.connect(lambda: self._closing_engines.remove((thread, worker)))
        self.engine = self.engine_thread = None

    def ask_pin(self) -> bool:
        dialog = PinDialog(self.pin_gate, self.language, self)
        if dialog.exec():
            self.show_admin()
            return True
        return False

    def show_admin(self) -> bool:
        self.stop_engine()
        if is_site(self.config):
            try:
                self.admin.administer(open_site_gallery(self.config, self._secrets))
            except FacegateError as exc:
                QMessageBox.warning(self, text("admin", self.language),
                                    text("site_unreachable", self.language, error=str(exc)))
                self.start_engine()
                return False
        self.admin.refresh()
        self.pages.setCurrentWidget(self.admin)
        return True

    def _leave_site_gallery(self) -> None:
        if self.admin.gallery is not self.store:
            self.admin.gallery.close()
            self.admin.administer(self.store)

    def show_kiosk(self) -> None:
        self._leave_site_gallery()
        self.pages.setCurrentWidget(self.kiosk)
        self.start_engine()

    def make_wizard(self, source: str | None) -> EnrollWizard:
        from kiosk.manifest import load_embedder_manifest

        manifest = load_embedder_manifest(self.config.models.embedder)
        protector = protector_for(self._secrets, manifest, self.config.models.protector, self.config.models.provider)
        wizard = EnrollWizard(self.config, self.admin.gallery, protector, manifest.id,
                              EnrollmentPolicy.from_config(self.config, protector), source, self.language, self)
        wizard.finished.connect(lambda _: self._wizard_closed(wizard))
        return wizard

    def _wizard_closed(self, wizard: EnrollWizard) -> None:
        """Finish says what was done: before, the wizard closed without a word."""
        self.admin.refresh()
        if wizard.saved_person is not None:
            self.admin.say(text("saved", self.language, name=wizard.saved_person.display_name))

    def open_wizard(self) -> None:
        self.make_wizard(self.source).exec()

    def closeEvent(self, event) -> None:
        """A full-screen kiosk only closes from administration: nobody walks away with the screen."""
        if self.config.gui.fullscreen and self.pages.currentWidget() is self.kiosk and not self.ask_pin():
            event.ignore()
            return
        for wizard in self.findChildren(EnrollWizard):  # an open wizard ends first, saving nothing, while
            wizard.finished.disconnect()             # the store it would refresh is still open
            wizard.reject()
        self.stop_engine()
        self._leave_site_gallery()
        self.store.close()
        super().closeEvent(event)
