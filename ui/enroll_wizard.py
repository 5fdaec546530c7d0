"""The enrollment wizard: person details, explicit consent, guided capture (camera, video or photo
files), review with quality and duplicate check, then only protected templates are saved."""

from datetime import date
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QThread
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from kiosk.config import KioskConfig
from kiosk.enrollment import Candidate, EnrollmentPolicy
from kiosk.gallery.spec import ID_PATTERN
from kiosk.store.records import Consent, Person
from ui.engine_worker import to_qimage
from ui.enroll_worker import EnrollWorker, SaveWorker
from ui.texts import text


class DetailsPage(QWizardPage):
    """Who is enrolled. An id that is already someone's is refused unless "re-enroll this person" is
    ticked, after the page has shown who that is; a malformed id says why Next stays off."""

    def __init__(self, language: str, store):
        super().__init__()
        self.language, self.store = language, store
        self.setTitle(text("details", language))
        self.person_id, self.name, self.role = QLineEdit(), QLineEdit(), QLineEdit("staff")
        self.person_id.setObjectName("person_id")
        self.notice = QLabel(wordWrap=True)
        self.notice.setObjectName("id_notice")
        self.re_enroll = QCheckBox(text("re_enroll", language))
        self.re_enroll.setObjectName("re_enroll")
        self.re_enroll.hide()
        form = QFormLayout(self)
        for key, field in (("id", self.person_id), ("name", self.name), ("role", self.role)):
            form.addRow(text(key, language), field)
            field.textChanged.connect(self.completeChanged)
        form.addRow(self.notice)
        form.addRow(self.re_enroll)
        self.person_id.textChanged.connect(self._check_id)
        self.re_enroll.toggled.connect(self.completeChanged)

    def existing(self) -> Person | None:
        return self.store.get_person(self.person_id.text()) if self._well_formed() else None

    def _well_formed(self) -> bool:
        import re

        return bool(re.fullmatch(ID_PATTERN, self.person_id.text()))

    def _check_id(self) -> None:
        existing = self.existing()
        self.re_enroll.setChecked(False)
        self.re_enroll.setVisible(existing is not None)
        if existing is not None:
            photos = self.store.template_counts().get(existing.id, 0)
            self.notice.setText(text("id_taken", self.language, id=existing.id, name=existing.display_name,
                                     role=existing.role, photos=photos))
        elif self.person_id.text() and not self._well_formed():
            self.notice.setText(text("id_invalid", self.language))
        else:
            self.notice.setText("")

    def isComplete(self) -> bool:
        if not (self._well_formed() and self.name.text().strip() and self.role.text().strip()):
            return False
        return self.existing() is None or self.re_enroll.isChecked()


class ConsentPage(QWizardPage):
    def __init__(self, language: str):
        super().__init__()
        self.setTitle(text("consent", language))
        statement = QLabel(text("consent_text", language), wordWrap=True)
        self.agreed = QCheckBox(text("consent", language))
        self.given_by = QLineEdit()
        self.agreed.toggled.connect(self.completeChanged)
        self.given_by.textChanged.connect(self.completeChanged)
        layout = QVBoxLayout(self)
        layout.addWidget(statement)
        layout.addWidget(self.agreed)
        layout.addWidget(QLabel(text("consent_given_by", language)))
        layout.addWidget(self.given_by)

    def initializePage(self) -> None:
        if not self.given_by.text():
            self.given_by.setText(self.wizard().details.name.text())

    def isComplete(self) -> bool:
        return self.agreed.isChecked() and bool(self.given_by.text().strip())


def ready_text(found, recommended: int, language: str) -> str:
    """What the capture gave, which photos were not used and why, and a request for more photos when
    there are fewer than recommended."""
    count = len(found.embeddings)
    words = [text("ready_to_save", language, count=count)]
    if found.rejected:
        words.append(text("not_used", language, reasons="; ".join(
            f"{Path(photo).name}: {why}" for photo, why in found.rejected.items())))
    if count < recommended:
        words.append(text("few_photos", language, count=count, needed=recommended))
    return " ".join(words)


def thumbnails(chips: list) -> QHBoxLayout:
    """The faces that will be enrolled, small, in a row: the receptionist sees whom they save."""
    row = QHBoxLayout()
    for chip in chips:
        label = QLabel()
        label.setPixmap(QPixmap.fromImage(to_qimage(chip)).scaledToHeight(96))
        row.addWidget(label)
    row.addStretch()
    return row


