"""`liveness calibrate`: the texture operating point from live faces at the site's own camera."""

import argparse
import os
import sys
from contextlib import closing
from datetime import date
from pathlib import Path

from kiosk.commands import add_command, command_group
from kiosk.commands.config_check import add_config_option
from kiosk.config import load_config
from kiosk.errors import ConfigError, FacegateError


def register(subparsers) -> None:
    group = command_group(subparsers, "liveness", "liveness at this site")
    calibrate = add_command(group, "calibrate", "record live faces of staff at the kiosk's camera and set the texture "
                            "operating point to a stated BPCER on them (written into the config)", _calibrate)
    calibrate.add_argument("--source", action="append", default=None,
                           help="one visitor: camera index, stream URL or video file; give it once per person, at "
                                "least five people (a camera is recorded for --seconds per person, one after the "
                                "other; default: the config's camera.source)")
    calibrate.add_argument("--seconds", type=float, default=10.0, help="how long to record each visitor")
    calibrate.add_argument("--bpcer", type=float, default=0.05,
                           help="share of live 15-frame windows the operating point may refuse")
    calibrate.add_argument("--dry-run", action="store_true", help="report the operating point, leave the config as it is")
    add_config_option(calibrate)


def _calibrate(args: argparse.Namespace) -> tuple[dict, str]:
    from kiosk.liveness.calibration import WindowMedians, calibrate_texture
    from kiosk.liveness.texture import TextureLivenessModel
    from kiosk.manifest import load_landmarker_manifest, load_liveness_manifest
    from kiosk.recognition.faces import largest_face
    from kiosk.recognition.landmarks import FaceLandmarkDetector
    from kiosk.sources import VideoCaptureSource, open_source

    if not 0 < args.bpcer < 0.5:
        raise FacegateError(f"--bpcer {args.bpcer:g}: give a share between 0 and 0.5, e.g. 0.05 for 5%")
    config = load_config(args.config)
    specs = [str(source) for source in args.source] if args.source else [str(config.camera.source)]
    manifest = load_liveness_manifest()
    texture = TextureLivenessModel(manifest, config.models.provider, threads=1)
    window = config.liveness.policy().texture_window
    visitors: list[list[float]] = []
    frames = faces = 0
    for number, spec in enumerate(specs, start=1):
        windows = WindowMedians(window)
        source = open_source(spec)
        if not isinstance(source, VideoCaptureSource):
            raise FacegateError(f"--source {spec}: calibration needs a camera, a stream or a video file, not still photos")
        print(f"visitor {number} of {len(specs)}: {spec}", file=sys.stderr, flush=True)
        with closing(source), FaceLandmarkDetector(load_landmarker_manifest(), video=True, max_faces=1) as detector:
            first_ms, shown_s = None, -1
            for frame in source.frames():
                first_ms = frame.timestamp_ms if first_ms is None else first_ms
                elapsed_s = (frame.timestamp_ms - first_ms) / 1000
                if elapsed_s > args.seconds:
                    break
                frames += 1
                face = largest_face(detector.detect(frame.rgb, frame.timestamp_ms))
                faces += face is not None
                windows.add(texture.live_probability(frame.rgb, face.box) if face is not None else None)
                if int(elapsed_s) != shown_s:
                    shown_s = int(elapsed_s)
                    print(f"  {shown_s}/{args.seconds:g} s: {len(windows.medians)} windows of a face", file=sys.stderr,
                          flush=True)
        visitors.append(windows.medians)
    try:
        result = calibrate_texture(visitors, args.bpcer, manifest.texture_floor)
    except ValueError as exc:
        raise FacegateError(f"liveness calibrate: {exc}") from None
    comment = (f"calibrated {date.today().isoformat()} by liveness calibrate on {len(visitors)} visitors "
               f"({result.windows} live windows): BPCER {args.bpcer:.0%}, visitors' own points "
               f"{min(result.visitor_quantiles):.3f}-{max(result.visitor_quantiles):.3f}")
    if result.floored:
        comment += f", raised to the floor {result.floor:g}"
    data = {"threshold": result.threshold, "quantile": round(result.quantile, 4), "floor": result.floor,
            "floored": result.floored, "windows": result.windows, "frames": frames, "frames_with_face": faces,
            "bpcer_at_threshold": round(result.bpcer_at_threshold, 4), "previous": config.liveness.texture_threshold,
            "visitors": [{"source": source, "windows": len(medians), "own_point": round(own, 4),
                          "refused_at_threshold": round(refused, 4)}
                         for source, medians, own, refused in zip(specs, visitors, result.visitor_quantiles,
                                                                 result.visitor_bpcer)],
            "spread": round(result.spread, 4),
            "written": not args.dry_run, "config": str(args.config)}
    lines = [f"{len(visitors)} visitors, {result.windows} live windows of {window} frames "
             f"({faces} of {frames} frames with a face)"]
    lines += [f"  visitor {number}: own point {own:.3f}, refused in {refused:.0%} of {len(medians)} windows at the "
              f"site's point  ({source})"
              for number, (source, medians, own, refused) in enumerate(zip(specs, visitors, result.visitor_quantiles,
                                                                          result.visitor_bpcer), start=1)]
    lines += [f"spread between the visitors' own points: {result.spread:.3f}",
             f"their {args.bpcer:.0%} quantile: {result.quantile:.3f}; operating point {result.threshold:.3f} "
             f"(was {config.liveness.texture_threshold:g}), refusing {result.bpcer_at_threshold:.1%} of these windows"]
    if result.floored:
        lines.append(f"warning: this camera's live faces score below the floor {result.floor:g}, under which a replay "
                     f"of the development set passes; the floor is used, and live people here will often be "
                     f"refused: more light on the faces, or a better camera, raises their scores")
    if not args.dry_run:
        _write_threshold(args.config, result.threshold, comment)
        lines.append(f"written to {args.config}: liveness.texture_threshold: {result.threshold:g}  # {comment}")
    return data, "\n".join(lines)


def _write_threshold(path: Path, threshold: float, comment: str) -> None:
    """Replace the value in place, keeping every other line; the new file must load before it replaces the old."""
    from kiosk.yamlfile import with_scalar

    updated = with_scalar(path.read_text(), "liveness", "texture_threshold", f"{threshold:g}", comment)
    staged = path.with_name(f".{path.name}.calibrating")
    staged.write_text(updated)
    try:
        load_config(staged)
    except ConfigError:
        staged.unlink()
        raise
    os.replace(staged, path)
