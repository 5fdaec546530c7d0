"""SFace (OpenCV Zoo, 2021dec "int8bq") as a plain float ONNX graph that ONNX Runtime runs fast.

The shipped file stores int8 weights behind block-wise DequantizeLinear nodes (opset 21) that run
on every call, and lists every weight again as a graph input (ONNX Runtime refuses to run it
without them fed). The conversion, exact up to float rounding:
1. evaluate each constant DequantizeLinear (+ Reshape) and Constant node once, here, into float32
   initialisers;
2. drop the graph inputs that are weights, Dropout (inference: identity); make the batch size
   symbolic (the shipped graph fixes it at 1);
3. rewrite PReLU(z, a) as z + (1 - a) * Relu(-z), both products as per-channel 1x1 depthwise
   convolutions. ONNX Runtime's PRelu kernel took most of the time (47 of 64 ms per face in the
   quantised graph); the convolutions stay in its blocked NCHWc layout and fuse with Relu and Add,
   so the graph runs in 22 ms instead of 37 on one core, output unchanged (cosine 1.0).
"""

import numpy as np
import onnx
from onnx import helper, numpy_helper

OPSET = 17


def _dequantize_blockwise(quantized: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, axis: int,
                          block_size: int) -> np.ndarray:
    """DequantizeLinear-21 with block_size: each scale and zero point covers `block_size` values along `axis`."""
    def spread(per_block: np.ndarray) -> np.ndarray:
        repeated = np.repeat(per_block, block_size, axis=axis)
        return np.take(repeated, np.arange(quantized.shape[axis]), axis=axis)
    return ((quantized.astype(np.float32) - spread(zero_point).astype(np.float32)) * spread(scale)).astype(np.float32)


def _constant_folded(graph: onnx.GraphProto) -> tuple[list[onnx.NodeProto], dict[str, np.ndarray]]:
    """The nodes left after evaluating constant DequantizeLinear and Reshape nodes, and every constant."""
    constants = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    kept = []
    for node in graph.node:
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Constant":
            constants[node.output[0]] = numpy_helper.to_array(attributes["value"])
        elif node.op_type == "DequantizeLinear" and all(name in constants for name in node.input):
            quantized, scale, zero_point = (constants[name] for name in node.input)
            if "block_size" in attributes:
                value = _dequantize_blockwise(quantized, scale, zero_point, attributes.get("axis", 1),
                                              attributes["block_size"])
            else:
                value = ((quantized.astype(np.float32) - zero_point.astype(np.float32)) * scale).astype(np.float32)
            constants[node.output[0]] = value
        elif node.op_type == "Reshape" and all(name in constants for name in node.input):
            constants[node.output[0]] = constants[node.input[0]].reshape(constants[node.input[1]])
        else:
            kept.append(node)
    return kept, constants


def _prelu_as_convolutions(node: onnx.NodeProto, constants: dict[str, np.ndarray]) -> list[onnx.NodeProto]:
    """PReLU(z, a) = z + (1 - a) * Relu(-z), exact for any slope (a > 1 and a < 0 included)."""
    z, slope_name = node.input
    y = node.output[0]
    slope = constants[slope_name].reshape(-1).astype(np.float32)
    channels = slope.size
    negate, keep_share = f"{slope_name}_negate", f"{slope_name}_one_minus"
    constants[negate] = -np.ones((channels, 1, 1, 1), np.float32)
    constants[keep_share] = (1.0 - slope).reshape(channels, 1, 1, 1)
    per_channel = {"group": channels, "kernel_shape": [1, 1]}
    return [helper.make_node("Conv", [z, negate], [f"{y}_negated"], name=f"{y}_negated", **per_channel),
            helper.make_node("Relu", [f"{y}_negated"], [f"{y}_negative_part"], name=f"{y}_negative_part"),
            helper.make_node("Conv", [f"{y}_negative_part", keep_share], [f"{y}_scaled"], name=f"{y}_scaled",
                             **per_channel),
            helper.make_node("Add", [z, f"{y}_scaled"], [y], name=y)]


def convert_sface(shipped: bytes) -> onnx.ModelProto:
    """The shipped int8bq model -> the checked float32 graph described above."""
    source = onnx.load_from_string(shipped)
    nodes, constants = _constant_folded(source.graph)
    rewritten = []
    for node in nodes:
        if node.op_type == "PRelu" and node.input[1] in constants:
            rewritten += _prelu_as_convolutions(node, constants)
        elif node.op_type == "Dropout":
            rewritten.append(helper.make_node("Identity", [node.input[0]], [node.output[0]], name=node.output[0]))
        else:
            rewritten.append(node)
    used = {name for node in rewritten for name in node.input}
    initializers = [numpy_helper.from_array(np.ascontiguousarray(value), name)
                    for name, value in constants.items() if name in used]
    inputs = [value for value in source.graph.input if value.name not in constants and value.name in used]
    for value in [*inputs, *source.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    graph = helper.make_graph(rewritten, "sface", inputs, list(source.graph.output), initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="facegate", producer_version="1")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def loadable_as_shipped(shipped: bytes) -> bytes:
    """The shipped file with only its weight-shadowing graph inputs removed, nothing else changed:
    what OpenCV's own cv2.FaceRecognizerSF needs to load it, as the independent reference."""
    model = onnx.load_from_string(shipped)
    constants = {tensor.name for tensor in model.graph.initializer}
    used = {name for node in model.graph.node for name in node.input}
    inputs = [value for value in model.graph.input if value.name not in constants and value.name in used]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    return model.SerializeToString()