class CapturePage(QWizardPage):
    def __init__(self, language: str):
        super().__init__()
        self.language = language
        self.setTitle(text("capture", language))
        self.video = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.video.setMinimumSize(480, 360)
        self.guide = QLabel(objectName="guide", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        files = QPushButton(text("from_files", language))
        files.clicked.connect(self.choose_files)
        self.start_button = QPushButton(text("start_capture", language), objectName="start_capture", enabled=False)
        self.start_button.clicked.connect(self.start_capture)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(files)
        layout = QVBoxLayout(self)
        layout.addWidget(self.video, stretch=1)
        layout.addWidget(self.guide)
        layout.addLayout(buttons)
        self.thread: QThread | None = None
        self.worker: EnrollWorker | None = None

    def initializePage(self) -> None:
        if self.wizard().source is not None:
            self.start(EnrollWorker(self.wizard().config, source=self.wizard().source))
            self.start_button.setEnabled(True)

    def start_capture(self) -> None:
        if self.worker is not None:
            self.worker.start_capture()
            self.start_button.setEnabled(False)

    def start(self, worker: EnrollWorker) -> None:
        self.stop()
        self.wizard().enrollment = None  # a new capture or new photos: the last result no longer stands
        self.completeChanged.emit()
        self.worker, self.thread = worker, QThread()
        worker.moveToThread(self.thread)
        self.thread.started.connect(worker.run)
        worker.frame.connect(self.show_frame)
        worker.done.connect(self.captured)
        worker.failed.connect(self.guide.setText)
        self.thread.start()

    def enroll_files(self, photos: list[Path]) -> None:
        """Enroll from photos (in the worker); the first one is shown while they are checked."""
        self.video.setPixmap(QPixmap(str(photos[0])).scaled(self.video.size(), Qt.AspectRatioMode.KeepAspectRatio))
        self.start(EnrollWorker(self.wizard().config, photos=photos))

    def choose_files(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(self, text("from_files", self.language), "", "Photos (*.jpg *.jpeg *.png)")
        if names:
            self.enroll_files([Path(n) for n in names])

    def show_frame(self, image, key: str, kept: int) -> None:
        self.video.setPixmap(QPixmap.fromImage(image).scaled(self.video.size(), Qt.AspectRatioMode.KeepAspectRatio))
        needed = self.wizard().config.enrollment.recommended_photos
        self.guide.setText(text(key, self.language, count=min(kept, needed), needed=needed))

    def captured(self, result) -> None:
        wizard = self.wizard()
        if len(result.embeddings) < wizard.config.enrollment.min_photos:
            reasons = "; ".join(f"{Path(p).name}: {r}" for p, r in result.rejected.items())
            self.guide.setText(reasons or text("not_enough_frames", self.language))
            self.start_button.setEnabled(wizard.source is not None)
            return
        wizard.enrollment = result
        self.guide.setText(ready_text(result, wizard.config.enrollment.recommended_photos, self.language))
        self.completeChanged.emit()

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        if self.thread is not None:
            self.thread.quit()
            self.thread.wait(5000)
        self.worker = self.thread = None

    def cleanupPage(self) -> None:
        self.stop()

    def isComplete(self) -> bool:
        return self.wizard().enrollment is not None


class ReviewPage(QWizardPage):
    """Finish saves on a worker thread (write_enrollments, the path `gallery apply` takes); the
    wizard closes once the person is written, or says why they were not (nothing is then written)."""

    def __init__(self, language: str):
        super().__init__()
        self.language = language
        self.setTitle(text("review", language))
        self.summary = QLabel(wordWrap=True)
        self.faces = QWidget()
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.faces)
        self.thread: QThread | None = None
        self.worker: SaveWorker | None = None
        self.saving: Person | None = None

    def initializePage(self) -> None:
        wizard = self.wizard()
        wizard.capture.stop()
        found, name = wizard.enrollment, wizard.details.name.text()
        self.summary.setText(f"<h2>{name}</h2>" + ready_text(found, wizard.config.enrollment.recommended_photos,
                                                             self.language)
                             + "<br>" + text("check_pictures", self.language, name=name))
        self.faces.deleteLater()
        self.faces = QWidget()
        self.faces.setLayout(thumbnails(found.previews))
        self.layout().addWidget(self.faces)

    def validatePage(self) -> bool:
        wizard = self.wizard()
        if wizard.saved_person is not None:
            return True
        if self.thread is None:
            details = wizard.details
            person = Person(details.person_id.text(), details.name.text().strip(), details.role.text().strip())
            consent = Consent(wizard.consent.given_by.text().strip(), date.today(), "door access and attendance")
            self.worker = SaveWorker(wizard.store, wizard.protector, wizard.model_id, wizard.policy,
                                     Candidate(person, consent, wizard.enrollment,
                                               "re-enroll" if details.re_enroll.isChecked() else "gui"))
            self.thread = QThread()
            self.worker.moveToThread(self.thread)
            self.thread.started.connect(self.worker.run)
            self.saving = person
            self.worker.done.connect(self._saved)  # a method of this page: delivered on the GUI thread
            self.worker.failed.connect(self._failed)
            self.summary.setText(text("saving", self.language))
            self.thread.start()
        return False

    def _finish_thread(self) -> None:
        self.thread.quit()
        self.thread.wait(5000)
        self.thread = self.worker = None

    def _saved(self, report) -> None:
        self._finish_thread()
        wizard, person = self.wizard(), self.saving
        if person.id in report.enrolled:
            wizard.saved_person = person
            wizard.accept()
            return
        self.summary.setText(text("not_saved", self.language, reason=report.refused.get(person.id, "")))

    def _failed(self, message: str) -> None:
        self._finish_thread()
        self.summary.setText(message)


WIZARD_SIZE = QSize(900, 700)  # room for the consent statement, the capture preview and the review thumbnails


def fitted_size(widget: QWidget, wanted: QSize) -> QSize:
    """What the widget's content asks for, at least `wanted`, at most the screen it opens on (a
    wizard that opened at its bare minimum clipped the consent statement)."""
    screen = widget.screen().availableGeometry().size()
    return widget.sizeHint().expandedTo(wanted).boundedTo(screen)


class EnrollWizard(QWizard):
    def __init__(self, config: KioskConfig, store, protector, model_id: str, policy: EnrollmentPolicy,
                 source: str | None, language: str = "en", parent=None):
        super().__init__(parent)
        self.config, self.store, self.protector = config, store, protector
        self.model_id, self.policy, self.source = model_id, policy, source
        self.enrollment, self.saved_person = None, None
        self.setWindowTitle(text("enroll", language))
        self.details, self.consent = DetailsPage(language, store), ConsentPage(language)
        self.capture, self.review = CapturePage(language), ReviewPage(language)
        for page in (self.details, self.consent, self.capture, self.review):
            self.addPage(page)
        self.resize(fitted_size(self, WIZARD_SIZE))

    def done(self, result: int) -> None:
        self.capture.stop()
        super().done(result)
