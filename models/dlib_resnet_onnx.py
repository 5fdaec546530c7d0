"""Convert the dlib ResNet-29 face descriptor (as tfjs weights) into an ONNX graph.

The network follows face-api's `faceRecognitionNet` (dlib's metric net): every conv is followed by
a per-channel scale layer, which folds exactly into the conv's weights and bias. The graph takes a
normalised NCHW float32 batch; preprocessing (mean, scale) is the embedder's job, read from the
model manifest, so the same engine code serves any descriptor.
"""

import numpy as np
import onnx
from onnx import helper

from models.onnx_graph import GraphBuilder

# (block name, kind) in forward order; kinds: residual keeps shape, down halves it.
_BLOCKS = [
    ("conv32_1", "residual"), ("conv32_2", "residual"), ("conv32_3", "residual"),
    ("conv64_down", "down"), ("conv64_1", "residual"), ("conv64_2", "residual"), ("conv64_3", "residual"),
    ("conv128_down", "down"), ("conv128_1", "residual"), ("conv128_2", "residual"),
    ("conv256_down", "down"), ("conv256_1", "residual"), ("conv256_2", "residual"),
    ("conv256_down_out", "down"),
]


def _conv_out(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


class _DlibGraphBuilder(GraphBuilder):
    """The descriptor's layers, on top of the generic builder."""

    def conv_scale(self, x: str, prefix: str, stride: int, pad: int, relu: bool) -> str:
        """conv + bias, then the folded per-channel scale layer, then an optional ReLU."""
        filters = self.weights[f"{prefix}/conv/filters"]  # [kh, kw, cin, cout]
        bias = self.weights[f"{prefix}/conv/bias"]
        scale = self.weights[f"{prefix}/scale/weights"]
        shift = self.weights[f"{prefix}/scale/biases"]
        kernel = filters.shape[0]
        folded_w = np.transpose(filters, (3, 2, 0, 1)) * scale[:, None, None, None]
        folded_b = bias * scale + shift
        out = self.op(
            "Conv",
            [x, self.constant(f"{prefix}/W", folded_w.astype(np.float32)),
             self.constant(f"{prefix}/B", folded_b.astype(np.float32))],
            prefix.replace("/", "_"),
            kernel_shape=[kernel, kernel], strides=[stride, stride], pads=[pad] * 4,
        )
        return self.op("Relu", [out], "relu") if relu else out

    def residual(self, x: str, prefix: str) -> str:
        out = self.conv_scale(x, f"{prefix}/conv1", 1, 1, relu=True)
        out = self.conv_scale(out, f"{prefix}/conv2", 1, 1, relu=False)
        return self.op("Relu", [self.op("Add", [out, x], "add")], "relu")

    def residual_down(self, x: str, prefix: str, size: int, channels_in: int) -> tuple[str, int]:
        """Main path: stride-2 valid conv; skip: 2x2 average pool, zero-padded in channels."""
        main = self.conv_scale(x, f"{prefix}/conv1", 2, 0, relu=True)
        main = self.conv_scale(main, f"{prefix}/conv2", 1, 1, relu=False)
        main_size = _conv_out(size, 3, 2, 0)
        pooled = self.op("AveragePool", [x], "pool", kernel_shape=[2, 2], strides=[2, 2])
        pooled_size = _conv_out(size, 2, 2, 0)
        if main_size != pooled_size:
            grow = pooled_size - main_size
            pads = self.constant("pad_hw", np.array([0, 0, 0, 0, 0, 0, grow, grow], dtype=np.int64))
            main = self.op("Pad", [main, pads], "pad")
        channels_out = self.weights[f"{prefix}/conv2/conv/filters"].shape[3]
        if channels_out != channels_in:
            extra = channels_out - channels_in
            pads = self.constant("pad_c", np.array([0, 0, 0, 0, 0, extra, 0, 0], dtype=np.int64))
            pooled = self.op("Pad", [pooled, pads], "pad")
        return self.op("Relu", [self.op("Add", [main, pooled], "add")], "relu"), pooled_size


def build_dlib_resnet(weights: dict[str, np.ndarray], input_size: int) -> onnx.ModelProto:
    """Build the descriptor graph: input `chips` [N,3,S,S] float32, output `descriptors` [N,128]."""
    g = _DlibGraphBuilder(weights)
    x = g.conv_scale("chips", "conv32_down", 2, 0, relu=True)
    size = _conv_out(input_size, 7, 2, 0)
    x = g.op("MaxPool", [x], "maxpool", kernel_shape=[3, 3], strides=[2, 2])
    size = _conv_out(size, 3, 2, 0)
    channels = weights["conv32_down/conv/filters"].shape[3]
    for prefix, kind in _BLOCKS:
        if kind == "residual":
            x = g.residual(x, prefix)
        else:
            x, size = g.residual_down(x, prefix, size, channels)
            channels = weights[f"{prefix}/conv2/conv/filters"].shape[3]
    pooled = g.op("GlobalAveragePool", [x], "gap")
    flat = g.op("Flatten", [pooled], "flatten", axis=1)
    fc = weights["fc"]
    g.nodes.append(helper.make_node("MatMul", [flat, g.constant("fc", fc.astype(np.float32))], ["descriptors"]))
    return g.model("dlib_resnet29_face_descriptor", [("chips", ["N", 3, input_size, input_size])],
                   [("descriptors", ["N", fc.shape[1]])])
