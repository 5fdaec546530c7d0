"""`eval lfw`, `eval liveness`: recognition accuracy and presentation-attack detection (`eval privacy`
lives with the protector's training code, in models/cli.py)."""

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from kiosk.commands import add_command, command_group
from kiosk.config import DEFAULT_CONFIG
from kiosk.errors import FacegateError
from kiosk.manifest import embedder_manifest_names, load_embedder_manifest
from kiosk.paths import PROJECT_ROOT, shared_data_dir


def register(subparsers) -> None:
    group = command_group(subparsers, "eval", "measure accuracy on the shared data sets")
    lfw = add_command(group, "lfw", "LFW View 2: 10-fold accuracy, ROC AUC, TAR at FAR, ROC curve PNG", _lfw)
    lfw.add_argument("--data", type=Path, default=None, help="LFW folder (default: ../shared/data/lfw)")
    lfw.add_argument("--workers", type=int, default=2, help="processes that detect and embed")
    lfw.add_argument("--no-cache", action="store_true", help="recompute embeddings even if cached")
    lfw.add_argument("--roc", type=Path, default=PROJECT_ROOT / "out" / "lfw_roc.png", help="where to write the ROC curve")
    lfw.add_argument("--pairs-per-fold", type=int, default=0,
                     help="use only this many pairs of each fold (a quick look; 0 = all 600)")
    lfw.add_argument("--embedder", action="append", default=None, metavar="NAME",
                     help="descriptor manifest to measure (repeat for several; default: every descriptor)")
    identify = add_command(group, "identify", "1:N open set on every LFW image at the kiosk's own gallery threshold: "
                           "FNIR, FPIR and rank-1 for single photos and fused three-photo visits", _identify)
    identify.add_argument("--data", type=Path, default=None, help="LFW folder (default: ../shared/data/lfw)")
    identify.add_argument("--workers", type=int, default=2, help="processes that detect and embed")
    identify.add_argument("--embedder", action="append", default=None, metavar="NAME",
                          help="descriptor manifest to measure (repeat for several; default: every descriptor)")
    identify.add_argument("--claim-sizes", type=_sizes, default=[1_000, 10_000, 100_000], metavar="N,N",
                          help="gallery sizes (real and synthetic people) at which claim + face is compared with 1:N "
                               "(default 1000,10000,100000; empty: skip)")
    groups = add_command(group, "demographics", "false matches by sex, race and age on UTKFace at the kiosk's own "
                         "thresholds, and how thresholds set on one source hold on another", _demographics)
    groups.add_argument("--data", type=Path, default=None, help="shared data folder with lfw/ and utkface/ "
                        "(default: ../shared/data)")
    groups.add_argument("--workers", type=int, default=2, help="processes that detect and embed")
    groups.add_argument("--embedder", default=None, metavar="NAME", help="descriptor manifest (default: the kiosk's)")
    groups.add_argument("--judge", default=None, metavar="NAME",
                        help="the other descriptor, which rules out pairs of one person (default: the other manifest)")
    groups.add_argument("--plot", type=Path, default=PROJECT_ROOT / "out" / "demographics_fmr.png",
                        help="where to write the group-by-group false match rates as a heat map")
    liveness = add_command(group, "liveness", "liveness on the shared development sets: APCER and BPCER per attack "
                           "type, per cue and fused, per set and for all sets together, file by file", _liveness)
    liveness.add_argument("--data", type=Path, action="append", default=None, metavar="FOLDER",
                          help="liveness folder with labels.csv (repeat for several; default: "
                               "../shared/data/liveness, liveness-extra and liveness-masks)")
    liveness.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                          help="kiosk config whose liveness policy is measured")
    liveness.add_argument("--challenge", action="store_true",
                          help="also offer each annotated action window (tests/expectations/liveness_actions.csv) "
                               "and each print and replay as the answer to every action the kiosk can draw")
    liveness.add_argument("--cutouts", action="store_true",
                          help="also render a cut-out print attack from each live video (its first frame worn as a "
                               "flat print with eye holes) and play each through the kiosk")
    liveness.add_argument("--cues-only", action="store_true",
                          help="only the per-cue table, not the kiosk's own outcome per file (which plays every "
                               "file through a kiosk with a throwaway store)")
    liveness.add_argument("--plot", type=Path, default=PROJECT_ROOT / "out" / "liveness_texture.png",
                          help="the texture cue over time per video (shows people: kept out of git)")


