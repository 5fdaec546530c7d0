"""Administration: people (search, enable/disable, hard delete), recent events, attendance export,
status, PIN change. Every change goes through kiosk/ and is audited there.

The people, events and attendance are the gallery's being administered: the kiosk's own store, or
at a site the site's gallery in PostgreSQL (every door's events and attendance). The PIN is always
this kiosk's own."""

from dataclasses import replace
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QDate, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from kiosk.admin_pin import PinGate
from kiosk.errors import FacegateError
from kiosk.gallery.target import GalleryTarget
from kiosk.runtime.attendance import export_attendance, site_day_bounds, summarise
from kiosk.store.gallery import GalleryStore
from kiosk.store.records import Event
from ui.pin_dialog import ChangePinDialog
from ui.records_view import EVENT_COLUMNS, event_row
from ui.tasks import StoreTask
from ui.texts import text

COLUMNS = ("id", "name", "role", "enabled", "templates")
ATTENDANCE_COLUMNS = ("day", "name", "first_in", "last_out", "times")


class AdministeredGallery(GalleryTarget, Protocol):
    """A gallery with its records: a kiosk's store or the site's gallery."""

    def events(self, limit: int = 100, between: tuple[datetime, datetime] | None = None,
               person_ref: str | None = None) -> list[Event]: ...
    def close(self) -> None: ...


