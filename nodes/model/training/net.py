"""pose_v1 in torch, with pose_v1's tensor names so the numpy and onnx backends load it.

Imports torch: import this module only when training.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from posecog.nodes.items import FloatArray

from ..metadata import expected_shapes
from ..numpy_backend import CONV_LAYERS

__all__ = ["PoseNetV1", "export_weights"]


class _Encoder(nn.Module):
    def __init__(self, n_subcarriers: int) -> None:
        super().__init__()
        widths = [n_subcarriers, 64, 128, 128]
        # Same (padding, dilation) table as the numpy backend, so the two cannot drift.
        for i, (_, pad, dil) in enumerate(CONV_LAYERS):
            conv = nn.Conv1d(widths[i], widths[i + 1], kernel_size=3, padding=pad, dilation=dil)
            self.add_module(f"c{i + 1}", conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.children():
            x = torch.relu(conv(x))
        return x.mean(dim=2)


class _Head(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(128, 256)
        self.fc2 = nn.Linear(256, 34)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(h))))


class PoseNetV1(nn.Module):
    """``x[B, n_sc, T]`` (the model input, see ``to_model_input``) -> keypoints ``[B, 17, 2]``.

    Conv1d(n_sc->64, k3, dil 1) ReLU, Conv1d(64->128, dil 2) ReLU, Conv1d(128->128, dil 4)
    ReLU, mean over time, Linear(128->256) ReLU, Linear(256->34), sigmoid.
    """

    def __init__(self, n_subcarriers: int = 56) -> None:
        super().__init__()
        self.enc = _Encoder(n_subcarriers)
        self.head = _Head()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.enc(x))
        return out.reshape(-1, 17, 2)


def export_weights(
    net: PoseNetV1, input_scale: float, n_subcarriers: int = 56
) -> dict[str, FloatArray]:
    """The network's weights as float32 numpy arrays by pose_v1 tensor name, for inputs in raw
    amplitude units: the network was trained on ``x / input_scale``, and since convolution is
    linear and its zero padding is 0 in both units, dividing ``enc.c1.weight`` by the scale
    gives exactly the same outputs on raw input (up to float rounding). A per-subcarrier
    mean cannot be folded that way (the padding would no longer be 0 after centring): such
    bundles keep ``input_scale`` 1 and declare the normalisation instead."""
    state = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in net.state_dict().items()}
    shapes = expected_shapes("pose_v1", n_subcarriers)
    if set(state) != set(shapes):
        raise AssertionError(f"tensor names drifted: {sorted(state)} vs {sorted(shapes)}")
    state["enc.c1.weight"] = (state["enc.c1.weight"] / np.float32(input_scale)).astype(np.float32)
    return {k: np.ascontiguousarray(state[k]) for k in shapes}
