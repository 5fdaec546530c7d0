"""Helpers that write kiosk configs and gallery files for tests, over real LFW photos."""

from pathlib import Path

import yaml


def write_kiosk_config(folder: Path, **sections) -> Path:
    config = {"store": {"path": str(folder / "gallery.db"), "keys": {"file": str(folder / "keys.json")}}}
    config.update(sections)
    path = folder / "kiosk.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def person_entry(lfw_dir: Path, person: str, numbers: list[int], person_id: str | None = None, **fields) -> dict:
    entry = {
        "id": person_id or person.lower().replace("_", "-")[:60],
        "name": person.replace("_", " "),
        "consent": {"given_by": person.replace("_", " "), "date": "2026-11-01", "scope": "door access"},
        "photos": [str(lfw_dir / "images" / person / f"{person}_{n:04d}.jpg") for n in numbers],
    }
    entry.update(fields)
    return entry


def write_gallery(path: Path, people: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"people": people}, sort_keys=False))
    return path


def lfw_people_with_photos(lfw_dir: Path, count: int, min_photos: int = 1, skip: int = 0) -> list[str]:
    """People with at least `min_photos` photos, in name order, spread across the alphabet."""
    people = [p for p in sorted((lfw_dir / "images").iterdir())
              if p.is_dir() and len(list(p.glob("*.jpg"))) >= min_photos]
    step = max(1, len(people) // (count + skip))
    return [p.name for p in people[skip::step][:count]]
