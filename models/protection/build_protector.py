"""`python main.py models train-protector`: shadow attackers, then the protector, alternating, then ONNX.

Round 1: a shadow decoder learns clean template -> face; the protector learns noise that defeats it.
Round 2: a second shadow, fine-tuned on protected templates (an attacker who adapts), and the
protector trains against both. Fixed seeds and fixed step counts: the same data gives the same
network. Writes models/protector/advface_v1.onnx and its training report, and pins its SHA-256.
"""

import copy
import json
import time
from pathlib import Path

import numpy as np
import onnx
import torch

from kiosk.manifest import PROJECT_ROOT, load_embedder_manifest
from models.protection.faces import load_face_sets
from kiosk.paths import cache_dir
from models.protection.nets import AdversarialProtector, FaceDecoder
from models.protection.torch_descriptor import load_torch_descriptor
from models.protection.training import protect_numpy, train_decoder, train_protector
from kiosk.evaluation.metrics import cross_impostor_distances, threshold_at_fmr
from kiosk.checksums import sha256_of

PROTECTOR_DIR = PROJECT_ROOT / "models" / "protector"
SEED = 20261126


def export_onnx(protector: AdversarialProtector, path: Path) -> None:
    dim = protector.net[0].in_features
    torch.onnx.export(protector, (torch.zeros(2, dim), torch.eye(dim)), str(path), input_names=["embeddings", "keyed_matrix"],
                      output_names=["templates"], dynamic_axes={"embeddings": {0: "N"}, "templates": {0: "N"}},
                      opset_version=17, dynamo=False)
    onnx.checker.check_model(str(path), full_check=True)


def calibrate_threshold(protector: AdversarialProtector, evaluation) -> dict:
    """Thresholds for a clean probe against a protected template, from every impostor pair of the
    LFW evaluation images (as the embedder's own calibration does)."""
    dim = evaluation.embeddings.shape[1]
    templates = protect_numpy(protector, evaluation.embeddings, np.eye(dim, dtype=np.float32))
    probes = evaluation.embeddings / np.linalg.norm(evaluation.embeddings, axis=1, keepdims=True)
    impostors = cross_impostor_distances(probes, templates, evaluation.identities)
    points = {fmr: round(threshold_at_fmr(impostors, fmr), 4) for fmr in (1e-3, 1e-4, 1e-5, 1e-6)}
    return {"value": points[1e-3], "target_fmr": 1e-3,
            "calibrated_on": f"LFW View 2 images ({len(probes)}): clean probe vs protected template, all impostor pairs",
            "impostor_pairs": int(len(impostors)), "operating_points": points}


def build(shadow_steps: int, protector_steps: int, budget: float) -> dict:
    torch.set_num_threads(2)
    started = time.monotonic()
    manifest = load_embedder_manifest()
    train, evaluation = load_face_sets()
    descriptor = load_torch_descriptor(manifest)
    report: dict = {"seed": SEED, "training_faces": len(train.faces), "noise_budget": budget,
                    "shadow_steps": shadow_steps, "protector_steps": protector_steps, "rounds": []}
    unit = train.embeddings / np.linalg.norm(train.embeddings, axis=1, keepdims=True)
    checkpoint = cache_dir() / "protection" / f"shadow1_unit_{shadow_steps}_{SEED}.pt"
    if checkpoint.exists():  # a long first stage is not repeated after an interruption later on
        saved = torch.load(checkpoint, weights_only=True)
        shadow, shadow_log = FaceDecoder(train.embeddings.shape[1]), saved["log"]
        shadow.load_state_dict(saved["state"])
        shadow.eval()
    else:
        shadow, shadow_log = train_decoder(unit, train.faces, train.embeddings, descriptor, shadow_steps,
                                           SEED, "shadow 1 (clean templates)")
        torch.save({"state": shadow.state_dict(), "log": shadow_log}, checkpoint)
    protector = AdversarialProtector(train.embeddings.shape[1], budget=budget)
    protector_log = train_protector(protector, [shadow], train.faces, train.embeddings, descriptor,
                                    protector_steps, SEED + 1, "protector, round 1")
    report["rounds"].append({"shadow": shadow_log, "protector": protector_log})
    identity = np.eye(train.embeddings.shape[1], dtype=np.float32)
    protected = protect_numpy(protector, train.embeddings, identity)
    adaptive, adaptive_log = train_decoder(protected, train.faces, train.embeddings, descriptor, shadow_steps // 2,
                                           SEED + 2, "shadow 2 (adapts to protected templates)",
                                           decoder=copy.deepcopy(shadow))
    protector_log = train_protector(protector, [shadow, adaptive], train.faces, train.embeddings, descriptor,
                                    protector_steps, SEED + 3, "protector, round 2")
    report["rounds"].append({"shadow": adaptive_log, "protector": protector_log})
    PROTECTOR_DIR.mkdir(parents=True, exist_ok=True)
    path = PROTECTOR_DIR / "advface_v1.onnx"
    export_onnx(protector.eval(), path)
    report["sha256"] = sha256_of(path)
    report["threshold"] = calibrate_threshold(protector, evaluation)
    report["minutes"] = round((time.monotonic() - started) / 60, 1)
    report["machine"] = "2-core CPU, PyTorch " + torch.__version__
    (PROTECTOR_DIR / "advface_v1.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
