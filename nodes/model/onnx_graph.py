"""Build an ONNX model of pose_v1 from a bundle's weights with ``onnx.helper`` (no torch).

Opset 17. Input ``csi`` float32 ``[batch, n_sc, T]``: raw amplitudes in the model's own layout
(the caller applies the bundle's ``Layout`` first); output ``keypoints`` float32
``[batch, 17, 2]``. Initializers keep the safetensors tensor names. The batch dimension is
symbolic; time is symbolic too unless the bundle normalises its input: then the graph starts
with ``Sub`` and ``Div`` by the initializers ``input.mean_layout`` / ``input.std_layout``
(``[1, n_sc, T]``, the bundle's ``input.mean`` / ``input.std`` mapped to the layout, see
``model_input``) and ``T`` is fixed to the bundle's window.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .bundle import ModelBundle
from .numpy_backend import CONV_LAYERS

__all__ = ["OPSET", "build_onnx"]

OPSET = 17


def build_onnx(bundle: ModelBundle) -> Any:
    """The checked ``onnx.ModelProto`` of ``bundle`` (``onnx.checker.check_model`` passes)."""
    meta = bundle.metadata
    inits = [numpy_helper.from_array(arr, name) for name, arr in sorted(bundle.weights.items())]
    inits.append(numpy_helper.from_array(np.array([-1, 17, 2], dtype=np.int64), "out_shape"))
    nodes = []
    prev = "csi"
    time: str | int = "time"
    if bundle.input_norm is not None:
        time = meta.window
        mean_l, std_l = bundle.input_norm.in_layout(meta.layout, meta.window)
        inits += [
            numpy_helper.from_array(mean_l[None], "input.mean_layout"),
            numpy_helper.from_array(std_l[None], "input.std_layout"),
        ]
        nodes += [
            helper.make_node("Sub", ["csi", "input.mean_layout"], ["centred"], name="centre"),
            helper.make_node("Div", ["centred", "input.std_layout"], ["scaled"], name="scale"),
        ]
        prev = "scaled"
    for i, (prefix, pad, dil) in enumerate(CONV_LAYERS, start=1):
        nodes.append(
            helper.make_node(
                "Conv",
                [prev, f"{prefix}.weight", f"{prefix}.bias"],
                [f"conv{i}"],
                name=f"conv{i}",
                kernel_shape=[3],
                pads=[pad, pad],
                dilations=[dil],
                strides=[1],
            )
        )
        nodes.append(helper.make_node("Relu", [f"conv{i}"], [f"relu{i}"], name=f"relu{i}"))
        prev = f"relu{i}"
    nodes += [
        # Opset 17 ReduceMean still takes ``axes`` as an attribute (an input from opset 18).
        helper.make_node("ReduceMean", [prev], ["pooled"], name="pool", axes=[2], keepdims=0),
        helper.make_node(
            "Gemm", ["pooled", "head.fc1.weight", "head.fc1.bias"], ["fc1"], name="fc1", transB=1
        ),
        helper.make_node("Relu", ["fc1"], ["fc1_relu"], name="fc1_relu"),
        helper.make_node(
            "Gemm", ["fc1_relu", "head.fc2.weight", "head.fc2.bias"], ["fc2"], name="fc2", transB=1
        ),
        helper.make_node("Sigmoid", ["fc2"], ["flat"], name="sigmoid"),
        helper.make_node("Reshape", ["flat", "out_shape"], ["keypoints"], name="to_keypoints"),
    ]
    graph = helper.make_graph(
        nodes,
        f"posecog_{meta.architecture}",
        [
            helper.make_tensor_value_info(
                "csi", TensorProto.FLOAT, ["batch", meta.n_subcarriers, time]
            )
        ],
        [helper.make_tensor_value_info("keypoints", TensorProto.FLOAT, ["batch", 17, 2])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="cog-pose-estimation",
    )
    model.ir_version = 8  # the highest IR version opset 17 runtimes are guaranteed to read
    helper.set_model_props(
        model,
        {
            "architecture": meta.architecture,
            "layout": meta.layout,
            "normalization": meta.normalization,
            "window": str(meta.window),
            "sha256": meta.sha256,
        },
    )
    onnx.checker.check_model(model, full_check=True)
    return model
