"""`python main.py eval privacy`: accuracy with protected templates, four reconstruction attackers,
unlinkability between sites, renewal, and a picture of what each attacker rebuilds.

Attackers are trained here on the training pool only (never an evaluation identity):
A0 clean -> clean; A1 = A0 on protected templates; A2 trained on templates it makes with the
shipped protector and its own secret; A2+ trained with the site's secret too.

Two judges say whether a reconstruction gives the person away: the kiosk's own descriptor (which
the attackers trained against, through its identity loss) and another descriptor they never saw,
with its own clean enrollment of the victim. A reconstruction that fools only the model it was
trained on reveals less than one that another system (or a person) would recognise.
"""

import hashlib
import secrets as random_secrets
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from kiosk.evaluation.lfw import LfwPairs
from kiosk.evaluation.metrics import roc_summary, ten_fold_accuracy
from kiosk.manifest import embedder_manifest_names, load_embedder_manifest
from kiosk.paths import cache_dir, shared_data_dir
from kiosk.private_files import save_private_image
from kiosk.protection import AdversarialProtector
from kiosk.recognition.embedder import OnnxEmbedder
from kiosk.recognition.matching import comparable, pairwise_distances
from models.protection.faces import FaceSet, load_face_sets
from models.protection.nets import FaceDecoder
from models.protection.torch_onnx import comparable_embeddings, load_torch_onnx_descriptor
from models.protection.training import decode, train_decoder

ATTACK_SEED = 777


@dataclass(frozen=True)
class AttackResult:
    name: str
    reidentified: float               # by the kiosk's descriptor
    reidentified_second_judge: float  # by the other descriptor, which the attacker never trained against
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
        distances = pairwise_distances(site_a.protect(evaluation.templates[rows]),
                                       site_b.protect(evaluation.templates[rows]))
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
    """Share of reconstructions that, shown to the kiosk as a live probe, match the victim's template."""
    chips = np.stack([cv2.resize(f, (embedder.manifest.input.size,) * 2, interpolation=cv2.INTER_LINEAR) for f in faces])
    probes = to_space(comparable(embedder.embed(chips, "probe", batch_size=64), embedder.manifest.metric))
    return float(np.mean(np.linalg.norm(probes - targets, axis=1) < threshold))


@dataclass(frozen=True)
class SecondJudge:
    """Another descriptor with its own clean enrollment of each victim, and the map from the kiosk
    descriptor's chip to its own (a fixed similarity, the median over real faces)."""

    embedder: OnnxEmbedder
    chip_to_chip: np.ndarray  # 2x3: kiosk chip pixels -> judge chip pixels
    templates: np.ndarray     # (victims, D) comparable clean templates of the victims' enrolled photos
    enrolled_ok: np.ndarray   # (victims,) the judge found the enrolled photo's face

    def reidentified(self, faces: np.ndarray, kiosk_chip_size: int) -> float:
        size = self.embedder.manifest.input.size
        chips = np.stack([cv2.warpAffine(cv2.resize(f, (kiosk_chip_size,) * 2, interpolation=cv2.INTER_LINEAR),
                                         self.chip_to_chip, (size, size), flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_REFLECT_101) for f in faces])
        manifest = self.embedder.manifest
        probes = comparable(self.embedder.embed(chips, "probe", batch_size=64), manifest.metric)
        matched = np.linalg.norm(probes - self.templates, axis=1) < manifest.threshold.value
        return float(np.mean(matched & self.enrolled_ok))


def second_judge(judge_name: str, kiosk_name: str, enrolled_photos: list[str]) -> SecondJudge:
    """The judge descriptor, its chip-to-chip map, and its templates of the victims' enrolled photos."""
    from kiosk.imageio import read_image
    from kiosk.recognition.faces import central_face
    from kiosk.recognition.pipeline import FacePipeline

    lfw_images = shared_data_dir() / "lfw" / "images"
    with FacePipeline.from_manifests(provider="cpu", embedder_name=judge_name) as judge, \
            FacePipeline.from_manifests(provider="cpu", embedder_name=kiosk_name) as kiosk:
        maps, templates, found = [], [], []
        for index, name in enumerate(enrolled_photos):
            rgb = read_image(lfw_images / name)
            face = central_face(judge.detector.detect(rgb), rgb.shape)
            if face is None:
                templates.append(np.zeros(judge.manifest.dim, np.float32))
                found.append(False)
                continue
            templates.append(judge.embedder.embed(judge.align(rgb, face).chip[None], "template")[0])
            found.append(True)
            if index < 300:  # the chip-to-chip map from real landmarks
                kiosk_points = kiosk.layout.points(face.landmarks, kiosk.aligner.point_names)
                to_kiosk = np.vstack([kiosk.aligner.transform(kiosk_points), [0, 0, 1]])
                to_judge = judge.aligner.transform(judge.layout.points(face.landmarks, judge.aligner.point_names))
                maps.append(to_judge @ np.linalg.inv(to_kiosk))
        embedder = judge.embedder
    return SecondJudge(embedder, np.median(np.stack(maps), axis=0),
                       comparable(np.stack(templates), embedder.manifest.metric),
                       np.array(found))


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
    save_private_image(path, cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))  # faces and their reconstructions


