"""A converted descriptor graph run by PyTorch, so that attackers and the protector get gradients.

ONNX Runtime gives no gradients. The descriptors' float graphs use a handful of operators (SFace:
Conv, BatchNormalization, Relu, Add, Sub, Mul, Flatten, Gemm, Identity; dlib: also Pad, MaxPool,
AveragePool, GlobalAveragePool, MatMul), so the graph is read node
by node and evaluated with the matching torch functions: the very file the kiosk runs, not a
re-implementation that could drift from it. An operator outside that set is refused by name.

Two exact fusions and the channels-last layout make training affordable on the CPU (SFace forward
and backward at batch 32: 2.7 s read as written, 2.0 s fused): a BatchNormalization right after a
convolution is folded into its weights, and SFace's PReLU, written for ONNX Runtime as
z + (1 - a) * Relu(-z) with two per-channel 1x1 convolutions, is read back as one PReLU.
"""

from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper
from torch import nn

from kiosk.errors import ModelError
from kiosk.manifest import EmbedderManifest
from kiosk.recognition.matching import comparable


def _conv(inputs: list[torch.Tensor], attributes: dict) -> torch.Tensor:
    x, weight = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    channels = x.shape[1]
    if weight.shape[1:] == (1, 1, 1) and attributes.get("group", 1) == channels == weight.shape[0]:
        # a per-channel scale written as a 1x1 depthwise convolution: the same product, far cheaper in torch
        scaled = x * weight.view(1, channels, 1, 1)
        return scaled + bias.view(1, channels, 1, 1) if bias is not None else scaled
    pads = attributes.get("pads", [0, 0, 0, 0])
    if pads[0] != pads[2] or pads[1] != pads[3]:
        x = F.pad(x, (pads[1], pads[3], pads[0], pads[2]))
        pads = [0, 0, 0, 0]
    return F.conv2d(x, weight, bias, stride=attributes.get("strides", [1, 1]), padding=(pads[0], pads[1]),
                    dilation=attributes.get("dilations", [1, 1]), groups=attributes.get("group", 1))


def _gemm(inputs: list[torch.Tensor], attributes: dict) -> torch.Tensor:
    a, b = inputs[0], inputs[1]
    a = a.T if attributes.get("transA", 0) else a
    b = b.T if attributes.get("transB", 0) else b
    out = attributes.get("alpha", 1.0) * (a @ b)
    return out + attributes.get("beta", 1.0) * inputs[2] if len(inputs) > 2 else out


def _pad(inputs: list[torch.Tensor], attributes: dict) -> torch.Tensor:
    """ONNX Pad (constant mode): pads are all the begins, then all the ends, outermost axis first."""
    x, pads = inputs[0], [int(v) for v in inputs[1].tolist()]
    rank = x.dim()
    value = float(inputs[2]) if len(inputs) > 2 else 0.0
    torch_pads = []
    for axis in reversed(range(rank)):  # torch wants (last begin, last end, previous begin, ...)
        torch_pads += [pads[axis], pads[axis + rank]]
    return F.pad(x, torch_pads, value=value)


def _pool(pool):
    def run(inputs: list[torch.Tensor], attributes: dict) -> torch.Tensor:
        pads = attributes.get("pads", [0, 0, 0, 0])
        if any(pads):
            raise ModelError("pooling with padding is not read (the descriptors' graphs have none)")
        return pool(inputs[0], attributes["kernel_shape"], attributes.get("strides", attributes["kernel_shape"]))
    return run


Node = tuple[str, list[str], str, dict]


def _fold_batch_norms(nodes: list[Node], constants: dict[str, np.ndarray]) -> list[Node]:
    """Conv -> BatchNormalization (the conv's only consumer, constant statistics) becomes one Conv."""
    consumers: dict[str, int] = {}
    for _, inputs, _, _ in nodes:
        for name in inputs:
            consumers[name] = consumers.get(name, 0) + 1
    producer = {output: index for index, (_, _, output, _) in enumerate(nodes)}
    folded, dropped = list(nodes), set()
    for index, (op_type, inputs, output, attributes) in enumerate(nodes):
        source = producer.get(inputs[0]) if op_type == "BatchNormalization" else None
        if source is None or nodes[source][0] != "Conv" or consumers.get(inputs[0]) != 1:
            continue
        _, conv_inputs, _, conv_attributes = nodes[source]
        if not all(name in constants for name in (*conv_inputs[1:], *inputs[1:])):
            continue
        gamma, beta, mean, variance = (constants[name] for name in inputs[1:5])
        factor = gamma / np.sqrt(variance + attributes.get("epsilon", 1e-5))
        weight = constants[conv_inputs[1]] * factor[:, None, None, None]
        bias = constants[conv_inputs[2]] if len(conv_inputs) > 2 else np.zeros_like(mean)
        constants[f"{output}_folded_weight"] = weight.astype(np.float32)
        constants[f"{output}_folded_bias"] = ((bias - mean) * factor + beta).astype(np.float32)
        folded[source] = ("Conv", [conv_inputs[0], f"{output}_folded_weight", f"{output}_folded_bias"], output,
                          conv_attributes)
        dropped.add(index)
    return [node for index, node in enumerate(folded) if index not in dropped]


def _per_channel(node: Node, constants: dict[str, np.ndarray]) -> np.ndarray | None:
    """The scales of a bias-free 1x1 depthwise convolution, or None if the node is not one."""
    op_type, inputs, _, attributes = node
    if op_type != "Conv" or len(inputs) != 2 or inputs[1] not in constants:
        return None
    weight = constants[inputs[1]]
    if weight.shape[1:] != (1, 1, 1) or attributes.get("group", 1) != weight.shape[0]:
        return None
    return weight.reshape(-1)


