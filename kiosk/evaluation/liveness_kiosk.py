"""What the kiosk itself records for each development presentation, end to end.

The per-cue table (evaluation/liveness.py) says what each cue makes of a file; this says what the
door would do. Each presentation's person is enrolled in a throwaway store from the file's own first
usable frames (one person per file; a face already enrolled from another file of the same person is
refused as a duplicate and stays enrolled under that id), so recognition is not what is measured
here. Then the file is played, every frame, through a real KioskSession with the given config (its
tracker and two faces, its Visit and thresholds, its passive liveness cues, its store): the outcome is the
first decision the kiosk records (granted, denied, unknown, spoof_suspected, left_before_verdict),
or `none` when it records nothing. A still photo is played as a video of that one frame for longer
than the liveness time limit: a photo held perfectly still.
"""

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import cv2
import yaml

from kiosk.config import KioskConfig, load_config
from kiosk.enrollment import Candidate, EnrollmentPolicy, PhotoEnrollment, enroll_photos, write_enrollments
from kiosk.evaluation.liveness import Presentation
from kiosk.imageio import read_image
from kiosk.protection import protector_for
from kiosk.recognition.pipeline import FacePipeline
from kiosk.recognition.quality import QualityGates
from kiosk.sources import VideoCaptureSource
from kiosk.store.access import open_store
from kiosk.store.keys import KioskSecrets, save_secrets
from kiosk.store.records import Consent, Person

ENROLL_PHOTOS = 4     # frames a person is enrolled from: the first that pass the gates, as the wizard keeps
ENROLL_EVERY_S = 0.5  # apart at least this much (frames a moment apart add nothing)
STILL_FPS = 15
NO_OUTCOME = "none"


@dataclass(frozen=True)
class KioskVisit:
    """The kiosk's record of one presentation."""

    outcome: str               # the first recorded outcome, or "none"
    person_id: str | None
    seconds: float | None      # from the visit's first frame to that outcome
    reason: str
    recorded: tuple[str, ...]  # every outcome the kiosk recorded while the file played
    enrolled: bool             # the file's person is in the gallery (else "unknown" is expected)
    restarts: int = 0          # frames where the continuity check took the face for another and started over


