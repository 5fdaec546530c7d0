"""`python main.py models train-protector`: shadow attackers, then the protector, alternating, then ONNX.

Round 1: a shadow decoder learns clean template -> face; the protector learns noise that defeats it.
Round 2: a second shadow, fine-tuned on protected templates (an attacker who adapts), and the
protector trains against both. Fixed seeds and fixed step counts: the same data gives the same
network. Writes the protector manifest's ONNX file and its training report; the caller pins it.
"""

import copy
import json
import time
from pathlib import Path

import numpy as np
import onnx
import torch

from kiosk.checksums import sha256_of
from kiosk.manifest import ProtectorManifest, load_embedder_manifest
from kiosk.paths import PROJECT_ROOT, cache_dir
from models.protection.faces import load_face_sets
from models.protection.nets import AdversarialProtector, FaceDecoder
from models.protection.torch_onnx import comparable_embeddings, load_torch_onnx_descriptor
from models.protection.training import protect_numpy, train_decoder, train_protector

SEED = 20261126


def export_onnx(protector: AdversarialProtector, path: Path) -> None:
    dim = protector.net[0].in_features
    torch.onnx.export(protector, (torch.zeros(2, dim), torch.eye(dim)), str(path),
                      input_names=["embeddings", "keyed_matrix"],
                      output_names=["templates"], dynamic_axes={"embeddings": {0: "N"}, "templates": {0: "N"}},
                      opset_version=17, dynamo=False)
    onnx.checker.check_model(str(path), full_check=True)


def build(protector_manifest: ProtectorManifest, embedder_name: str, shadow_steps: int, protector_steps: int,
          budget: float) -> dict:
    """Train against the named descriptor; write the protector manifest's ONNX file and report."""
    torch.set_num_threads(2)
    started = time.monotonic()
    manifest = load_embedder_manifest(embedder_name)
    train, _evaluation = load_face_sets(embedder_name)
    descriptor = load_torch_onnx_descriptor(manifest)
    embeddings = comparable_embeddings(train.templates, manifest)  # what the identity loss compares
    report: dict = {"seed": SEED, "embedder": manifest.id, "training_faces": len(train.faces), "noise_budget": budget,
                    "shadow_steps": shadow_steps, "protector_steps": protector_steps, "rounds": []}
    unit = train.templates / np.linalg.norm(train.templates, axis=1, keepdims=True)
    checkpoint = cache_dir() / "protection" / f"shadow1_{manifest.id}_{shadow_steps}_{SEED}.pt"
    if checkpoint.exists():  # a long first stage is not repeated after an interruption later on
        saved = torch.load(checkpoint, weights_only=True)
        shadow, shadow_log = FaceDecoder(manifest.dim), saved["log"]
        shadow.load_state_dict(saved["state"])
        shadow.eval()
    else:
        shadow, shadow_log = train_decoder(unit, train.faces, embeddings, descriptor, shadow_steps,
                                           SEED, "shadow 1 (clean templates)")
        torch.save({"state": shadow.state_dict(), "log": shadow_log}, checkpoint)
    protector = AdversarialProtector(manifest.dim, budget=budget)
    protector_log = train_protector(protector, [shadow], train.faces, embeddings, descriptor,
                                    protector_steps, SEED + 1, "protector, round 1")
    report["rounds"].append({"shadow": shadow_log, "protector": protector_log})
    identity = np.eye(manifest.dim, dtype=np.float32)
    protected = protect_numpy(protector, train.templates, identity)
    adaptive, adaptive_log = train_decoder(protected, train.faces, embeddings, descriptor, shadow_steps // 2,
                                           SEED + 2, "shadow 2 (adapts to protected templates)",
                                           decoder=copy.deepcopy(shadow))
    protector_log = train_protector(protector, [shadow, adaptive], train.faces, embeddings, descriptor,
                                    protector_steps, SEED + 3, "protector, round 2")
    report["rounds"].append({"shadow": adaptive_log, "protector": protector_log})
    path = protector_manifest.path
    path.parent.mkdir(parents=True, exist_ok=True)
    export_onnx(protector.eval(), path)
    report["sha256"] = sha256_of(path)
    report["minutes"] = round((time.monotonic() - started) / 60, 1)
    report["machine"] = "2-core CPU, PyTorch " + torch.__version__
    (PROJECT_ROOT / protector_manifest.report).write_text(json.dumps(report, indent=2) + "\n")
    return report
