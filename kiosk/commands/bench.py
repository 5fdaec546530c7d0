"""`bench`: per-stage latency on real LFW photos, as median and p95."""

import argparse
from dataclasses import asdict
from pathlib import Path

from kiosk.commands import add_command
from kiosk.errors import DatasetError
from kiosk.paths import shared_data_dir

LIVE_VIDEO = "live/webcam_talking_e.mp4"  # liveness cues are timed on a real live face (512x512, 25 fps)


def register(subparsers) -> None:
    bench = add_command(subparsers, "bench", "per-stage latency (decode, landmarks, align, embed) on real photos", _bench)
    bench.add_argument("--photos", type=int, default=24, help="how many LFW photos to time on")
    bench.add_argument("--repeats", type=int, default=5, help="passes over the photos per stage")
    bench.add_argument("--data", type=Path, default=None, help="LFW folder (default: ../shared/data/lfw)")
    bench.add_argument("--provider", choices=["auto", "cpu", "cuda"], default="auto")


def _photo_files(lfw: Path, count: int) -> list[Path]:
    images = lfw / "images"
    if not images.is_dir():
        raise DatasetError(f"{images} not found; the benchmark times real LFW photos (pass --data)")
    people = sorted(p for p in images.iterdir() if p.is_dir())
    files = [sorted(person.glob("*.jpg"))[0] for person in people[:: max(1, len(people) // count)]]
    return files[:count]


def _bench(args: argparse.Namespace) -> tuple[dict, str]:
    from kiosk.bench.stages import run_benchmark

    files = _photo_files(args.data or shared_data_dir() / "lfw", args.photos)
    live_video = shared_data_dir() / "liveness" / LIVE_VIDEO
    timings, provider = run_benchmark(files, args.repeats, args.provider, live_video if live_video.exists() else None)
    lines = [f"{len(files)} LFW photos, {args.repeats} passes, embedder on {provider}",
             f"  {'stage':<30} {'per':<14} {'median ms':>10} {'p95 ms':>8}"]
    lines += [f"  {t.stage:<30} {t.unit:<14} {t.median_ms:>10.3f} {t.p95_ms:>8.3f}" for t in timings]
    return {"photos": len(files), "provider": provider, "stages": [asdict(t) for t in timings]}, "\n".join(lines)
