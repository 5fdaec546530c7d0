"""`eval lfw`: LFW 10-fold accuracy, ROC, TAR at FAR, and threshold calibration into the manifest."""

import argparse
from pathlib import Path

from kiosk.commands import add_command, require_training_extra
from kiosk.errors import FacegateError
from kiosk.manifest import EMBEDDER_MANIFEST, load_embedder_manifest, manifest_path
from kiosk.paths import PROJECT_ROOT, shared_data_dir


def register(subparsers) -> None:
    group = subparsers.add_parser("eval", help="measure accuracy on the shared data sets").add_subparsers(
        dest="eval_command", required=True, metavar="BENCHMARK")
    lfw = add_command(group, "lfw", "LFW View 2: 10-fold accuracy, ROC AUC, TAR at FAR, ROC curve PNG", _lfw)
    lfw.add_argument("--data", type=Path, default=None, help="LFW folder (default: ../shared/data/lfw)")
    lfw.add_argument("--workers", type=int, default=2, help="processes that detect and embed")
    lfw.add_argument("--no-cache", action="store_true", help="recompute embeddings even if cached")
    lfw.add_argument("--roc", type=Path, default=PROJECT_ROOT / "out" / "lfw_roc.png", help="where to write the ROC curve")
    lfw.add_argument("--pairs-per-fold", type=int, default=0,
                     help="use only this many pairs of each fold (a quick look; 0 = all 600)")
    lfw.add_argument("--calibrate", action="store_true",
                     help="record the threshold for the manifest's target FMR in the model manifest")
    privacy = add_command(group, "privacy", "protected-template accuracy, four reconstruction attackers, "
                          "unlinkability, renewal, and a reconstruction grid PNG (needs the train extra)", _privacy)
    privacy.add_argument("--attack-steps", type=int, default=700, help="training steps of each attacker")
    privacy.add_argument("--victims", type=int, default=1000, help="evaluation people attacked")
    privacy.add_argument("--grid", type=Path, default=PROJECT_ROOT / "out" / "reconstructions.png",
                         help="LFW faces and their reconstructions: research data, kept out of git")


def _lfw(args: argparse.Namespace) -> tuple[dict, str]:
    from kiosk.evaluation.lfw import LfwPairs, encode_lfw, evaluate
    from kiosk.evaluation.plots import write_roc_png

    pairs = LfwPairs.load(args.data or shared_data_dir() / "lfw")
    if args.calibrate and args.pairs_per_fold:
        raise FacegateError("--calibrate needs every pair: a threshold set on a subset would not hold")
    if args.pairs_per_fold:
        pairs = pairs.subset(args.pairs_per_fold)
    manifest = load_embedder_manifest()
    encoded = encode_lfw(pairs, workers=args.workers, use_cache=not args.no_cache)
    report, curves = evaluate(pairs, encoded, manifest.threshold.target_fmr)
    roc_path = write_roc_png(args.roc, curves, f"{manifest.id} on LFW View 2 ({report.pairs} pairs)",
                             {"FAR 1e-3": 1e-3, "FAR 1e-2": 1e-2})
    data = report.to_dict() | {"model": manifest.id, "flip_average": manifest.flip_average, "roc_png": str(roc_path)}
    if args.calibrate:
        _record_threshold(report, pairs)
        data["calibrated"] = True
    return data, _describe(report, manifest.id, roc_path, args.calibrate)


def _record_threshold(report, pairs) -> None:
    from models.manifest_edit import replace_top_level

    replace_top_level(manifest_path(EMBEDDER_MANIFEST), "threshold", {
        "value": round(report.fmr_threshold, 4),
        "target_fmr": report.target_fmr,
        "calibrated_on": f"LFW View 2 images ({report.images}), all impostor pairs among them",
        "impostor_pairs": report.impostor_pairs_for_threshold,
        "operating_points": {fmr: round(value, 4) for fmr, value in report.operating_points.items()},
    })


