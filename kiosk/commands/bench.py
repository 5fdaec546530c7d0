"""`bench`: the benchmark suite. Every part prints medians and p95 over repeated runs, and ratios
where it compares; `--part` picks parts (default: all but the slow side-by-side and memory ones)."""

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from kiosk.commands import add_command
from kiosk.errors import DatasetError, FacegateError
from kiosk.paths import shared_data_dir

LIVE_VIDEO = "live/webcam_talking_e.mp4"  # liveness cues are timed on a real live face (512x512, 25 fps)
PARTS = ("stages", "frames", "enrollment", "scale", "memory", "reference", "gpu", "site")
DEFAULT_PARTS = ("stages", "frames", "enrollment", "scale")


def register(subparsers) -> None:
    bench = add_command(subparsers, "bench", "benchmarks: per stage, end to end per frame, enrollment, 1:N at "
                        "scale, memory, face_recognition side by side, GPU throughput, a site's sync, revocation "
                        "and outage on real PostgreSQL and mosquitto", _bench)
    bench.add_argument("--part", action="append", choices=PARTS,
                       help=f"run only this part (repeatable; default: {', '.join(DEFAULT_PARTS)})")
    bench.add_argument("--photos", type=int, default=24, help="LFW photos for the per-stage timings")
    bench.add_argument("--repeats", type=int, default=5, help="passes over the photos per stage")
    bench.add_argument("--data", type=Path, default=None, help="LFW folder (default: ../shared/data/lfw)")
    bench.add_argument("--provider", choices=["auto", "cpu", "cuda"], default="auto")
    bench.add_argument("--sizes", default="1000,10000,100000,1000000", help="gallery sizes for the scale part")
    bench.add_argument("--memory-templates", type=int, default=100_000, help="gallery size for the memory part")
    bench.add_argument("--reference-pairs-per-fold", type=int, default=60,
                       help="LFW pairs per fold for the face_recognition accuracy (600 = all 6,000)")
    bench.add_argument("--site-people", type=int, default=10_000, help="people at the site for the site part")
    bench.add_argument("--site-events", type=int, default=1_000, help="records queued through the site part's outage")
    bench.add_argument("--profile", action="store_true", help="print where end-to-end frame time goes (cProfile)")


def _lfw_root(args: argparse.Namespace) -> Path:
    root = args.data or shared_data_dir() / "lfw"
    if not (root / "images").is_dir():
        raise DatasetError(f"{root / 'images'} not found; the benchmark times real LFW photos (pass --data)")
    return root


