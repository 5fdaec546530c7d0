"""`python main.py eval privacy`: accuracy with protected templates, four reconstruction attackers,
unlinkability between sites, renewal, and a picture of what each attacker rebuilds.

Attackers are trained here on the training pool only (never an evaluation identity):
A0 clean -> clean; A1 = A0 on protected templates; A2 trained on templates it makes with the
shipped protector and its own secret; A2+ trained with the site's secret too.
"""

import hashlib
import secrets as random_secrets
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from kiosk.recognition.embedder import OnnxEmbedder
from kiosk.evaluation.lfw import LfwPairs
from kiosk.evaluation.metrics import roc_summary, ten_fold_accuracy
from kiosk.manifest import load_embedder_manifest
from kiosk.recognition.matching import pairwise_distances
from kiosk.paths import cache_dir, shared_data_dir
from kiosk.protection import AdversarialProtector
from models.protection.faces import FaceSet, load_face_sets
from models.protection.nets import FaceDecoder
from models.protection.torch_descriptor import load_torch_descriptor
from models.protection.training import decode, train_decoder

ATTACK_SEED = 777


@dataclass(frozen=True)
class AttackResult:
    name: str
    reidentified: float
    ssim: float
    psnr: float
    train_minutes: float


def d_sys(mated: np.ndarray, non_mated: np.ndarray, bins: int = 100) -> float:
    """Gomez-Barrero et al.'s system unlinkability D_sys (0 unlinkable, 1 fully linkable), on distances."""
    edges = np.linspace(min(mated.min(), non_mated.min()), max(mated.max(), non_mated.max()), bins + 1)
    p_mated, _ = np.histogram(mated, edges, density=True)
    p_non, _ = np.histogram(non_mated, edges, density=True)
    width = np.diff(edges)
    with np.errstate(divide="ignore", invalid="ignore"):  # empty bins: handled by the np.where calls
        ratio = np.where(p_non > 0, p_mated / p_non, np.where(p_mated > 0, np.inf, 0.0))
        local = np.where(ratio > 1, 2 * ratio / (1 + ratio) - 1, 0.0)
    local = np.where(np.isinf(ratio), 1.0, local)
    return float(np.sum(local * p_mated * width))


def _d_sys_of(distances: np.ndarray, identities: np.ndarray, rng: np.random.Generator,
              include_diagonal: bool = True) -> float:
    """D_sys of one cross-site distance matrix: mated = the same person (same photo on the diagonal,
    other photos off it), non-mated = a random sample of different people."""
    same = identities[:, None] == identities[None, :]
    off_diagonal = ~np.eye(len(identities), dtype=bool)
    mated = distances[same & off_diagonal]
    if include_diagonal:
        mated = np.concatenate([np.diag(distances), mated])
    non_mated = distances[~same]
    return d_sys(mated, non_mated[rng.permutation(len(non_mated))[:200_000]])


def _unlinkability(evaluation: FaceSet, make_protector, pairs_of_sites: int) -> tuple[list[float], list[float]]:
    """D_sys for several pairs of sites (each a fresh secret), and a control: D_sys of non-mated
    against non-mated, which shows how far above zero the estimator reads when nothing is linkable."""
    rows = np.arange(min(len(evaluation.identities), 3000))
    identities = evaluation.identities[rows]
    rng = np.random.default_rng(ATTACK_SEED)
    linkability, control = [], []
    for _ in range(pairs_of_sites):
        site_a, site_b = make_protector(random_secrets.token_bytes(32)), make_protector(random_secrets.token_bytes(32))
        distances = pairwise_distances(site_a.protect(evaluation.embeddings[rows]),
                                       site_b.protect(evaluation.embeddings[rows]))
        linkability.append(_d_sys_of(distances, identities, rng))
        non_mated = distances[identities[:, None] != identities[None, :]]
        shuffled = non_mated[rng.permutation(len(non_mated))]
        control.append(d_sys(shuffled[200_000:209_000], shuffled[:200_000]))
    return linkability, control


