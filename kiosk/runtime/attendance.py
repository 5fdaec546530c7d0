"""Attendance: check-in / check-out records from grants, de-duplicated, summarised per day, exported."""

import csv
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path

from kiosk.errors import FacegateError
from kiosk.store.gallery import GalleryStore
from kiosk.store.records import AttendanceRecord


class AttendanceRecorder:
    """Turns a grant into an in or out record, unless the person was recorded a moment ago. A
    "toggle" door alternates within one site day (the day in the site's time zone)."""

    def __init__(self, store: GalleryStore, mode: str, dedup_minutes: int, zone: tzinfo):
        self.store, self.mode, self.dedup, self.zone = store, mode, timedelta(minutes=dedup_minutes), zone

    def record(self, person_id: str, door: str, at: datetime) -> str | None:
        """The direction recorded, or None (attendance off here, or a duplicate within the window).
        Call inside the store transaction that logs the decision."""
        if self.mode == "none":
            return None
        last = self.store.last_attendance(person_id)
        if last is not None and at - last.at < self.dedup:
            return None
        if self.mode == "toggle":
            checked_in_today = (last is not None and last.direction == "in"
                                and last.at.astimezone(self.zone).date() == at.astimezone(self.zone).date())
            direction = "out" if checked_in_today else "in"
        else:
            direction = self.mode
        self.store.record_attendance(person_id, direction, door, at)
        return direction


@dataclass(frozen=True)
class DaySummary:
    day: date
    person: str
    name: str
    first_in: str
    last_out: str
    records: int


def site_day_bounds(first: date, last: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The instants the site days `first` to `last` (inclusive) begin and end."""
    return (datetime.combine(first, time.min, zone), datetime.combine(last + timedelta(days=1), time.min, zone))


def summarise(rows: list[AttendanceRecord], zone: tzinfo) -> list[DaySummary]:
    """One row per person and site day: first check-in, last check-out, number of records."""
    days: dict[tuple[date, str], list] = defaultdict(list)
    names: dict[str, str] = {}
    for row in rows:
        stamp = row.at.astimezone(zone)
        days[(stamp.date(), row.person_ref)].append((stamp, row.direction))
        names[row.person_ref] = row.display_name or "(deleted)"
    summaries = []
    for (day, person), records in sorted(days.items()):
        ins = [s for s, d in records if d == "in"]
        outs = [s for s, d in records if d == "out"]
        summaries.append(DaySummary(day, person, names[person], min(ins).strftime("%H:%M:%S") if ins else "",
                                    max(outs).strftime("%H:%M:%S") if outs else "", len(records)))
    return summaries


def export_attendance(rows: list[AttendanceRecord], path: Path, file_format: str, zone: tzinfo) -> Path:
    """Write the records (site time, with its offset) and the per-day summary as CSV (records only)
    or XLSX (two sheets)."""
    header = ["person", "name", "time", "direction", "door"]
    records = [[r.person_ref, r.display_name or "(deleted)", r.at.astimezone(zone).isoformat(timespec="seconds"),
                r.direction, r.door or ""] for r in rows]
    if file_format == "csv":
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(records)
        return path
    if file_format == "xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.title = "records"
        sheet.append(header)
        for row in records:
            sheet.append(row)
        days = book.create_sheet("per day")
        days.append(["day", "person", "name", "first in", "last out", "records"])
        for s in summarise(rows, zone):
            days.append([s.day.isoformat(), s.person, s.name, s.first_in, s.last_out, s.records])
        book.save(path)
        return path
    raise FacegateError(f"unknown attendance format {file_format!r}: use csv or xlsx")