def _photo_files(lfw: Path, count: int, photo: int = 0) -> list[Path]:
    """The `photo`-th photo of `count` people spread across the alphabet (people with enough photos)."""
    people = [p for p in sorted((lfw / "images").iterdir()) if p.is_dir() and len(list(p.glob("*.jpg"))) > photo]
    chosen = people[:: max(1, len(people) // count)][:count]
    return [sorted(person.glob("*.jpg"))[photo] for person in chosen]


def _table(rows) -> list[str]:
    lines = [f"  {'stage':<52} {'per':<14} {'median ms':>10} {'p95 ms':>8}"]
    lines += [f"  {t.stage:<52} {t.unit:<14} {t.median_ms:>10.3f} {t.p95_ms:>8.3f}" for t in rows]
    return lines


def _bench(args: argparse.Namespace) -> tuple[dict, str]:
    """Each part's table is printed as soon as it is measured (a long run loses nothing to a late
    failure); with --json, one object at the end instead."""
    data = {}
    for part in args.part or DEFAULT_PARTS:
        print(f"bench: {part} ...", file=sys.stderr, flush=True)
        data[part], lines = RUNNERS[part](args)
        if not args.json:
            print("\n".join(lines) + "\n", flush=True)
    return data, ""


def _stages(args) -> tuple[dict, list[str]]:
    from kiosk.bench.stages import run_benchmark

    files = _photo_files(_lfw_root(args), args.photos)
    live_video = shared_data_dir() / "liveness" / LIVE_VIDEO
    timings, provider = run_benchmark(files, args.repeats, args.provider, live_video if live_video.exists() else None)
    lines = [f"per stage: {len(files)} LFW photos, {args.repeats} passes, embedder on {provider}"] + _table(timings)
    return {"photos": len(files), "provider": provider, "stages": [asdict(t) for t in timings]}, lines


def _frames(args) -> tuple[dict, list[str]]:
    from kiosk.bench.endtoend import Visitor, frame_timings

    lfw = _lfw_root(args)
    people = [p for p in sorted((lfw / "images").iterdir()) if len(list(p.glob("*.jpg"))) >= 3]
    visitors = [Visitor(sorted(p.glob("*.jpg"))[:2], sorted(p.glob("*.jpg"))[2]) for p in people[:: len(people) // 8][:8]]
    data, lines = {}, [f"end to end per frame: a {len(visitors)}-visit video at 15 fps made from LFW photos "
                       f"(visitors enrolled from two other photos each)"]
    for faces, liveness in ((1, False), (4, False), (1, True)):
        timings, summary, profile = frame_timings(visitors, faces, liveness,
                                                  profile=args.profile and faces == 1 and not liveness)
        key = f"{faces}_faces{'_liveness' if liveness else ''}"
        data[key] = {"stages": [asdict(t) for t in timings], **summary}
        lines += _table(timings)
        if summary["first_decision_ms"] is not None:
            lines.append(f"  first decision {summary['first_decision_ms']:.0f} ms after the visit's first frame "
                         f"(camera time + processing), decisions: {', '.join(summary['decisions'])}")
        lines.append(f"  overlapping the two stages saves {summary['overlapped_ms']:.1f} ms a frame: "
                     f"{summary['sustained_fps']} frames per second sustained")
        if profile:
            lines += ["  profile of process() (cProfile, by own time):"] + ["    " + line for line in profile.splitlines()]
    return data, lines


def _enrollment(args) -> tuple[dict, list[str]]:
    from kiosk.bench.endtoend import enrollment_throughput

    result = enrollment_throughput(_photo_files(_lfw_root(args), 200))
    return result, [f"enrollment from photos: {result['photos']} LFW photos in {result['seconds']} s = "
                    f"{result['photos_per_second']} photos/s ({result['accepted']} passed the gates), landmarks "
                    f"overlapping the embedding; one photo after another: {result['one_at_a_time_photos_per_second']} "
                    f"photos/s ({result['photos_per_second'] / result['one_at_a_time_photos_per_second']:.2f}x)"]


def _scale(args) -> tuple[dict, list[str]]:
    from kiosk.bench.scale import scale_report

    return scale_report(_lfw_root(args), [int(size) for size in args.sizes.split(",")], args.provider)


def _memory(args) -> tuple[dict, list[str]]:
    from kiosk.bench.scale import memory_report

    return memory_report(_lfw_root(args), args.memory_templates)


def _reference(args) -> tuple[dict, list[str]]:
    from kiosk.bench.reference import reference_report

    return reference_report(_lfw_root(args), args.reference_pairs_per_fold, _photo_files(_lfw_root(args), 100))


def _gpu(args) -> tuple[dict, list[str]]:
    from kiosk.bench.gpu import gpu_report

    if args.provider == "cpu":
        raise FacegateError("the gpu part measures the CUDA provider: pass --provider cuda (or auto)")
    return gpu_report(args.provider)


def _site(args) -> tuple[dict, list[str]]:
    from kiosk.bench.site import SiteBenchPlan, site_report

    return site_report(SiteBenchPlan(people=args.site_people, events=args.site_events))


RUNNERS = {"stages": _stages, "frames": _frames, "enrollment": _enrollment, "scale": _scale, "memory": _memory,
           "reference": _reference, "gpu": _gpu, "site": _site}
