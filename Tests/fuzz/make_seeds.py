"""Writes small valid ONNX models and TensorProtos into the directory given as argv[1], as fuzzing seeds.

Seeds cover what the reader decodes: every attribute kind, typed and raw tensor data of several dtypes, symbolic and
unknown dims, a subgraph attribute, plus the shared models' graph structure with the weights shrunk to a few
elements (so each run is fast but the real node/attribute layout is in the corpus).
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
shared = sys.argv[2] if len(sys.argv) > 2 else None
os.makedirs(out, exist_ok=True)


def save(name, message):
    with open(os.path.join(out, name), "wb") as f:
        f.write(message.SerializeToString())


tensors = [
    numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "f32_raw"),
    helper.make_tensor("f32_typed", TensorProto.FLOAT, [2], [0.5, -1.0]),
    helper.make_tensor("i64_typed", TensorProto.INT64, [3], [1, -1, 2**62]),
    numpy_helper.from_array(np.array([3, -4], dtype=np.int64), "i64_raw"),
    helper.make_tensor("i32_typed", TensorProto.INT32, [2], [-7, 9]),
    helper.make_tensor("f16_typed", TensorProto.FLOAT16, [2], np.array([1.0, -2.5], dtype=np.float16).view(np.uint16).tolist(), raw=False),
    numpy_helper.from_array(np.array([1.5, 2.5], dtype=np.float64), "f64_raw"),
    helper.make_tensor("f64_typed", TensorProto.DOUBLE, [1], [0.25]),
    helper.make_tensor("u64_typed", TensorProto.UINT64, [1], [7]),
    helper.make_tensor("bool_typed", TensorProto.BOOL, [2], [True, False]),
    numpy_helper.from_array(np.array([1, 2], dtype=np.uint8), "u8_raw"),
    helper.make_tensor("empty", TensorProto.FLOAT, [0], []),
]
for index, tensor in enumerate(tensors):
    save(f"tensor_{index}.pb", tensor)

body = helper.make_graph([helper.make_node("Identity", ["a"], ["b"])], "body", [], [])
nodes = [
    helper.make_node("Conv", ["x", "f32_raw"], ["c"], name="conv", kernel_shape=[1, 1], pads=[0, 0, 0, 0], group=1),
    helper.make_node("LeakyRelu", ["c"], ["r"], name="leaky", alpha=0.1),
    helper.make_node("Resize", ["r", "", "f32_typed"], ["u"], name="resize", mode="nearest"),
    helper.make_node("Constant", [], ["k"], name="const", value=tensors[4]),
    helper.make_node("Custom", ["u"], ["y"], name="custom", domain="x.y", fs=[1.0, 2.0], ss=["a", "b"]),
    helper.make_node("If", ["k"], ["z"], name="if", then_branch=body, else_branch=body),
]
graph = helper.make_graph(
    nodes, "seed", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, None, 4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], tensors,
    value_info=[helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 2])])
model = helper.make_model(graph, producer_name="seed", opset_imports=[helper.make_opsetid("", 17)])
save("model_all_kinds.onnx", model)

if shared:
    for name in ("yolox_nano.onnx", "yolov8n_320.onnx"):
        path = os.path.join(shared, "models", name)
        if not os.path.exists(path):
            continue
        model = onnx.load(path)
        for tensor in model.graph.initializer:
            values = numpy_helper.to_array(tensor).ravel()[:4]
            tensor.CopyFrom(numpy_helper.from_array(values, tensor.name))
        save("shrunk_" + name, model)
