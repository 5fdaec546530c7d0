"""Convert MiniFASNet anti-spoofing parameters (a PyTorch state dict) into an ONNX graph.

The network is read off the state dict's key names and shapes (MiniFASNet after MobileFaceNet):
a stem, three stride-2 depthwise transitions, residual stages of depthwise blocks (the last block
of a stage optionally with squeeze-and-excitation), a 5x5 depthwise head, and a linear classifier
with three classes. The auxiliary Fourier branch serves training only and is not part of it.
The graph takes [N,3,80,80] float32 BGR pixels in 0..255 and returns class probabilities.
"""

import re
from pathlib import Path

import numpy as np
import onnx

from models.onnx_graph import GraphBuilder

BN_EPSILON = 1e-5  # PyTorch's BatchNorm default
TRANSITIONS = ("conv_23", "conv_34", "conv_45")
STAGES = ("conv_3", "conv_4", "conv_5")


def load_state_dict(path: Path) -> dict[str, np.ndarray]:
    """Tensors only, through PyTorch's safe loader: a pickle that asks for code is refused."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    return {re.sub(r"^module\.", "", key): value.numpy() for key, value in state.items()
            if not key.endswith("num_batches_tracked") and "FTGenerator" not in key}


class _MiniFASNetBuilder(GraphBuilder):
    def batch_norm(self, x: str, prefix: str) -> str:
        w = self.weights
        return self.op("BatchNormalization",
                       [x] + [self.constant(f"{prefix}.{part}", w[f"{prefix}.{part}"].astype(np.float32))
                              for part in ("weight", "bias", "running_mean", "running_var")],
                       prefix.replace(".", "_") + "_bn", epsilon=BN_EPSILON)

    def conv(self, x: str, prefix: str, stride: int, activation: bool) -> str:
        """Conv (no bias) + batch norm (+ PReLU): depthwise when the weight has one input channel."""
        weight = self.weights[f"{prefix}.conv.weight"]
        out_channels, in_per_group, kernel, _ = weight.shape
        groups = out_channels if in_per_group == 1 and out_channels > 1 else 1
        pad = kernel // 2 if kernel == 3 else 0
        out = self.op("Conv", [x, self.constant(f"{prefix}.conv", weight.astype(np.float32))],
                      prefix.replace(".", "_"), kernel_shape=[kernel, kernel], strides=[stride, stride],
                      pads=[pad] * 4, group=groups)
        out = self.batch_norm(out, f"{prefix}.bn")
        if not activation:
            return out
        return self.prelu(out, f"{prefix}.prelu")

    def prelu(self, x: str, prefix: str) -> str:
        """PReLU as max(x, a*x), exact for every slope a <= 1 (checked): ONNX Runtime's CPU PRelu
        with a per-channel slope took half of the network's time; Mul and Max keep its fast layout."""
        slope = self.weights[f"{prefix}.weight"].astype(np.float32)
        if slope.max() > 1:
            raise ValueError(f"{prefix}: a PReLU slope above 1 ({slope.max():.3f}) needs the PRelu operator")
        scaled = self.op("Mul", [x, self.constant(prefix, slope.reshape(-1, 1, 1))], "prelu_scaled")
        return self.op("Max", [x, scaled], "prelu")

    def squeeze_excite(self, x: str, prefix: str) -> str:
        gate = self.op("GlobalAveragePool", [x], "se_pool")
        for index, activation in ((1, "Relu"), (2, "Sigmoid")):
            weight = self.weights[f"{prefix}.fc{index}.weight"].astype(np.float32)
            gate = self.op("Conv", [gate, self.constant(f"{prefix}.fc{index}", weight)], "se_fc", kernel_shape=[1, 1])
            gate = self.op(activation, [self.batch_norm(gate, f"{prefix}.bn{index}")], activation.lower())
        return self.op("Mul", [x, gate], "se_scale")

    def depthwise_block(self, x: str, prefix: str, stride: int, residual: bool) -> str:
        out = self.conv(x, f"{prefix}.conv", 1, activation=True)
        out = self.conv(out, f"{prefix}.conv_dw", stride, activation=True)
        out = self.conv(out, f"{prefix}.project", 1, activation=False)
        if not residual:
            return out
        if f"{prefix}.se_module.fc1.weight" in self.weights:
            out = self.squeeze_excite(out, f"{prefix}.se_module")
        return self.op("Add", [x, out], "residual")

    def stage(self, x: str, stage: str) -> str:
        blocks = sorted({int(m.group(1)) for key in self.weights if (m := re.match(rf"{stage}\.model\.(\d+)\.", key))})
        for index in blocks:
            x = self.depthwise_block(x, f"{stage}.model.{index}", 1, residual=True)
        return x


def build_minifasnet(weights: dict[str, np.ndarray], input_size: int = 80) -> onnx.ModelProto:
    """Input `crops` [N,3,S,S] (BGR, 0..255), output `probabilities` [N,3] (class 1 = live)."""
    g = _MiniFASNetBuilder(weights)
    x = g.conv("crops", "conv1", 2, activation=True)
    x = g.conv(x, "conv2_dw", 1, activation=True)
    for transition, stage in zip(TRANSITIONS, STAGES):
        x = g.depthwise_block(x, transition, 2, residual=False)
        x = g.stage(x, stage)
    x = g.conv(x, "conv_6_sep", 1, activation=True)
    x = g.conv(x, "conv_6_dw", 1, activation=False)
    x = g.op("Flatten", [x], "flatten", axis=1)
    x = g.op("MatMul", [x, g.constant("linear", weights["linear.weight"].T.astype(np.float32))], "linear")
    x = g.batch_norm(x, "bn")
    x = g.op("MatMul", [x, g.constant("prob", weights["prob.weight"].T.astype(np.float32))], "logits")
    g.nodes.append(onnx.helper.make_node("Softmax", [x], ["probabilities"], axis=1))
    classes = weights["prob.weight"].shape[0]
    return g.model("minifasnet", [("crops", ["N", 3, input_size, input_size])], [("probabilities", ["N", classes])])