def _describe(report, model_id: str, roc_path: Path, calibrated: bool) -> str:
    lines = [
        f"LFW View 2 with {model_id}: {report.pairs} pairs over {report.images} images",
        f"  10-fold accuracy   {100 * report.accuracy_mean:.2f}% +- {100 * report.accuracy_std:.2f}",
        f"  ROC AUC            {report.roc_auc:.5f}",
        f"  TAR at FAR 1e-3    {100 * report.tar_at_far_1e3:.2f}%   (FAR from the {report.pairs // 2} impostor pairs)",
        f"  TAR at FAR 1e-2    {100 * report.tar_at_far_1e2:.2f}%",
        f"  threshold at FMR {report.target_fmr:g}: {report.fmr_threshold:.4f} "
        f"(from {report.impostor_pairs_for_threshold:,} impostor pairs), TAR there {100 * report.tar_at_fmr_threshold:.2f}%",
        "  thresholds at FMR " + ", ".join(f"{fmr:g}: {value:.4f}" for fmr, value in report.operating_points.items()),
        f"  detection failures {report.detection_failures} images -> {report.pairs_with_failure} pairs, "
        f"each scored as an error",
    ]
    lines += [f"    {reason}" for reason in report.failed_images.values()]
    lines.append(f"  ROC curve: {roc_path}")
    if calibrated:
        lines.append(f"  threshold {report.fmr_threshold:.4f} recorded in {manifest_path(EMBEDDER_MANIFEST)}")
    return "\n".join(lines)


def _privacy(args: argparse.Namespace) -> tuple[dict, str]:
    require_training_extra()
    from kiosk.manifest import load_protector_manifest
    from models.protection.evaluate import evaluate_privacy

    report = evaluate_privacy(load_protector_manifest(), args.attack_steps, args.victims, args.grid)
    accuracy, renewal = report["accuracy"], report["renewal"]
    a0 = next(a for a in report["attackers"] if a["name"] == "A0")["reidentified"]
    lines = [
        f"LFW View 2, 10-fold accuracy: clean vs clean {100 * accuracy['clean_vs_clean']:.2f}%, clean probe vs "
        f"protected template {100 * accuracy['clean_probe_vs_protected']:.2f}%",
        f"TAR at FAR 1e-3: clean {100 * accuracy['tar_far_1e3_clean']:.2f}%, protected "
        f"{100 * accuracy['tar_far_1e3_protected']:.2f}%",
        f"attackers on {report['victims']} evaluation people (re-identified: the reconstruction matches the person's "
        f"other photo at FMR 1e-3, {report['threshold']:.4f} clean / {report['protected_threshold']:.4f} protected):",
        f"  {'attacker':<8} {'re-ID':>7} {'of A0':>7} {'SSIM':>6} {'PSNR':>6} {'trained':>8}",
    ]
    for attacker in report["attackers"]:
        ratio = attacker["reidentified"] / a0 if a0 else float("nan")
        lines.append(f"  {attacker['name']:<8} {100 * attacker['reidentified']:>6.1f}% {ratio:>7.2f} "
                     f"{attacker['ssim']:>6.3f} {attacker['psnr']:>6.2f} {attacker['train_minutes']:>6.1f} min")
    lines += [
        f"unlinkability D_sys between two sites: {report['unlinkability_d_sys']:.3f} mean, "
        f"{report['unlinkability_d_sys_max']:.3f} worst of {len(report['unlinkability_d_sys_per_site_pair'])} site pairs "
        f"(estimator with nothing to link: {report['unlinkability_control']:.3f}; clean embeddings: "
        f"{report['unprotected_d_sys']:.3f})",
        f"renewal: old templates under the new secret {100 * renewal['old_templates_accuracy']:.2f}% "
        f"(TAR {100 * renewal['old_templates_tar']:.2f}%), renewed {100 * renewal['renewed_accuracy']:.2f}%",
        f"reconstructions: {report['grid_png']}",
    ]
    return report, "\n".join(lines)
