"""The networks: a feature-to-face decoder (the attacker, and the protector's shadow) and the protector."""

import torch
from torch import nn


class FaceDecoder(nn.Module):
    """128-d template -> 64x64 RGB face in [0, 1] (NbNet-style upsampling decoder)."""

    def __init__(self, dim: int = 128, width: int = 256):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(dim, width * 4 * 4), nn.LeakyReLU(0.2))
        channels = [width, 192, 128, 64, 32]
        layers = []
        for c_in, c_out in zip(channels, channels[1:]):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, padding=1),
                       nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2), nn.Conv2d(c_out, c_out, 3, padding=1),
                       nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2)]
        self.up = nn.Sequential(*layers)
        self.out = nn.Sequential(nn.Conv2d(channels[-1], 3, 3, padding=1), nn.Sigmoid())
        self.width = width

    def forward(self, templates: torch.Tensor) -> torch.Tensor:
        x = self.fc(templates).view(-1, self.width, 4, 4)
        return self.out(self.up(x))


class AdversarialProtector(nn.Module):
    """u = e/|e| -> normalize(u + delta(u)), with ||delta|| fixed at `budget`: small enough to keep
    matching, chosen by training to mislead reconstruction; then the site's keyed orthogonal matrix.
    Unit length in and out, so a template's norm tells nothing that could link it across sites."""

    def __init__(self, dim: int = 128, hidden: int = 256, budget: float = 0.08):
        super().__init__()
        self.budget = budget
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, dim))

    def noise(self, embeddings: torch.Tensor) -> torch.Tensor:
        delta = self.net(embeddings)
        return self.budget * delta / (delta.norm(dim=1, keepdim=True) + 1e-6)

    def forward(self, embeddings: torch.Tensor, keyed_matrix: torch.Tensor) -> torch.Tensor:
        unit = embeddings / embeddings.norm(dim=1, keepdim=True)
        moved = unit + self.noise(unit)
        return (moved / moved.norm(dim=1, keepdim=True)) @ keyed_matrix.T
