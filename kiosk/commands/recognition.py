"""`embed`, `verify` and `identify`: the recognition core on photos, for people and for scripts."""

import argparse
from pathlib import Path

import numpy as np

from kiosk.commands import add_command
from kiosk.errors import FacegateError, ImageError
from kiosk.imageio import read_image
from kiosk.recognition.matching import descriptor_distance
from kiosk.recognition.pipeline import EncodedFace, FacePipeline
from kiosk.sources import IMAGE_SUFFIXES


def register(subparsers) -> None:
    embed = add_command(subparsers, "embed", "print the face embedding of a photo (largest face)", _embed)
    embed.add_argument("photo", type=Path)
    verify = add_command(subparsers, "verify", "are two photos the same person? (distance and decision)", _verify)
    verify.add_argument("photo_a", type=Path)
    verify.add_argument("photo_b", type=Path)
    identify = add_command(subparsers, "identify", "who in a folder of people is on this photo?", _identify)
    identify.add_argument("photo", type=Path)
    identify.add_argument("--people", type=Path, required=True,
                          help="folder with one subfolder of photos per person (the subfolder name is the person)")
    identify.add_argument("--top", type=int, default=3, help="how many candidates to list")
    for parser in (embed, verify, identify):
        parser.add_argument("--provider", choices=["auto", "cpu", "cuda"], default="auto")


def _encode_photo(pipeline: FacePipeline, path: Path) -> EncodedFace:
    return pipeline.encode_one(read_image(path), str(path))


def _quality_dict(face: EncodedFace) -> dict:
    q = face.quality
    return {"eye_distance_px": round(q.eye_distance_px, 1), "sharpness": round(q.sharpness, 1),
            "brightness": round(q.brightness, 1), "yaw_deg": round(q.yaw_deg, 1), "pitch_deg": round(q.pitch_deg, 1)}


def _embed(args: argparse.Namespace) -> tuple[dict, str]:
    with FacePipeline.from_manifests(provider=args.provider) as pipeline:
        face = _encode_photo(pipeline, args.photo)
        data = {"photo": str(args.photo), "model": pipeline.manifest.id, "provider": pipeline.embedder.provider,
                "quality": _quality_dict(face), "embedding": [round(float(v), 6) for v in face.template]}
    preview = " ".join(f"{v:+.3f}" for v in face.template[:8])
    text = (f"{args.photo}: {len(face.template)}-d embedding ({data['model']}, {data['provider']})\n"
            f"  first values: {preview} ...\n  quality: {data['quality']}")
    return data, text


def _verify(args: argparse.Namespace) -> tuple[dict, str]:
    with FacePipeline.from_manifests(provider=args.provider) as pipeline:
        a, b = (_encode_photo(pipeline, path) for path in (args.photo_a, args.photo_b))
        threshold, metric = pipeline.manifest.threshold, pipeline.manifest.metric
    distance = descriptor_distance(a.template, b.probe, metric)
    same = distance < threshold.value
    data = {"photo_a": str(args.photo_a), "photo_b": str(args.photo_b), "distance": round(distance, 4),
            "threshold": threshold.value, "target_fmr": threshold.target_fmr, "same_person": same}
    verdict = "same person" if same else "different people"
    text = f"{verdict}: distance {distance:.3f} (threshold {threshold.value:.3f} at FMR {threshold.target_fmr:g})"
    return data, text


def _people_photos(folder: Path) -> dict[str, list[Path]]:
    if not folder.is_dir():
        raise FacegateError(f"{folder}: not a folder; expected one subfolder of photos per person")
    people = {
        person.name: sorted(p for p in person.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for person in sorted(folder.iterdir()) if person.is_dir()
    }
    people = {name: photos for name, photos in people.items() if photos}
    if not people:
        raise FacegateError(f"{folder}: no subfolders with photos ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return people


def _identify(args: argparse.Namespace) -> tuple[dict, str]:
    people = _people_photos(args.people)
    skipped: dict[str, str] = {}
    best: dict[str, float] = {}
    with FacePipeline.from_manifests(provider=args.provider) as pipeline:
        probe = _encode_photo(pipeline, args.photo)
        threshold, metric = pipeline.manifest.threshold.value, pipeline.manifest.metric
        for name, photos in people.items():
            for photo in photos:
                try:
                    reference = _encode_photo(pipeline, photo)
                except (ImageError, FacegateError) as exc:
                    skipped[str(photo)] = str(exc)
                    continue
                distance = descriptor_distance(reference.template, probe.probe, metric)
                best[name] = min(distance, best.get(name, np.inf))
    ranked = sorted(best.items(), key=lambda item: item[1])[: args.top]
    match = ranked[0][0] if ranked and ranked[0][1] < threshold else None
    data = {"photo": str(args.photo), "match": match, "threshold": threshold,
            "candidates": [{"person": n, "distance": round(d, 4)} for n, d in ranked], "skipped": skipped}
    lines = [f"{args.photo}: {'is ' + match if match else 'no one in the folder'} (threshold {threshold:.3f})"]
    lines += [f"  {n:<30} {d:.3f}" for n, d in ranked]
    lines += [f"  skipped {path}: {reason}" for path, reason in skipped.items()]
    return data, "\n".join(lines)