class AdminPanel(QWidget):
    back_requested = Signal()
    enroll_requested = Signal()
    gallery_changed = Signal()

    def __init__(self, store: GalleryStore, language: str = "en", zone: tzinfo = timezone.utc):
        super().__init__()
        self.zone = zone  # the site's: events and attendance days are shown in it
        self.deleting: StoreTask | None = None  # a hard delete under way
        self.store, self.language = store, language
        self.gallery: AdministeredGallery = store
        self.search = QLineEdit(placeholderText=text("search", language))
        self.search.textChanged.connect(self.refresh)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([text(c, language) for c in COLUMNS])
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("name"), QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.events = QTableWidget(0, len(EVENT_COLUMNS))
        self.events.setHorizontalHeaderLabels([text(c, language) for c in EVENT_COLUMNS])
        self.events.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.events.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.events.verticalHeader().setVisible(False)
        self.events.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.events.horizontalHeader().setStretchLastSection(True)
        self.status = QLabel()
        self.notice = QLabel()  # why the last change was refused, in place: no modal dialog at a kiosk
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("color: #c62828")
        tabs = QTabWidget()
        tabs.addTab(self._people_tab(), text("people", language))
        tabs.addTab(self._events_tab(), text("recent_events", language))
        tabs.addTab(self._attendance_tab(), text("attendance", language))
        tabs.addTab(self.status, text("status", language))
        back = QPushButton(text("back_to_kiosk", language))
        back.clicked.connect(self.back_requested)
        enroll = QPushButton(text("enroll", language))
        enroll.clicked.connect(self.enroll_requested)
        change_pin = QPushButton(text("change_pin", language))
        change_pin.setObjectName("change_pin")
        change_pin.clicked.connect(lambda: self.change_pin())
        buttons = QHBoxLayout()
        for button in (enroll, change_pin):
            buttons.addWidget(button)
        buttons.addStretch()
        buttons.addWidget(back)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"<h1>{text('admin', language)}</h1>"))
        layout.addWidget(tabs, stretch=1)
        layout.addWidget(self.notice)
        layout.addLayout(buttons)
        self.provider: str | None = None
        self.camera_state: str | None = None

    def _people_tab(self) -> QWidget:
        page = QWidget()
        toggle = QPushButton(f"{text('enable', self.language)} / {text('disable', self.language)}")
        toggle.clicked.connect(self.toggle_selected)
        delete = QPushButton(text("delete", self.language))
        delete.setObjectName("delete_person")
        delete.clicked.connect(lambda: self.delete_selected())
        row = QHBoxLayout()
        row.addWidget(toggle)
        row.addWidget(delete)
        row.addStretch()
        layout = QVBoxLayout(page)
        layout.addWidget(self.search)
        layout.addWidget(self.table, stretch=1)
        layout.addLayout(row)
        return page

    def _events_tab(self) -> QWidget:
        """What happened on one day, for everyone or one person: a receptionist asked about yesterday
        finds it without scrolling through today."""
        page = QWidget()
        self.events_day = QDateEdit(QDate.currentDate(), calendarPopup=True)
        self.events_day.setDisplayFormat("ddd d MMM yyyy")
        self.events_day.dateChanged.connect(self.show_events)
        self.events_person = QComboBox()
        self.events_person.currentIndexChanged.connect(self.show_events)
        row = QHBoxLayout()
        for widget in (QLabel(text("day", self.language)), self.events_day, QLabel(text("person", self.language)),
                       self.events_person):
            row.addWidget(widget)
        row.addStretch()
        layout = QVBoxLayout(page)
        layout.addLayout(row)
        layout.addWidget(self.events, stretch=1)
        return page

    def _fill_person_choice(self, everyone: list) -> None:
        """Everyone, then each person by name; the choice made stays chosen."""
        chosen = self.events_person.currentData()
        self.events_person.blockSignals(True)
        self.events_person.clear()
        self.events_person.addItem(text("everyone", self.language), None)
        for person in sorted(everyone, key=lambda p: p.display_name.lower()):
            self.events_person.addItem(person.display_name, person.id)
        self.events_person.setCurrentIndex(max(0, self.events_person.findData(chosen)))
        self.events_person.blockSignals(False)

    def show_events(self) -> None:
        day = self.events_day.date().toPython()
        try:
            events = self.gallery.events(limit=500, between=site_day_bounds(day, day, self.zone),
                                         person_ref=self.events_person.currentData())
        except FacegateError as exc:  # a door's role at a site may read the people, not the records
            events = []
            self._warn(exc)
        names = {self.events_person.itemData(i): self.events_person.itemText(i)
                 for i in range(1, self.events_person.count())}
        self.events.setRowCount(len(events))
        for row, event in enumerate(events):
            for column, value in enumerate(event_row(event, names, self.zone, self.language)):
                self.events.setItem(row, column, QTableWidgetItem(value))

    def _attendance_tab(self) -> QWidget:
        """Who came and went, day by day, for the chosen days (shown, and exported on request)."""
        page = QWidget()
        self.start = QDateEdit(QDate.currentDate().addDays(-6), calendarPopup=True)
        self.end = QDateEdit(QDate.currentDate(), calendarPopup=True)
        for edit in (self.start, self.end):
            edit.setDisplayFormat("ddd d MMM yyyy")  # a day, not three numbers
            edit.dateChanged.connect(self.show_attendance)
        export = QPushButton(text("export_attendance", self.language))
        export.setObjectName("export_attendance")
        export.clicked.connect(lambda: self.export_attendance(None))
        self.attendance = QTableWidget(0, len(ATTENDANCE_COLUMNS))
        self.attendance.setHorizontalHeaderLabels([text(c, self.language) for c in ATTENDANCE_COLUMNS])
        self.attendance.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.attendance.verticalHeader().setVisible(False)
        self.attendance.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.attendance.horizontalHeader().setStretchLastSection(True)
        row = QHBoxLayout()
        for widget in (QLabel(text("from_day", self.language)), self.start, QLabel(text("to_day", self.language)),
                       self.end, export):
            row.addWidget(widget)
        row.addStretch()
        self.attendance_note = QLabel(wordWrap=True)
        layout = QVBoxLayout(page)
        layout.addLayout(row)
        layout.addWidget(self.attendance, stretch=1)
        layout.addWidget(self.attendance_note)
        return page

    def _attendance_rows(self) -> list:
        return self.gallery.attendance_between(*site_day_bounds(self.start.date().toPython(),
                                                                self.end.date().toPython(), self.zone))

    def show_attendance(self) -> None:
        """The chosen days, a row per person and day: first in, last out, how many times."""
        try:
            summaries = summarise(self._attendance_rows(), self.zone)
            self.attendance_note.clear()
        except FacegateError as exc:  # a door's role at a site may not read the site's attendance
            summaries = []
            self.attendance_note.setText(str(exc))  # on its own tab: the notice below says what else was refused
        self.attendance.setRowCount(len(summaries))
        for row, day in enumerate(summaries):
            values = (day.day.strftime("%a %d %b"), day.name if day.name != "(deleted)" else
                      text("a_deleted_person", self.language), day.first_in[:5], day.last_out[:5], str(day.records))
            for column, value in enumerate(values):
                self.attendance.setItem(row, column, QTableWidgetItem(value))

    def administer(self, gallery: AdministeredGallery) -> None:
        """People, events and attendance from now on are `gallery`'s (the site's, or the store's)."""
        self.gallery = gallery

    def say(self, message: str) -> None:
        """Something done, said where the receptionist looks (a change made, a person enrolled)."""
        self.notice.setStyleSheet("color: #2e7d32")
        self.notice.setText(message)

    def _warn(self, error: FacegateError) -> None:
        self.notice.setStyleSheet("color: #c62828")
        self.notice.setText(str(error))

    def set_camera_state(self, kind: str, _detail: str = "") -> None:
        self.camera_state = kind

    def frames_arrive(self) -> None:
        """The camera gives pictures: working, unless it said it was lost or ended since."""
        if self.camera_state is None:
            self.camera_state = "frames"

    def set_provider(self, provider: str) -> None:
        self.provider = provider

    def refresh(self) -> None:
        self.notice.clear()
        needle = self.search.text().strip().lower()
        counts = self.gallery.template_counts()
        everyone = self.gallery.list_people()
        people = [p for p in everyone if needle in p.id.lower() or needle in p.display_name.lower()]
        self.table.setRowCount(len(people))
        for row, person in enumerate(people):
            values = (person.id, person.display_name, person.role, "\u2714" if person.enabled else "\u2716",
                      str(counts.get(person.id, 0)))
            for column, value in enumerate(values):
                self.table.setItem(row, column, QTableWidgetItem(value))
        self._fill_person_choice(everyone)
        self.show_events()
        self.status.setText("\n".join(self.status_lines(len(everyone))))
        self.show_attendance()

    def status_lines(self, people: int) -> list[str]:
        """The kiosk's state in words: no provider names, event kinds or file paths."""
        models = ("models_starting" if self.provider is None else
                  "models_on_gpu" if "CUDA" in self.provider else "models_on_cpu")
        camera = {None: "camera_state_starting", "source_lost": "camera_state_lost",
                  "source_ended": "camera_state_ended"}.get(self.camera_state, "camera_state_working")
        where = "gallery_own" if self.gallery is self.store else "gallery_site"
        return [text(models, self.language), text(camera, self.language),
                text("store_status", self.language, people=people), text(where, self.language)]

    def selected_id(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.table.item(rows[0].row(), 0).text() if rows else None

    def toggle_selected(self) -> None:
        person = self.gallery.get_person(self.selected_id() or "")
        if person is None:
            return
        try:
            with self.gallery.transaction():
                self.gallery.upsert_person(replace(person, enabled=not person.enabled))
                self.gallery.log_event("person_updated", person.id, changes=[f"enabled -> {not person.enabled}"],
                                       by="admin")
        except FacegateError as exc:  # at a site: a kiosk's role that may only read, or the site gone
            self._warn(exc)
            return
        self.gallery_changed.emit()
        self.refresh()

    def delete_selected(self) -> None:
        """Always asks first, naming the person and what is erased; the default answer keeps them.
        (It takes no argument: a button's clicked(bool) once filled a `confirm` flag with False and
        deleted at one click.)"""
        person = self.gallery.get_person(self.selected_id() or "")
        if person is None:
            return
        photos = self.gallery.template_counts().get(person.id, 0)
        question = text("confirm_delete", self.language, name=person.display_name, id=person.id, photos=photos)
        buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
        box = QMessageBox(QMessageBox.Icon.Warning, text("delete", self.language), question, buttons, self)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.button(QMessageBox.StandardButton.Yes).setText(text("delete_yes", self.language, name=person.display_name))
        box.button(QMessageBox.StandardButton.No).setText(text("keep", self.language))
        if box.exec() != QMessageBox.StandardButton.Yes:
            return
        gallery = self.gallery
        self.deleting = StoreTask.start(lambda: gallery.hard_delete(person.id, reason="deleted by administrator"),
                                        self._deleted, self._delete_failed)

    def _delete_failed(self, message: str) -> None:
        self.deleting = None
        self.notice.setText(message)

    def _deleted(self, _removed: object) -> None:
        self.deleting = None
        self.gallery_changed.emit()
        self.refresh()

    def export_attendance(self, path: Path | None) -> Path | None:
        if path is None:
            first, last = self.start.date().toPython(), self.end.date().toPython()
            suggested = Path.home() / f"attendance {first:%Y-%m-%d} to {last:%Y-%m-%d}.xlsx"  # never the program's folder
            chosen, _ = QFileDialog.getSaveFileName(self, text("export_attendance", self.language), str(suggested),
                                                    "Excel (*.xlsx);;CSV (*.csv)")
            if not chosen:
                return None
            path = Path(chosen)
        try:
            rows = self._attendance_rows()
            export_attendance(rows, path, "csv" if path.suffix == ".csv" else "xlsx", self.zone)
            with self.gallery.transaction():
                self.gallery.log_event("attendance_exported", None, records=len(rows), by="admin")
        except FacegateError as exc:
            self._warn(exc)
            return None
        self.notice.setStyleSheet("color: #2e7d32")
        self.notice.setText(text("exported", self.language, records=len(rows), path=path))
        return path

    def change_pin(self) -> None:
        """The current PIN, then the new one twice (a typo once locked the administrator out)."""
        if ChangePinDialog(PinGate(self.store), self.language, self).exec():
            self.notice.setText(text("pin_changed", self.language))