def _liveness(args: argparse.Namespace) -> tuple[dict, str]:
    from kiosk.config import load_config
    from kiosk.evaluation.challenge import challenge_report, challenge_trials
    from kiosk.evaluation.liveness import evaluate, read_labels, texture_floor
    from kiosk.evaluation.liveness_kiosk import kiosk_visits
    from kiosk.evaluation.liveness_report import liveness_report
    from kiosk.evaluation.plots import write_texture_traces_png
    from kiosk.liveness.texture import TextureLivenessModel
    from kiosk.manifest import load_landmarker_manifest, load_liveness_manifest

    config = load_config(args.config)
    policy = config.liveness.policy()
    # a recording cannot hear the prompt: the cues and the kiosk are measured passive (the prompt moved to
    # the time limit), the drawn challenge by --challenge on annotated windows
    passive = replace(policy, prompt_after_ms=policy.timeout_ms)
    texture = TextureLivenessModel(load_liveness_manifest(), threads=1)
    roots = args.data or [shared_data_dir() / name for name in ("liveness", "liveness-extra", "liveness-masks")]
    outcomes = evaluate(roots, load_landmarker_manifest(), texture, passive,
                        progress=lambda p: print(f"  cues: {p.dataset}/{p.path}", file=sys.stderr, flush=True))
    visits = None
    if not args.cues_only:
        presentations = [(root, presentation) for root in roots for presentation in read_labels(root)]
        visits = kiosk_visits(presentations, args.config, still_seconds=policy.timeout_ms / 1000 + 2,
                              progress=lambda p: print(f"  kiosk: {p.dataset}/{p.path}", file=sys.stderr, flush=True))
    traces = {Path(o.presentation.path).stem: (o.presentation.attack or "live",
                                               [(point.seconds, point.texture) for point in o.trace])
              for o in outcomes if o.presentation.is_video}
    figure = write_texture_traces_png(args.plot, traces, policy.texture_threshold,
                                      "texture cue (MiniFASNet) on the liveness development videos")
    data, text = liveness_report(outcomes, passive, visits)
    if args.challenge:
        attacks = [(root, p) for root in roots for p in read_labels(root)
                   if p.is_video and p.attack in ("print", "video replay")]
        trials = challenge_trials(roots, attacks, load_landmarker_manifest(), texture, policy, policy.timeout_ms / 1000,
                                  progress=lambda what: print(f"  challenge: {what}", file=sys.stderr, flush=True))
        data["challenge"], challenge_lines = challenge_report(trials)
        text += "\n" + "\n".join(challenge_lines)
    if args.cutouts:
        data["cutouts"], cutout_lines = _cutouts(roots, args.config, policy.timeout_ms / 1000 + 2)
        text += "\n" + "\n".join(cutout_lines)
    floor = texture_floor(outcomes)
    data |= {"texture_floor": floor, "plot": str(figure)}
    if floor is not None:
        text += (f"\ntexture floor: the refused attack videos reached a texture median of {floor:.3f} while showing a "
                 f"sign of life; an operating point at or below it would accept one of them")
    return data, text + f"\ntexture over time: {figure}"