def evaluate_privacy(protector_manifest, embedder_name: str, attack_steps: int, victims: int, grid_path) -> dict:
    manifest = load_embedder_manifest(embedder_name)
    judge_name = next(name for name in embedder_manifest_names() if name != embedder_name)
    threshold = manifest.threshold.value                  # clean probe vs clean template
    protected_threshold = protector_manifest.threshold.value  # clean probe vs protected template
    train, evaluation = load_face_sets(embedder_name)
    descriptor = load_torch_onnx_descriptor(manifest)
    targets = comparable_embeddings(train.templates, manifest)  # the attackers' identity loss compares these
    embedder = OnnxEmbedder(manifest, provider="cpu")

    def protector(secret: bytes, version: int = 1) -> AdversarialProtector:
        return AdversarialProtector(protector_manifest, secret, version, provider="cpu")

    # Fixed evaluation secrets: a cached A2+ must hold exactly this site's secret.
    site_secret, attacker_secret = (hashlib.sha256(f"facegate evaluation {who}".encode()).digest()
                                    for who in ("site", "attacker"))
    site = protector(site_secret)
    site_templates = site.protect(evaluation.templates)
    clean_templates = comparable(evaluation.templates, manifest.metric)
    clean_probes = comparable(evaluation.probes, manifest.metric)

    # Accuracy on LFW View 2: clean vs clean, clean probe vs protected template.
    pairs = LfwPairs.load(shared_data_dir() / "lfw")
    index = {str(name): i for i, name in enumerate(evaluation.names)}
    clean_acc, clean_tar = _pairs_accuracy(pairs, index, clean_probes, clean_templates)
    prot_acc, prot_tar = _pairs_accuracy(pairs, index, site.probe_space(evaluation.probes), site_templates)

    # Attackers.
    stolen, enrolled = _victims(evaluation, victims, ATTACK_SEED)
    originals = evaluation.faces[stolen]
    judge = second_judge(judge_name, embedder_name, [str(evaluation.names[i]) for i in enrolled])
    results = []

    def attack(name: str, train_templates: np.ndarray, key: str):
        """Train (or load the cached) attacker; the key names what its training data depended on."""
        cached = cache_dir() / "protection" / f"attacker_{manifest.id}_{name}_{attack_steps}_{key[:24]}.pt"
        if cached.exists():
            saved = torch.load(cached, weights_only=True)
            decoder = FaceDecoder(manifest.dim)
            decoder.load_state_dict(saved["state"])
            return decoder.eval(), float(saved["minutes"])
        decoder, log = train_decoder(train_templates, train.faces, targets, descriptor, attack_steps,
                                     ATTACK_SEED + len(name), f"attacker {name}")
        torch.save({"state": decoder.state_dict(), "minutes": log["minutes"]}, cached)
        return decoder, log["minutes"]

    a0, a0_minutes = attack("A0", comparable(train.templates, manifest.metric), "clean")
    rebuilt = {}
    rebuilt["A0"] = decode(a0, clean_templates[stolen])
    rebuilt["A1"] = decode(a0, site_templates[stolen])
    a2, a2_minutes = attack("A2", protector(attacker_secret).protect(train.templates), protector_manifest.sha256)
    rebuilt["A2"] = decode(a2, site_templates[stolen])
    a2p, a2p_minutes = attack("A2+", site.protect(train.templates),
                              protector_manifest.sha256[:12] + hashlib.sha256(site_secret).hexdigest()[:12])
    rebuilt["A2+"] = decode(a2p, site_templates[stolen])
    minutes = {"A0": a0_minutes, "A1": 0.0, "A2": a2_minutes, "A2+": a2p_minutes}
    for name, faces in rebuilt.items():
        if name == "A0":  # the unprotected kiosk stores clean templates and matches clean probes
            rate = _reidentified(embedder, faces, clean_templates[enrolled], lambda e: e, threshold)
        else:
            rate = _reidentified(embedder, faces, site_templates[enrolled], site.probe_space, protected_threshold)
        ssim, psnr = _image_scores(originals, faces)
        results.append(AttackResult(name, rate, judge.reidentified(faces, manifest.input.size), ssim, psnr,
                                    minutes[name]))
    write_grid(grid_path, originals[:12], {name: faces[:12] for name, faces in rebuilt.items()})

    # Unlinkability: the same people's templates at pairs of sites with different secrets.
    unlinkability, control = _unlinkability(evaluation, protector, pairs_of_sites=5)
    rows = np.arange(min(len(evaluation.identities), 3000))
    clean = pairwise_distances(clean_templates[rows], clean_templates[rows])
    unprotected = _d_sys_of(clean, evaluation.identities[rows], np.random.default_rng(ATTACK_SEED), include_diagonal=False)

    # Renewal: rotate the site's secret; old templates stop matching, renewed ones match as before.
    renewed_site = protector(site_secret, version=2)
    renewed = site.renew(site_templates, renewed_site)
    old_acc, old_tar = _pairs_accuracy(pairs, index, renewed_site.probe_space(evaluation.probes), site_templates)
    new_acc, new_tar = _pairs_accuracy(pairs, index, renewed_site.probe_space(evaluation.probes), renewed)

    return {
        "embedder": manifest.id, "judges": [manifest.id, judge.embedder.manifest.id],
        "accuracy": {"clean_vs_clean": clean_acc, "clean_probe_vs_protected": prot_acc,
                     "tar_far_1e3_clean": clean_tar, "tar_far_1e3_protected": prot_tar},
        "attackers": [r.__dict__ for r in results],
        "victims": int(len(stolen)),
        "unlinkability_d_sys": float(np.mean(unlinkability)), "unlinkability_d_sys_max": float(np.max(unlinkability)),
        "unlinkability_d_sys_per_site_pair": [round(v, 4) for v in unlinkability],
        "unlinkability_control": float(np.mean(control)), "unprotected_d_sys": unprotected,
        "renewal": {"old_templates_accuracy": old_acc, "old_templates_tar": old_tar,
                    "renewed_accuracy": new_acc, "renewed_tar": new_tar},
        "threshold": threshold, "protected_threshold": protected_threshold, "attack_steps": attack_steps,
        "training_faces": len(train.faces), "grid_png": str(grid_path),
    }