def _pairs_accuracy(pairs: LfwPairs, index: dict, probes: np.ndarray, templates: np.ndarray) -> tuple[float, float]:
    """10-fold accuracy and TAR at FAR 1e-3: probe of image a against template of image b."""
    distances = np.full(len(pairs.same), np.nan)
    for k, (a, b) in enumerate(zip(pairs.img_a, pairs.img_b)):
        if a in index and b in index:
            distances[k] = np.linalg.norm(probes[index[a]] - templates[index[b]])
    failed = np.isnan(distances)
    distances[failed & pairs.same] = np.nanmax(distances) + 1
    distances[failed & ~pairs.same] = 0
    folds = ten_fold_accuracy(distances, pairs.same, pairs.fold)
    return folds.mean, roc_summary(distances, pairs.same).tar_at(1e-3)


def _victims(evaluation: FaceSet, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """For `count` evaluation people with two photos or more: the stolen photo and the enrolled one."""
    by_person: dict[str, list[int]] = {}
    for i, person in enumerate(evaluation.identities):
        by_person.setdefault(str(person), []).append(i)
    people = sorted(p for p, rows in by_person.items() if len(rows) >= 2)
    chosen = np.random.default_rng(seed).permutation(len(people))[:count]
    stolen = np.array([by_person[people[i]][0] for i in chosen])
    enrolled = np.array([by_person[people[i]][1] for i in chosen])
    return stolen, enrolled


def _reidentified(embedder: OnnxEmbedder, faces: np.ndarray, targets: np.ndarray, to_space, threshold: float) -> float:
    chips = np.stack([cv2.resize(f, (embedder.manifest.input.size,) * 2, interpolation=cv2.INTER_LINEAR) for f in faces])
    probes = to_space(embedder.embed(chips, batch_size=64))
    return float(np.mean(np.linalg.norm(probes - targets, axis=1) < threshold))


def _image_scores(originals: np.ndarray, rebuilt: np.ndarray) -> tuple[float, float]:
    ssim = [structural_similarity(o, r, channel_axis=2, data_range=255) for o, r in zip(originals, rebuilt)]
    psnr = [peak_signal_noise_ratio(o, r, data_range=255) for o, r in zip(originals, rebuilt)]
    return float(np.mean(ssim)), float(np.mean(psnr))


def write_grid(path, originals: np.ndarray, columns: dict[str, np.ndarray]) -> None:
    """Rows of people: original | one reconstruction per attacker, labelled, upscaled 2x."""
    cell, label_height = 128, 28
    titles = ["original", *columns]
    rows = [originals, *columns.values()]
    canvas = np.full((label_height + cell * len(originals), cell * len(titles), 3), 255, dtype=np.uint8)
    for c, title in enumerate(titles):
        cv2.putText(canvas, title, (c * cell + 8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 1, cv2.LINE_AA)
        for r, face in enumerate(rows[c]):
            big = cv2.resize(face, (cell, cell), interpolation=cv2.INTER_NEAREST)
            canvas[label_height + r * cell: label_height + (r + 1) * cell, c * cell:(c + 1) * cell] = big
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))


