"""Training loops, time-boxed for a 2-core CPU: decoders (attackers and shadows) and the protector."""

import time

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from models.protection.nets import AdversarialProtector, FaceDecoder

IDENTITY_WEIGHT = 0.5


def _faces_tensor(faces: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(faces).permute(0, 3, 1, 2).float() / 255.0


def identity_distance(descriptor, images: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
    return (descriptor(images) - embeddings).norm(dim=1)


def train_decoder(templates: np.ndarray, faces: np.ndarray, embeddings: np.ndarray, descriptor, steps: int,
                  seed: int, label: str, decoder: FaceDecoder | None = None, batch: int = 32) -> tuple[FaceDecoder, dict]:
    """Fit template -> face with an L1 pixel loss plus an identity loss through the descriptor:
    the reconstruction should be the *person* (its embedding near the true one), not only the pixels."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    learning_rate = 2e-3 if decoder is None else 1e-3  # fine-tuning starts gentler
    decoder = decoder or FaceDecoder(templates.shape[1])
    decoder.train()
    for parameter in decoder.parameters():  # a shadow copied from a frozen one must learn again
        parameter.requires_grad_(True)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    x_all, t_all, e_all = _faces_tensor(faces), torch.from_numpy(templates), torch.from_numpy(embeddings)
    started, losses = time.monotonic(), []
    with tqdm(desc=label, unit="step", total=steps) as bar:
        for _ in range(steps):
            index = torch.from_numpy(rng.integers(0, len(templates), batch))
            recon = decoder(t_all[index])
            pixel = F.l1_loss(recon, x_all[index])
            identity = identity_distance(descriptor, recon, e_all[index]).mean()
            loss = pixel + IDENTITY_WEIGHT * identity
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append((float(pixel), float(identity)))
            bar.update(1)
            bar.set_postfix(pixel=f"{pixel.item():.3f}", identity=f"{identity.item():.3f}")
    decoder.eval()
    last = np.mean(losses[-50:], axis=0)
    return decoder, {"steps": steps, "batch": batch, "minutes": round((time.monotonic() - started) / 60, 1),
                     "final_pixel_l1": round(float(last[0]), 4), "final_identity_distance": round(float(last[1]), 4)}


def train_protector(protector: AdversarialProtector, shadows: list[FaceDecoder], faces: np.ndarray,
                    embeddings: np.ndarray, descriptor, steps: int, seed: int, label: str,
                    batch: int = 32, impostor_weight: float = 4.0) -> dict:
    """Maximise the shadows' pixel and identity errors on protected templates, while a protected
    template never moves closer to other people than the clean embedding was (matching holds)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    for shadow in shadows:
        shadow.eval()
        for parameter in shadow.parameters():
            parameter.requires_grad_(False)
    optimizer = torch.optim.Adam(protector.net.parameters(), lr=1e-3)
    x_all, e_all = _faces_tensor(faces), torch.from_numpy(embeddings)
    identity = torch.eye(embeddings.shape[1])
    started, logs = time.monotonic(), []
    with tqdm(desc=label, unit="step", total=steps) as bar:
        for _ in range(steps):
            index = torch.from_numpy(rng.integers(0, len(embeddings), batch))
            e, x = e_all[index], x_all[index]
            protected = protector(e, identity)
            adversarial = 0.0
            for shadow in shadows:
                recon = shadow(protected)
                identity_error = identity_distance(descriptor, recon, e).mean()
                adversarial = adversarial - F.l1_loss(recon, x) - IDENTITY_WEIGHT * identity_error
            adversarial = adversarial / len(shadows)
            unit = e / e.norm(dim=1, keepdim=True)  # templates live on the unit sphere, as probes do
            clean_gap = torch.cdist(unit, unit)
            protected_gap = torch.cdist(protected, unit)
            off_diagonal = ~torch.eye(batch, dtype=torch.bool)
            closer = F.relu(clean_gap - protected_gap)[off_diagonal].mean()
            loss = adversarial + impostor_weight * closer
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            logs.append((float(-adversarial), float(closer)))
            bar.update(1)
            bar.set_postfix(disruption=f"{-adversarial.item():.3f}", closer=f"{closer.item():.4f}")
    last = np.mean(logs[-50:], axis=0)
    return {"steps": steps, "batch": batch, "minutes": round((time.monotonic() - started) / 60, 1),
            "final_shadow_loss": round(float(last[0]), 4),
            "final_impostor_closer": round(float(last[1]), 5)}


def decode(decoder: FaceDecoder, templates: np.ndarray, batch: int = 256) -> np.ndarray:
    """Reconstructions as uint8 RGB (N, 64, 64, 3)."""
    out = []
    with torch.no_grad():
        for start in range(0, len(templates), batch):
            recon = decoder(torch.from_numpy(templates[start:start + batch]))
            out.append((recon.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8))
    return np.concatenate(out)


def protect_numpy(protector: AdversarialProtector, embeddings: np.ndarray, keyed_matrix: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return protector(torch.from_numpy(embeddings), torch.from_numpy(keyed_matrix)).numpy()