def _still_video(image: Path, seconds: float, folder: Path) -> Path:
    rgb = read_image(image)
    path = folder / f"{image.stem}.avi"
    height, width = rgb.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), STILL_FPS, (width, height))
    for _ in range(int(seconds * STILL_FPS)):
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def _first_usable(pipeline: FacePipeline, gates: QualityGates, video: Path, folder: Path, name: str) -> PhotoEnrollment:
    """The person's embeddings from the video's first ENROLL_PHOTOS frames that pass the quality gates,
    ENROLL_EVERY_S apart, as the wizard's capture keeps them (a recording that opens on an app's
    screen before the face appears is enrolled once the face is there)."""
    found, next_s = PhotoEnrollment(), 0.0
    source = VideoCaptureSource(str(video))
    try:
        for frame in source.frames():
            if len(found.embeddings) >= ENROLL_PHOTOS:
                break
            if frame.timestamp_ms < next_s * 1000:
                continue
            photo = folder / f"{name}_{frame.index}.png"
            cv2.imwrite(str(photo), cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
            kept = enroll_photos(pipeline, [photo], gates)
            if kept.embeddings:
                found.embeddings += kept.embeddings
                found.sharpness += kept.sharpness
                found.previews += kept.previews
                next_s = frame.timestamp_ms / 1000 + ENROLL_EVERY_S
    finally:
        source.close()
    return found


def _throwaway_config(base: Path, folder: Path) -> KioskConfig:
    """The measured config with its store, doors and site replaced by throwaway ones, and its prompt
    moved to the time limit: a recording cannot hear what the screen asks, so what is measured here is
    the passive cues alone (the challenge has its own figures, `eval liveness --challenge`)."""
    data = yaml.safe_load(base.read_text()) or {}
    liveness = data.setdefault("liveness", {}) or {}
    liveness["prompt_after_s"] = liveness.get("timeout_s", 6.0)
    data["liveness"] = liveness
    data["store"] = {"path": str(folder / "gallery.db"), "keys": {"source": "file", "file": str(folder / "keys.json")}}
    data["doors"] = [{"name": "main", "outputs": [{"type": "log"}]}]
    data["site"] = {key: value for key, value in (data.get("site") or {}).items() if key != "server"}
    path = folder / "kiosk.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_config(path)


def _enroll(config: KioskConfig, media: dict[str, Path], folder: Path) -> set[str]:
    """One person per presentation, from its first usable frames; returns the ids enrolled."""
    save_secrets(config.store.keys, KioskSecrets.generate())
    store, secrets = open_store(config.store.resolved_path, config.store.keys, create=True)
    with store, FacePipeline.from_config(config, video=False) as pipeline:
        protector = protector_for(secrets, pipeline.manifest, config.models.protector, config.models.provider)
        policy = EnrollmentPolicy.from_config(config, protector)
        candidates = []
        for person_id, video in media.items():
            found = _first_usable(pipeline, policy.gates, video, folder, person_id)
            candidates.append(Candidate(Person(person_id, person_id), Consent(person_id, date.today(), "evaluation"),
                                        found))
        report = write_enrollments(store, protector, pipeline.manifest.id, policy, candidates)
    already = {person for person, why in report.refused.items() if why.startswith("face already enrolled")}
    return set(report.enrolled) | already


def _play(config: KioskConfig, video: Path) -> tuple[list[dict], int]:
    """What the kiosk recorded while the file played, and how often a visit started over."""
    from kiosk.runtime.kiosk import FrameStatus
    from kiosk.runtime.session import KioskSession

    decisions: list[dict] = []
    restarts = 0

    def seen(status: FrameStatus) -> None:
        nonlocal restarts
        restarts += status.restarted
        decisions.extend(decision.to_dict() for decision in status.left)
        if status.decision is not None:
            decisions.append(status.decision.to_dict())

    with KioskSession(config) as session:
        session.runner.run(session.capture(str(video)), seen, lambda decision: decisions.append(decision.to_dict()))
    return decisions, restarts


def kiosk_visits(presentations: list[tuple[Path, Presentation]], base_config: Path, still_seconds: float,
                 progress: Callable[[Presentation], None] | None = None) -> dict[tuple[str, str], KioskVisit]:
    """(set, path) -> what the kiosk recorded, for every presentation."""
    with tempfile.TemporaryDirectory(prefix="facegate-eval-") as scratch:
        folder = Path(scratch)
        config = _throwaway_config(base_config, folder)
        media: dict[str, Path] = {}
        keys: dict[str, tuple[str, str]] = {}
        for number, (root, presentation) in enumerate(presentations):
            person_id = f"p{number:03d}"
            path = root / presentation.path
            media[person_id] = path if presentation.is_video else _still_video(path, still_seconds, folder)
            keys[person_id] = (presentation.dataset, presentation.path)
        enrolled = _enroll(config, media, folder)
        visits = {}
        for person_id, video in media.items():
            presentation = next(p for _, p in presentations if (p.dataset, p.path) == keys[person_id])
            if progress:
                progress(presentation)
            decisions, restarts = _play(config, video)
            first = decisions[0] if decisions else None
            visits[keys[person_id]] = KioskVisit(
                outcome=first["outcome"] if first else NO_OUTCOME,
                person_id=first.get("person_id") if first else None,
                seconds=round(first["visit_ms"] / 1000, 2) if first else None,
                reason=first.get("reason", "") if first else "",
                recorded=tuple(d["outcome"] for d in decisions), enrolled=person_id in enrolled, restarts=restarts)
        return visits