def evaluate_privacy(protector_manifest, attack_steps: int, victims: int, grid_path) -> dict:
    manifest = load_embedder_manifest()
    threshold = manifest.threshold.value                  # clean probe vs clean template
    protected_threshold = protector_manifest.threshold.value  # clean probe vs protected template
    train, evaluation = load_face_sets()
    descriptor = load_torch_descriptor(manifest)
    embedder = OnnxEmbedder(manifest, provider="cpu")
    dim = manifest.dim

    def protector(secret: bytes, version: int = 1) -> AdversarialProtector:
        return AdversarialProtector(protector_manifest.path, protector_manifest.sha256, protector_manifest.id,
                                    secret, version, dim, provider="cpu", threshold=protector_manifest.threshold)

    # Fixed evaluation secrets: a cached A2+ must hold exactly this site's secret.
    site_secret, attacker_secret = (hashlib.sha256(f"facegate evaluation {who}".encode()).digest()
                                    for who in ("site", "attacker"))
    site = protector(site_secret)
    site_templates = site.protect(evaluation.embeddings)

    # Accuracy on LFW View 2: clean vs clean, clean probe vs protected template.
    pairs = LfwPairs.load(shared_data_dir() / "lfw")
    index = {str(name): i for i, name in enumerate(evaluation.names)}
    clean_acc, clean_tar = _pairs_accuracy(pairs, index, evaluation.embeddings, evaluation.embeddings)
    prot_acc, prot_tar = _pairs_accuracy(pairs, index, site.probe_space(evaluation.embeddings), site_templates)

    # Attackers.
    stolen, enrolled = _victims(evaluation, victims, ATTACK_SEED)
    originals = evaluation.faces[stolen]
    results = []

    def attack(name: str, train_templates: np.ndarray, key: str):
        """Train (or load the cached) attacker; the key names what its training data depended on."""
        cached = cache_dir() / "protection" / f"attacker_{name}_{attack_steps}_{key[:24]}.pt"
        if cached.exists():
            saved = torch.load(cached, weights_only=True)
            decoder = FaceDecoder(dim)
            decoder.load_state_dict(saved["state"])
            return decoder.eval(), float(saved["minutes"])
        decoder, log = train_decoder(train_templates, train.faces, train.embeddings, descriptor, attack_steps,
                                     ATTACK_SEED + len(name), f"attacker {name}")
        torch.save({"state": decoder.state_dict(), "minutes": log["minutes"]}, cached)
        return decoder, log["minutes"]

    a0, a0_minutes = attack("A0", train.embeddings, "clean")
    rebuilt = {}
    rebuilt["A0"] = decode(a0, evaluation.embeddings[stolen])
    rebuilt["A1"] = decode(a0, site_templates[stolen])
    a2, a2_minutes = attack("A2", protector(attacker_secret).protect(train.embeddings), protector_manifest.sha256)
    rebuilt["A2"] = decode(a2, site_templates[stolen])
    a2p, a2p_minutes = attack("A2+", site.protect(train.embeddings),
                              protector_manifest.sha256[:12] + hashlib.sha256(site_secret).hexdigest()[:12])
    rebuilt["A2+"] = decode(a2p, site_templates[stolen])
    minutes = {"A0": a0_minutes, "A1": 0.0, "A2": a2_minutes, "A2+": a2p_minutes}
    for name, faces in rebuilt.items():
        if name == "A0":  # the unprotected kiosk stores clean templates and matches clean probes
            rate = _reidentified(embedder, faces, evaluation.embeddings[enrolled], lambda e: e, threshold)
        else:
            rate = _reidentified(embedder, faces, site_templates[enrolled], site.probe_space, protected_threshold)
        ssim, psnr = _image_scores(originals, faces)
        results.append(AttackResult(name, rate, ssim, psnr, minutes[name]))
    write_grid(grid_path, originals[:12], {name: faces[:12] for name, faces in rebuilt.items()})

    # Unlinkability: the same people's templates at pairs of sites with different secrets.
    unlinkability, control = _unlinkability(evaluation, protector, pairs_of_sites=5)
    rows = np.arange(min(len(evaluation.identities), 3000))
    clean = pairwise_distances(evaluation.embeddings[rows], evaluation.embeddings[rows])
    unprotected = _d_sys_of(clean, evaluation.identities[rows], np.random.default_rng(ATTACK_SEED), include_diagonal=False)

    # Renewal: rotate the site's secret; old templates stop matching, renewed ones match as before.
    renewed_site = protector(site_secret, version=2)
    renewed = site.renew(site_templates, renewed_site)
    old_acc, old_tar = _pairs_accuracy(pairs, index, renewed_site.probe_space(evaluation.embeddings), site_templates)
    new_acc, new_tar = _pairs_accuracy(pairs, index, renewed_site.probe_space(evaluation.embeddings), renewed)

    return {
        "accuracy": {"clean_vs_clean": clean_acc, "clean_probe_vs_protected": prot_acc,
                     "tar_far_1e3_clean": clean_tar, "tar_far_1e3_protected": prot_tar},
        "attackers": [r.__dict__ for r in results],
        "victims": int(len(stolen)),
        "unlinkability_d_sys": float(np.mean(unlinkability)), "unlinkability_d_sys_max": float(np.max(unlinkability)),
        "unlinkability_d_sys_per_site_pair": [round(v, 4) for v in unlinkability],
        "unlinkability_control": float(np.mean(control)), "unprotected_d_sys": unprotected,
        "renewal": {"old_templates_accuracy": old_acc, "old_templates_tar": old_tar,
                    "renewed_accuracy": new_acc, "renewed_tar": new_tar},
        "threshold": threshold, "protected_threshold": protected_threshold, "attack_steps": attack_steps, "training_faces": len(train.faces),
        "grid_png": str(grid_path),
    }
