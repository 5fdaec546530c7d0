"""A small helper for writing ONNX graphs by hand from named weight arrays."""

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


@dataclass
class GraphBuilder:
    """Accumulates nodes and initialisers; every tensor gets a unique, readable name."""

    weights: dict[str, np.ndarray]
    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    counter: int = 0

    def name(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}_{self.counter}"

    def constant(self, stem: str, value: np.ndarray) -> str:
        tensor_name = self.name(stem)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), tensor_name))
        return tensor_name

    def op(self, op_type: str, inputs: list[str], stem: str, **attrs) -> str:
        output = self.name(stem)
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=output, **attrs))
        return output

    def model(self, graph_name: str, inputs: list[tuple[str, list]], outputs: list[tuple[str, list]]) -> onnx.ModelProto:
        """The checked float32 model with these (name, shape) inputs and outputs."""
        graph = helper.make_graph(
            self.nodes, graph_name,
            [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name, shape in inputs],
            [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name, shape in outputs],
            self.initializers,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="facegate", producer_version="1")
        model.ir_version = 8
        onnx.checker.check_model(model, full_check=True)
        return model