def _cutouts(roots: list[Path], config: Path, still_seconds: float) -> tuple[dict, list[str]]:
    """Synthetic cut-out prints made from every live video, each played through a kiosk."""
    import tempfile

    from kiosk.evaluation.cutouts import cutout_lines, cutout_presentations
    from kiosk.evaluation.liveness import read_labels
    from kiosk.evaluation.liveness_kiosk import kiosk_visits
    from kiosk.manifest import load_landmarker_manifest

    live = [(root, p) for root in roots for p in read_labels(root) if p.is_video and p.label == "live"]
    with tempfile.TemporaryDirectory(prefix="facegate-cutouts-") as scratch:
        made = cutout_presentations(live, Path(scratch), load_landmarker_manifest(),
                                    progress=lambda p: print(f"  cut-out from: {p.dataset}/{p.path}", file=sys.stderr,
                                                             flush=True))
        visits = kiosk_visits(made, config, still_seconds,
                              progress=lambda p: print(f"  kiosk: {p.path}", file=sys.stderr, flush=True))
    return cutout_lines(visits)


def _demographics(args: argparse.Namespace) -> tuple[dict, str]:
    from dataclasses import asdict

    from kiosk.config import KioskConfig
    from kiosk.evaluation.demographics import CROSS_AT, demographics, groupings, report_lines
    from kiosk.evaluation.plots import write_group_matrix_png
    from kiosk.manifest import EMBEDDER_MANIFEST, load_protector_for

    data = args.data or shared_data_dir()
    embedder = args.embedder or EMBEDDER_MANIFEST
    judge = args.judge or next(name for name in embedder_manifest_names() if name != embedder)
    protector = load_protector_for(load_embedder_manifest(embedder))
    if protector.fused_threshold is None:
        raise FacegateError(f"{protector.id} has no fused-visit threshold: run `python main.py models calibrate` first")
    config = KioskConfig()
    recognition = config.recognition
    report = demographics(embedder, judge, protector, data / "lfw", data / "utkface" / "images",
                          recognition.false_accepts_per_day, recognition.attempts_per_day,
                          config.enrollment.duplicate_fmr, workers=args.workers)
    figure = write_group_matrix_png(args.plot, {f"{rule} ({CROSS_AT})": matrix for rule, matrix in report.cross.items()},
                                    groupings()[2].labels, "false match rate by group, UTKFace adults")
    result = asdict(report) | {"plot": str(figure), "embedder": embedder, "judge": judge}
    result["cross"] = {rule: {"fmr": fmr.tolist(), "pairs": pairs.tolist()} for rule, (fmr, pairs) in report.cross.items()}
    return result, "\n".join(report_lines(report) + [f"group by group: {figure}"])


def _lfw(args: argparse.Namespace) -> tuple[dict, str]:
    from kiosk.evaluation.lfw import LfwPairs, encode_lfw, evaluate
    from kiosk.evaluation.plots import write_roc_png

    pairs = LfwPairs.load(args.data or shared_data_dir() / "lfw")
    if args.pairs_per_fold:
        pairs = pairs.subset(args.pairs_per_fold)
    reports: dict[str, dict] = {}
    texts: list[str] = []
    curves_by_model: dict[str, tuple] = {}
    for name in args.embedder or embedder_manifest_names():
        manifest = load_embedder_manifest(name)
        encoded = encode_lfw(pairs, name, workers=args.workers, use_cache=not args.no_cache)
        report, curves = evaluate(pairs, encoded.comparable(manifest.metric), manifest.threshold.target_fmr)
        curves_by_model |= {f"{manifest.id}: {label}": curve for label, curve in curves.items()}
        reports[name] = report.to_dict() | {"model": manifest.id, "metric": manifest.metric,
                                            "mirror_average": manifest.mirror_average.model_dump()}
        texts.append(_describe(report, manifest.id))
    roc_path = write_roc_png(args.roc, curves_by_model, f"LFW View 2 ({len(pairs.same)} pairs)",
                             {"FAR 1e-3": 1e-3, "FAR 1e-6": 1e-6})
    first = next(iter(reports.values()))
    data = first | {"descriptors": reports, "roc_png": str(roc_path)}
    return data, "\n".join(texts + [f"ROC curves: {roc_path}"])