def _fuse_prelus(nodes: list[Node], constants: dict[str, np.ndarray]) -> list[Node]:
    """z + Conv1x1dw(Relu(Conv1x1dw(z, -1)), 1 - a) is PReLU(z, a): read it as one prelu."""
    by_output = {output: node for node in nodes for output in [node[2]]}
    fused, replaced = [], set()
    for op_type, inputs, output, attributes in nodes:
        if op_type == "Add" and len(inputs) == 2:
            z, scaled = inputs
            keep_share = _per_channel(by_output.get(scaled, ("", [], "", {})), constants)
            relu = by_output.get(by_output[scaled][1][0]) if keep_share is not None else None
            is_relu = relu is not None and relu[0] == "Relu"
            negate = _per_channel(by_output.get(relu[1][0], ("", [], "", {})), constants) if is_relu else None
            if negate is not None and np.all(negate == -1.0) and by_output[relu[1][0]][1][0] == z:
                constants[f"{output}_slope"] = (1.0 - keep_share).astype(np.float32)
                fused.append(("PRelu", [z, f"{output}_slope"], output, {}))
                replaced |= {scaled, relu[2], relu[1][0]}
                continue
        fused.append((op_type, inputs, output, attributes))
    return [node for node in fused if node[2] not in replaced]


OPERATORS = {
    "Conv": _conv,
    "BatchNormalization": lambda i, a: F.batch_norm(i[0], i[3], i[4], i[1], i[2], False, 0.0, a.get("epsilon", 1e-5)),
    "Relu": lambda i, a: F.relu(i[0]),
    "Add": lambda i, a: i[0] + i[1],
    "Sub": lambda i, a: i[0] - i[1],
    "Mul": lambda i, a: i[0] * i[1],
    "Identity": lambda i, a: i[0],
    # z * (1 where z >= 0, else a): exact, and its backward is cheaper than torch's prelu kernel's
    "PRelu": lambda i, a: i[0] * torch.where(i[0] >= 0, 1.0, i[1].reshape(1, -1, 1, 1)),
    "Flatten": lambda i, a: torch.flatten(i[0], start_dim=a.get("axis", 1)),
    "Gemm": _gemm,
    "MatMul": lambda i, a: i[0] @ i[1],
    "Pad": _pad,
    "MaxPool": _pool(F.max_pool2d),
    "AveragePool": _pool(F.avg_pool2d),
    "GlobalAveragePool": lambda i, a: i[0].mean(dim=(2, 3), keepdim=True),
}


class TorchOnnxDescriptor(nn.Module):
    """Input: RGB float images in [0, 1], (N, 3, H, W), any size (resized to the chip size);
    output: (N, D) descriptors as their metric compares them (unit length for cosine)."""

    def __init__(self, model: onnx.ModelProto, manifest: EmbedderManifest):
        super().__init__()
        unknown = sorted({node.op_type for node in model.graph.node} - set(OPERATORS))
        if unknown:
            raise ModelError(f"{manifest.id}: its graph uses {', '.join(unknown)}, which the PyTorch reader lacks")
        self.manifest = manifest
        constants = {tensor.name: numpy_helper.to_array(tensor).copy() for tensor in model.graph.initializer}
        nodes: list[Node] = [(node.op_type, list(node.input), node.output[0],
                              {a.name: helper.get_attribute_value(a) for a in node.attribute}) for node in model.graph.node]
        self.nodes = _fuse_prelus(_fold_batch_norms(nodes, constants), constants)
        used = {name for _, inputs, _, _ in self.nodes for name in inputs if name in constants}
        self.constant_names = {name: f"constant_{index}" for index, name in enumerate(sorted(used))}
        for name, buffer in self.constant_names.items():
            self.register_buffer(buffer, torch.from_numpy(constants[name]))
        spec = manifest.input
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.scale = spec.scale
        self.input_name, self.output_name = spec.name, manifest.output_name

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        spec = self.manifest.input
        if images.shape[-1] != spec.size:
            images = F.interpolate(images, size=(spec.size, spec.size), mode="bilinear", align_corners=False)
        if spec.pixel_format == "BGR":
            images = images.flip(1)
        values = {self.input_name: (images * 255.0 - self.mean) * self.scale}
        for op_type, inputs, output, attributes in self.nodes:
            arguments = [values[name] if name in values else getattr(self, self.constant_names[name]) for name in inputs]
            values[output] = OPERATORS[op_type](arguments, attributes)
        descriptors = values[self.output_name]
        if self.manifest.metric == "cosine":
            return descriptors / descriptors.norm(dim=1, keepdim=True)
        return descriptors


def load_torch_onnx_descriptor(manifest: EmbedderManifest, path: Path | None = None) -> TorchOnnxDescriptor:
    """The descriptor's converted float graph from the model cache (built and pinned by `models build`)."""
    from kiosk.checksums import verify_sha256

    path = path or manifest.converted.path
    verify_sha256(path, manifest.converted.sha256, manifest.id)
    return TorchOnnxDescriptor(onnx.load(str(path)), manifest).eval().to(memory_format=torch.channels_last)


def comparable_embeddings(embeddings: np.ndarray, manifest: EmbedderManifest) -> np.ndarray:
    """Clean embeddings in the space the torch descriptor answers in (for the identity loss)."""
    return np.ascontiguousarray(comparable(embeddings, manifest.metric), dtype=np.float32)
