"""`eval lfw`, `eval liveness`, `eval privacy`: accuracy, presentation-attack detection and template protection."""

import argparse
import sys
from pathlib import Path

import numpy as np

from kiosk.commands import add_command, require_training_extra
from kiosk.config import DEFAULT_CONFIG
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
    liveness = add_command(group, "liveness", "liveness on ../shared/data/liveness: APCER and BPCER per attack type, "
                           "per cue and fused, file by file", _liveness)
    liveness.add_argument("--data", type=Path, default=None, help="liveness folder with labels.csv")
    liveness.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="kiosk config whose liveness policy is measured")
    liveness.add_argument("--plot", type=Path, default=PROJECT_ROOT / "out" / "liveness_texture.png",
                          help="the texture cue over time per video (shows people: kept out of git)")
    privacy = add_command(group, "privacy", "protected-template accuracy, four reconstruction attackers, "
                          "unlinkability, renewal, and a reconstruction grid PNG (needs the train extra)", _privacy)
    privacy.add_argument("--attack-steps", type=int, default=700, help="training steps of each attacker")
    privacy.add_argument("--victims", type=int, default=1000, help="evaluation people attacked")
    privacy.add_argument("--grid", type=Path, default=PROJECT_ROOT / "out" / "reconstructions.png",
                         help="LFW faces and their reconstructions: research data, kept out of git")


def _liveness(args: argparse.Namespace) -> tuple[dict, str]:
    from kiosk.config import load_config
    from kiosk.evaluation.liveness import CUES, error_rates, evaluate
    from kiosk.evaluation.plots import write_texture_traces_png
    from kiosk.liveness.texture import TextureLivenessModel
    from kiosk.manifest import load_landmarker_manifest, load_liveness_manifest

    config = load_config(args.config)
    policy = config.liveness.policy()
    texture = TextureLivenessModel(load_liveness_manifest(), threads=1)
    root = args.data or shared_data_dir() / "liveness"
    outcomes = evaluate(root, load_landmarker_manifest(), texture, policy,
                        progress=lambda p: print(f"  {p.path}", file=sys.stderr, flush=True))
    rates = error_rates(outcomes)
    traces = {Path(o.presentation.path).stem: (o.presentation.attack or "live", list(o.texture_trace))
              for o in outcomes if o.presentation.is_video}
    figure = write_texture_traces_png(args.plot, traces, policy.texture_threshold,
                                      "texture cue (MiniFASNet) on the liveness development videos")
    lines = [f"liveness on {root} ({len(outcomes)} presentations), texture operating point "
             f"{policy.texture_threshold:g}, time limit {policy.timeout_ms / 1000:g} s",
             "APCER (attacks accepted) / BPCER (live rejected), per cue:",
             f"  {'group':<24} {'rate':<6}" + "".join(f"{cue:>10}" for cue in CUES)]
    for group, row in rates.items():
        rate = "BPCER" if "bona fide" in group else "APCER"
        cells = "".join(f"{f'{row[cue][0]}/{row[cue][1]}':>10}" if cue in row else f"{'-':>10}" for cue in CUES)
        lines.append(f"  {group:<24} {rate:<6}{cells}")
    live_times = [o.seconds_to_live for o in outcomes if o.presentation.label == "live" and o.seconds_to_live is not None]
    if live_times:
        lines.append(f"time from the first face to a live verdict (bona fide videos): median "
                     f"{float(np.median(live_times)):.2f} s, worst {max(live_times):.2f} s")
    lines += ["file by file (accepted = judged live):",
              f"  {'file':<44} {'label':<6}" + "".join(f"{cue:>8}" for cue in CUES)
              + f" {'texture':>8} {'blinks':>6} {'moves':>9} {'live at':>8}  reason"]
    for o in outcomes:
        cells = "".join(f"{('live' if o.accepted[cue] else 'spoof') if cue in o.accepted else '-':>8}" for cue in CUES)
        texture_text = f"{o.texture_median:.3f}" if o.texture_median is not None else "-"
        live_at = f"{o.seconds_to_live:.2f} s" if o.seconds_to_live is not None else "-"
        lines.append(f"  {o.presentation.path:<44} {o.presentation.label:<6}{cells} {texture_text:>8} {o.blinks:>6} "
                     f"{f'{o.depth_moves}/{o.flat_moves}':>9} {live_at:>8}  {o.reason}")
    data = {"rates": {g: {c: list(v) for c, v in row.items()} for g, row in rates.items()},
            "files": [{"path": o.presentation.path, "label": o.presentation.label, "attack": o.presentation.attack,
                       "accepted": o.accepted, "seconds_to_live": o.seconds_to_live, "texture": o.texture_median,
                       "blinks": o.blinks, "depth_moves": o.depth_moves, "flat_moves": o.flat_moves,
                       "reason": o.reason} for o in outcomes],
            "texture_threshold": policy.texture_threshold, "timeout_s": policy.timeout_ms / 1000,
            "plot": str(figure)}
    lines.append(f"texture over time: {figure}")
    return data, "\n".join(lines)


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