def _sizes(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: gallery sizes are whole numbers separated by commas") from None


def _identify(args: argparse.Namespace) -> tuple[dict, str]:
    from dataclasses import asdict

    from kiosk.config import DoorConfig, KioskConfig
    from kiosk.evaluation.claims import claim_lines, compare_claims
    from kiosk.evaluation.identify import identify
    from kiosk.evaluation.lfw import encode_images
    from kiosk.manifest import load_protector_for

    root = (args.data or shared_data_dir() / "lfw") / "images"
    if not root.is_dir():
        raise FacegateError(f"{root} not found: LFW lives in ../shared/data/lfw next to the checkout; pass --data")
    names = sorted(f"{person.name}/{photo.name}" for person in root.iterdir() if person.is_dir()
                   for photo in person.glob("*.jpg"))
    recognition = KioskConfig().recognition
    reports, lines = {}, []
    for name in args.embedder or embedder_manifest_names():
        manifest = load_embedder_manifest(name)
        protector = load_protector_for(manifest)
        if protector.fused_threshold is None:
            raise FacegateError(f"{protector.id} has no fused-visit threshold: run `python main.py models calibrate "
                                f"--embedder {name}` first")
        encoded = encode_images(root, names, name, workers=args.workers, label="LFW, every image")
        report = identify(encoded, manifest, protector, (protector.threshold, protector.fused_threshold), recognition)
        reports[name] = _identify_dict(report)
        lines += _identify_lines(report)
        if args.claim_sizes:
            claims = compare_claims(encoded, protector, protector.threshold, recognition, args.claim_sizes,
                                    DoorConfig(name="main").claim_fmr)
            reports[name]["claims"] = asdict(claims)
            lines += claim_lines(claims)
    return {"descriptors": reports}, "\n".join(lines)


def _identify_dict(report) -> dict:
    from dataclasses import asdict

    return asdict(report)


def _identify_lines(report) -> list[str]:
    single, fused, voted = report.single, report.fused, report.voted
    lines = [f"FNIR at the kiosk threshold ({report.embedder}): single {100 * single.fnir:.2f}%, "
             f"fused {100 * fused.fnir:.2f}%; FPIR {100 * single.fpir:.2f}%",
             f"  gallery {report.enrolled} people (first photo each), threshold {report.threshold:.4f} single, "
             f"{report.fused_threshold:.4f} fused (FMR needed {report.target_fmr:.1g} per comparison)",
             f"  {report.gallery_check}",
             f"  single photos: {single.mated} mated, {single.non_mated} non-mated; rank-1 {100 * single.rank1:.2f}%",
             f"  three-photo visits: {fused.mated} mated, {fused.non_mated} non-mated; fused FNIR {100 * fused.fnir:.2f}% "
             f"FPIR {100 * fused.fpir:.2f}% rank-1 {100 * fused.rank1:.2f}%; vote 2 of 3 FNIR {100 * voted.fnir:.2f}% "
             f"FPIR {100 * voted.fpir:.2f}%",
             f"  the same visits fed to the kiosk's Visit as frames: FNIR {100 * report.kiosk.fnir:.2f}% FPIR "
             f"{100 * report.kiosk.fpir:.2f}% ({report.kiosk_frames.photos} photos of mated visits, "
             f"{report.kiosk_frames.hinted} with a quality hint, {report.kiosk_frames.counted_hinted} of them still "
             f"counted at their weight; {report.kiosk_frames.restarts} continuity restarts within one person's visit)"]
    first = next(iter(report.templates.values()))
    lines.append(f"  photos enrolled per person ({first.mated} mated, {first.non_mated} non-mated probes): " + "; ".join(
        f"{name} FNIR {100 * rates.fnir:.2f}% FPIR {100 * rates.fpir:.2f}%" for name, rates in report.templates.items()))
    return lines


def _describe(report, model_id: str) -> str:
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
    lines += [f"  TAR at FMR {fmr:g} (all pairs): {100 * tar:.2f}%" for fmr, tar in report.tar_all_pairs.items()]
    lines.append(f"    ({report.genuine_pairs_all:,} genuine pairs among the images, thresholds from all "
                 f"{report.impostor_pairs_for_threshold:,} impostor pairs)")
    return "\n".join(lines)
